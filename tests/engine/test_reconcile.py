"""Reconciliation decisions: table tests over broker/store snapshots."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D

import pytest

from rowkit import trade_row

from stockbot.domain import AssetClass, BrokerOrder, Position
from stockbot.trading.reconcile import (
    AdoptExternal,
    ClosePosition,
    MarkStructureClosed,
    PendingOrder,
    ResolveOrder,
    StructureView,
    plan,
    structures_from_trades,
)

SC, LC, SP, LP = "SPY261218C00720000", "SPY261218C00725000", "SPY261218P00600000", "SPY261218P00595000"
CONDOR = StructureView("c1", {SC: D(-1), LC: D(1), SP: D(-1), LP: D(1)})


def pos(sym: str, qty: int) -> Position:
    cls = AssetClass.OPTION if len(sym) > 10 else AssetClass.EQUITY
    return Position(sym, D(qty), D("1.00"), cls)


def order(cid: str, sym: str = "AAPL") -> BrokerOrder:
    return BrokerOrder("id-" + cid, cid, "new", D(1), D(0), datetime(2026, 1, 2, tzinfo=timezone.utc), symbol=sym)


@pytest.mark.parametrize("positions, expect_close, expect_orphans", [
    # whole condor present: nothing to do
    ([pos(SC, -1), pos(LC, 1), pos(SP, -1), pos(LP, 1)], [], []),
    # long put missing: naked short put -> close every remaining leg, shorts first
    ([pos(SC, -1), pos(LC, 1), pos(SP, -1)], [(SC, True), (SP, True), (LC, False)], ["c1"]),
    # quantity mismatch on one leg is incomplete too
    ([pos(SC, -1), pos(LC, 1), pos(SP, -2), pos(LP, 1)], [(SC, True), (SP, True), (LC, False), (LP, False)], ["c1"]),
])
def test_structure_completeness(positions, expect_close, expect_orphans):
    p = plan(positions, [], [CONDOR], [], set())
    assert [(c.symbol, c.short) for c in p.close] == expect_close
    assert list(p.orphans) == expect_orphans
    assert all(c.structure_id == "c1" for c in p.close)


def test_structure_with_no_legs_left_is_marked_closed():
    p = plan([], [], [CONDOR], [], set())
    assert p.closed_structures == (MarkStructureClosed("c1", "no legs left at the broker"),)
    assert not p.close


def test_planted_naked_short_put_is_closed_but_stock_is_adopted():
    p = plan([pos(SP, -1), pos("AAPL", 10)], [], [], [], set())
    assert p.close == (ClosePosition(SP, D(1), "naked short option with no protective leg", None, short=True),)
    assert p.adopt == (AdoptExternal("AAPL", "position", "external stock position qty 10"),)


@pytest.mark.parametrize("positions, closes", [
    ([pos(SP, -1), pos(LP, 1)], 0),  # a put spread someone opened by hand: covered -> adopted
    ([pos(SP, -2), pos(LP, 1)], 1),  # only half covered -> still naked
    ([pos(SP, -1), pos(LC, 1)], 1),  # a call does not cover a put
    ([pos(LP, 1)], 0),  # a lone long is not dangerous
])
def test_unclaimed_option_cover_rules(positions, closes):
    p = plan(positions, [], [], [], set())
    assert len(p.close) == closes
    assert len(p.adopt) == len(positions) - closes


def test_pending_orders_are_resolved_first_and_their_symbols_left_alone():
    pending = [PendingOrder("acct-d1-condor_open-1", (SC, LC, SP, LP))]
    p = plan([pos(SP, -1)], [], [CONDOR], pending, {"acct-d1-condor_open-1"})
    assert p.resolve == (ResolveOrder("acct-d1-condor_open-1"),)
    assert not p.close and not p.adopt


def test_unknown_open_orders_are_adopted_not_cancelled():
    p = plan([], [order("ours"), order("manual-1")], [], [], {"ours"})
    assert p.adopt == (AdoptExternal("AAPL", "order", "external open order manual-1 (new)"),)
    assert p.clean is False
    assert plan([], [order("ours")], [], [], {"ours"}).clean


def test_structures_from_trades_sums_signed_legs():
    views = structures_from_trades([trade_row(structure_id="c1", legs=((SC, "-1"), (LC, 1)))])
    assert views == [StructureView("c1", {SC: D(-1), LC: D(1)})]


SC2 = "SPY261218C00730000"
CONDOR2 = StructureView("c2", {SC: D(-1), SC2: D(1), SP: D(-1), LP: D(1)})  # shares SC, SP, LP with c1


def test_structures_sharing_a_contract_are_compared_on_the_summed_quantity():
    held = [pos(SC, -2), pos(LC, 1), pos(SC2, 1), pos(SP, -2), pos(LP, 2)]
    p = plan(held, [], [CONDOR, CONDOR2], [], set())
    assert p.clean and not p.orphans


def test_shared_contract_short_of_the_sum_closes_each_symbol_once():
    held = [pos(SC, -2), pos(LC, 1), pos(SC2, 1), pos(SP, -2), pos(LP, 1)]  # one long put missing
    p = plan(held, [], [CONDOR, CONDOR2], [], set())
    assert set(p.orphans) == {"c1", "c2"}
    symbols = [c.symbol for c in p.close]
    assert len(symbols) == len(set(symbols)) == 5
    assert [c.short for c in p.close] == [True, True, False, False, False]
    assert next(c for c in p.close if c.symbol == SP).qty == D(2)
