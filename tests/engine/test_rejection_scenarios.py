"""Alpaca's refusals, one scenario each, through the real engine / reconciler path on the sim.

Every refusal comes from the sim with Alpaca's code and message (a ``reject_as`` fault: the same
refusal the sim's own rules produce, see tests/sim/test_orders_replace_refusals.py). Each must end
in a clear state, a captured lesson, no crash, and exactly one order POST for it (never retried)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simfixtures import pick_condor

from stockbot.broker.errors import (InsufficientFundsError, OptionsNotPermittedError, PatternDayTraderError,
                                    QtyUnavailableError, UncoveredOptionError, UnsupportedOrderError, translate)
from stockbot.trading.rejections import with_rejections


@pytest.fixture
async def rig(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    rig.engine.deps.entry_block = with_rejections(None, store)  # as the daemon wires it
    return rig


def kinds(rig):
    return [getattr(f, "kind", None) for f in rig.captured]


@pytest.mark.parametrize("reason, lesson", [("pattern_day_trader", "pdt_lockout"),
                                            ("options_tif", "config_error"),
                                            ("options_level", "config_error")])
async def test_an_entry_refusal_that_would_repeat_blocks_entries_after_one_post(rig, reason, lesson):
    await rig.fault(kind="reject_as", reason=reason, times=1)
    first = await rig.engine.decide()
    assert first.status == "rejected", first
    assert len(rig.order_posts()) == 1  # the ladder stopped at the refusal: no next rung
    assert lesson in kinds(rig)
    [row] = rig.store.orders(status="rejected")
    assert row.raw["code"] == (40310100 if reason == "pattern_day_trader" else
                                  42210000 if reason == "options_tif" else 40310000)
    second = await rig.engine.decide()  # the next decision does not send the same refused order
    assert second.status == "blocked" and ("pattern day" in second.reason or "operator" in second.reason)
    assert len(rig.order_posts()) == 1 and rig.store.trades() == []


async def test_buying_power_refusal_is_the_out_of_capital_state(rig):
    await rig.fault(kind="reject_as", reason="buying_power", times=1)
    first = await rig.engine.decide()
    assert first.status == "out_of_capital", first
    assert "out_of_capital" in kinds(rig) and len(rig.order_posts()) == 1
    second = await rig.engine.decide()
    assert second.status == "out_of_capital" and len(rig.order_posts()) == 1


@pytest.mark.parametrize("reason", ["uncovered", "insufficient_qty", "held_for_orders"])
async def test_a_refused_close_keeps_the_protection_and_the_next_run_finishes(rig, reason):
    """The orphaned put side of a condor: the reconciler closes the short first. When that close is refused,
    the long (its protection) is kept; nothing is retried in the same run; the next run closes both."""
    legs = pick_condor(rig.sim.state, min_days=20)
    rig.store.record_trade(structure_id="condor-half", strategy="condor", status="open", qty=Decimal(1),
                           entry_price=Decimal("1.50"),
                           legs=[{"symbol": legs[n], "qty": q} for n, q in (("short_call", "-1"), ("long_call", "1"),
                                                                           ("short_put", "-1"), ("long_put", "1"))])
    await rig.plant(legs["short_put"], -1)  # the call side is gone: the put side is an orphan
    await rig.plant(legs["long_put"], 1)
    await rig.fault(kind="reject_as", reason=reason, times=1)
    first = await rig.reconciler.run()
    statuses = {c.symbol: c.status for c in first.closed}
    assert statuses == {legs["short_put"]: "error", legs["long_put"]: "skipped"}
    assert len(rig.requests("DELETE", prefix="/v2/positions/")) == 1  # one refused close, no retry
    positions = {p.symbol: p.qty for p in await rig.broker.positions()}
    assert positions == {legs["short_put"]: Decimal(-1), legs["long_put"]: Decimal(1)}  # never a naked short
    assert "orphan_position" in kinds(rig)
    second = await rig.reconciler.run()
    assert {c.symbol: c.status for c in second.closed} == {legs["short_put"]: "filled", legs["long_put"]: "filled"}
    assert await rig.broker.positions() == []


async def test_selling_the_long_leg_first_is_refused_by_the_rule_itself(rig):
    """Not a fault: the sim's uncovered rule refuses it, and the broker adapter names it."""
    legs = pick_condor(rig.sim.state, min_days=20)
    await rig.plant(legs["short_put"], -1)
    await rig.plant(legs["long_put"], 1)
    from stockbot.broker.errors import BrokerError

    with pytest.raises(BrokerError) as err:
        await rig.broker.close_position(legs["long_put"])
    assert isinstance(err.value, UncoveredOptionError) and err.value.code == 40310000


def test_translation_names_each_refusal():
    from alpaca.common.exceptions import APIError

    def api(status, code, message):
        import json

        class Resp:
            status_code = status

        return APIError(json.dumps({"code": code, "message": message}), http_error=type("E", (), {"response": Resp})())

    table = [
        (403, 40310000, "insufficient buying power", InsufficientFundsError),
        (403, 40310100, "trade denied due to pattern day trading protection", PatternDayTraderError),
        (403, 40310000, "insufficient qty available for order (requested: 1, available: 0)", QtyUnavailableError),
        (403, 40310000, "account not eligible to trade uncovered option contracts", UncoveredOptionError),
        (403, 40310000, "insufficient underlying qty available for covered call (required: 200, available: 0)",
         UncoveredOptionError),
        (403, 40310000, "account not eligible to trade multi-leg option orders (options trading level 2, needs 3)",
         OptionsNotPermittedError),
        (422, 42210000, "order_time_in_force provided not supported for options trading", UnsupportedOrderError),
    ]
    for status, code, message, cls in table:
        err = translate(api(status, code, message))
        assert type(err) is cls and err.code == code and err.status == status, (message, err)
