"""``trading.assignment.plan``: the pure decisions about assigned, exercised, expired and liquidated
structures, table by table (the sim scenarios are in test_assignment_scenarios.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from rowkit import trade_row

from stockbot.broker.activities import OptionActivity
from stockbot.domain import AssetClass, BrokerOrder, Position
from stockbot.trading.assignment import Booking, plan, stock_owed, without_handled
from stockbot.trading.reconcile import StructureView

SC, LC, SP, LP = "SPY261218C00700000", "SPY261218C00705000", "SPY261218P00650000", "SPY261218P00645000"
CONDOR = StructureView("c1", {SC: Decimal(-1), LC: Decimal(1), SP: Decimal(-1), LP: Decimal(1)})
D = Decimal


def pos(symbol: str, qty) -> Position:
    return Position(symbol, D(qty), D(1), AssetClass.OPTION if len(symbol) > 6 else AssetClass.EQUITY)


def act(aid: str, kind: str, symbol: str, qty, group: str = "g1", price=None) -> OptionActivity:
    return OptionActivity(aid, kind, symbol, D(qty), None if price is None else D(price), D(0), group, "")


ASSIGNED = [act("1::a", "OPASN", SC, 1), act("2::b", "OPTRD", "SPY", -100, price=700)]


def test_early_assignment_closes_stock_and_remaining_legs_shorts_first():
    p = plan([pos("SPY", -100), pos(LC, 1), pos(SP, -1), pos(LP, 1)], [], [CONDOR], ASSIGNED, [], {})
    assert [(c.symbol, c.qty, c.short) for c in p.close] == [
        ("SPY", D(100), True), (SP, D(1), True), (LC, D(1), False), (LP, D(1), False)]
    assert p.finish == (("c1", "assigned"),) and p.handled == frozenset({"c1"})
    assert p.explained == {"SPY": D(-100)}
    [b] = p.book
    assert (b.type, b.structure_id, b.stock_symbol, b.stock_qty, b.stock_price) == ("OPASN", "c1", "SPY", D(-100), D(700))


def test_booked_once_and_nothing_left_to_do_after_the_closes_filled():
    booked = [Booking("1::a", "OPASN", SC, D(1), "c1", "SPY", D(-100), D(700))]
    p = plan([], [], [], ASSIGNED, booked, {"SPY": D(100)})
    assert p.book == () and p.close == () and p.explained == {} and p.idle


def test_a_working_close_is_never_doubled():
    working = BrokerOrder("o1", "cid", "accepted", D(100), D(0), datetime.now(timezone.utc), symbol="SPY")
    p = plan([pos("SPY", -100), pos(LC, 1), pos(SP, -1), pos(LP, 1)], [working], [CONDOR], ASSIGNED, [], {})
    assert "SPY" not in [c.symbol for c in p.close] and p.explained == {"SPY": D(-100)}


def test_stock_the_account_holds_for_itself_is_not_touched():
    booked = [Booking("1::a", "OPASN", SC, D(1), "c1", "SPY", D(-100), D(700))]
    p = plan([pos("SPY", 50)], [], [], [], booked, {})  # long stock of our own: not the short we were given
    assert p.close == () and p.explained == {}
    assert stock_owed(booked, {"SPY": D(40)}) == {"SPY": D(-60)}


def test_activities_on_contracts_we_do_not_hold_are_booked_unclaimed_and_change_nothing():
    p = plan([pos("QQQ", -100)], [], [CONDOR], [act("1::a", "OPASN", "QQQ261218C00500000", 1),
                                             act("2::b", "OPTRD", "QQQ", -100)], [], {})
    assert [b.structure_id for b in p.book] == [None] and p.close == () and p.handled == frozenset()


def test_expiry_reason_precedence_and_liquidation():
    expired = [act("1::a", "OPEXP", SC, 1, "g1"), act("2::b", "OPEXP", LC, -1, "g2"),
               act("3::c", "OPASN", SP, 1, "g3"), act("4::d", "OPTRD", "SPY", 100, "g3"),
               act("5::e", "OPEXC", LP, -1, "g4"), act("6::f", "OPTRD", "SPY", -100, "g4")]
    p = plan([], [], [CONDOR], expired, [], {})
    assert p.finish == (("c1", "assigned"),) and p.close == () and p.explained == {}
    liq = BrokerOrder("x", "not-ours", "filled", D(1), D(1), datetime(2026, 12, 18, 20, 16, tzinfo=timezone.utc),
                      symbol=SP, side="buy")
    p = plan([pos(SC, -1), pos(LC, 1), pos(LP, 1)], [], [CONDOR], [], [], {}, [liq])
    assert [(i.structure_id, i.symbol) for i in p.liquidations] == [("c1", SP)]
    assert p.finish == (("c1", "broker_liquidation"),)
    assert [c.symbol for c in p.close] == [SC, LC, LP]
    early = BrokerOrder("y", "not-ours", "filled", D(1), D(1), datetime(2026, 12, 1, 16, tzinfo=timezone.utc),
                        symbol=SP, side="buy")
    assert plan([pos(SC, -1), pos(LC, 1), pos(LP, 1)], [], [CONDOR], [], [], {}, [early]).idle  # not expiry day


def test_without_handled_keeps_the_orphan_plan_off_our_business():
    p = plan([pos("SPY", -150), pos(LC, 1), pos(SP, -1), pos(LP, 1), pos("QQQ261218C00500000", -1)], [], [CONDOR],
             ASSIGNED, [], {})
    trades = [trade_row(structure_id="c1"), trade_row(structure_id="c2")]
    left, open_trades = without_handled(
        [pos("SPY", -150), pos(LC, 1), pos(SP, -1), pos(LP, 1), pos("QQQ261218C00500000", -1)], trades, p)
    assert [(x.symbol, x.qty) for x in left] == [("SPY", D(-50)), ("QQQ261218C00500000", D(-1))]
    assert [t.structure_id for t in open_trades] == ["c2"]


def test_a_stock_trade_arriving_a_run_after_its_assignment_is_owed_once():
    first = plan([pos(LC, 1), pos(SP, -1), pos(LP, 1)], [], [CONDOR], ASSIGNED[:1], [], {})
    [b] = first.book
    assert b.stock_symbol is None and first.explained == {}
    later = plan([pos("SPY", -100)], [], [], ASSIGNED, list(first.book), {})
    [t] = later.book
    assert (t.type, t.structure_id, t.stock_qty) == ("OPTRD", "c1", D(-100))
    assert later.explained == {"SPY": D(-100)} and [c.symbol for c in later.close] == ["SPY"]
    again = plan([pos("SPY", -100)], [], [], ASSIGNED, [*first.book, *later.book], {})
    assert again.book == () and again.explained == {"SPY": D(-100)}  # owed still, never counted twice


def test_the_stock_trade_booked_with_its_event_is_known_by_its_own_id():
    p = plan([pos("SPY", -100)], [], [CONDOR], ASSIGNED, [], {})
    [b] = p.book
    assert b.ids() == ("1::a", "2::b")
    assert plan([pos("SPY", -100)], [], [], ASSIGNED, list(p.book), {}).book == ()


def test_a_leg_liquidated_while_the_others_expired_is_still_booked_as_liquidation():
    liq = BrokerOrder("x", "not-ours", "filled", D(1), D(1), datetime(2026, 12, 18, 20, 15, tzinfo=timezone.utc),
                      symbol=SP, side="buy")
    settled = [act("1::a", "OPEXP", SC, 1, "g1"), act("2::b", "OPEXP", LC, -1, "g2"),
               act("3::c", "OPEXP", LP, -1, "g3")]
    p = plan([], [], [CONDOR], settled, [], {}, [liq])
    assert [(i.symbol, i.order_id) for i in p.liquidations] == [(SP, "x")]
    assert p.finish == (("c1", "broker_liquidation"),)
