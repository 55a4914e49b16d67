"""Condor engine under injected faults: an ambiguous submit, a rejected closing mleg, and an
account out of capital. Every fault goes through the sim and the real alpaca-py adapter."""

from __future__ import annotations

from decimal import Decimal

from stockbot.strategies.condor.engine import CAPITAL_RESTORED, OUT_OF_CAPITAL
from stockbot.strategies.condor.manage import closing_debits
from stockbot.strategies.condor.trades import condor_of
from stockbot.flags import remove_stop, write_stop


async def test_504_after_the_order_landed_yields_exactly_one_order(make_sim, store, build):
    sim = await make_sim(mleg_fill="mid")  # the first rung (the mid credit) fills
    rig = build(sim, store)
    await rig.fault(kind="http_error", method="POST", path="/v2/orders", status=504, after=True, times=1)
    out = await rig.engine.decide()

    assert out.status == "entered", out.reason
    assert len(rig.order_posts()) == 1  # never re-sent: looked up by client id instead
    assert len(rig.sim_account().orders) == 1
    cid = rig.order_posts()[0]["body"]["client_order_id"]
    assert rig.requests("GET", "/v2/orders:by_client_order_id")  # the lookup that resolved it
    assert [e.payload["client_order_id"] for e in store.events(kind="order_ambiguous")] == [cid]
    assert len(store.trades(status="open")) == 1 and store.get_order(cid).status == "filled"


async def test_504_before_the_order_landed_moves_to_a_new_client_id(make_sim, store, build):
    sim = await make_sim(mleg_fill="mid")
    rig = build(sim, store)
    await rig.fault(kind="http_error", method="POST", path="/v2/orders", status=504, times=1)
    out = await rig.engine.decide()

    assert out.status == "entered", out.reason
    assert [a.status for a in out.attempts] == ["not_received", "filled"]
    first, second = (p["body"]["client_order_id"] for p in rig.order_posts())
    assert first != second and store.get_order(first).status == "not_received"
    assert len(rig.sim_account().orders) == 1 and len(store.trades()) == 1


async def test_rejected_closing_mleg_closes_leg_by_leg_shorts_first(make_sim, store, build, settings_for):
    sim = await make_sim()
    rig = build(sim, store)
    assert (await rig.engine.decide()).status == "entered"
    trade = store.trades(status="open")[0]
    condor = condor_of(trade)
    debit = closing_debits(condor, await rig.broker.option_quotes(list(condor.symbols)))[0]
    loss_share = debit / trade.entry_price - 1
    rig = build(sim, store, settings_for(sim, condor={"stop_loss_mult": float(loss_share / 2)}))
    await rig.fault(kind="reject_orders", times=1, status=422, code=42210000,
                    message="mleg orders are not accepted for this account right now")
    [outcome] = await rig.engine.manage()

    assert outcome.action == "closed_leg_by_leg", outcome
    deletes = [r["path"].rsplit("/", 1)[1] for r in rig.requests("DELETE", prefix="/v2/positions/")]
    shorts = {condor.short_call.symbol, condor.short_put.symbol}
    assert len(deletes) == 4 and set(deletes[:2]) == shorts and set(deletes[2:]) == set(condor.symbols) - shorts
    assert await rig.broker.positions() == []
    closed = store.trades(status="closed")[0]
    assert closed.meta["close_method"] == "leg_by_leg" and closed.pnl is not None
    [failure] = [f for f in rig.captured if f.kind == "order_rejected"]
    assert failure.details["order_class"] == "mleg" and failure.details["code"] == 42210000
    assert (await rig.reconciler.run()).orphans == ()


async def test_broker_refusing_for_buying_power_is_a_state_not_a_crash(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await rig.fault(kind="reject_orders", times=1, status=403, code=40310000,
                    message="insufficient buying power (required: 713.00, available: 12.00)")
    out = await rig.engine.decide()
    assert out.status == "out_of_capital", out.reason
    assert rig.engine.out_of_capital["source"] == "broker"
    assert [k for k, _ in rig.alerts.sent] == ["out_of_capital"]
    assert [f.kind for f in rig.captured] == ["out_of_capital"]
    posts, decisions = len(rig.order_posts()), len(store.decisions())

    # Buying power has not changed: the next cycle stays paused without asking anyone.
    again = await rig.engine.decide()
    assert again.status == "out_of_capital"
    assert len(rig.order_posts()) == posts and len(store.decisions()) == decisions

    # A deposit: buying power recovers, the state clears and the cycle trades again.
    rig.sim_account().cash += Decimal("25000")
    back = await rig.engine.decide()
    assert back.status == "entered", back.reason
    assert store.events(kind=CAPITAL_RESTORED) and rig.engine.out_of_capital is None


async def test_tiny_account_goes_out_of_capital_without_sending_an_order(make_sim, store, build, settings_for):
    sim = await make_sim(equity="1000", multiplier=1)
    rig = build(sim, store, settings_for(sim, risk={"max_risk_per_trade": 1.0}))
    await rig.plant("SPY", 1, adjust_cash=True)  # most of the cash now sits in stock
    out = await rig.engine.decide()

    assert out.status == "out_of_capital", out.reason
    assert rig.order_posts() == []
    [event] = store.events(kind=OUT_OF_CAPITAL)
    assert event.payload["source"] == "precheck" and Decimal(event.payload["buying_power"]) < Decimal(
        event.payload["needed"])
    assert (await rig.engine.decide()).status == "out_of_capital"
    assert rig.order_posts() == []


async def test_no_entry_while_an_order_is_not_final(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    from stockbot.domain import OrderIntent, Side

    store.record_order_intent(OrderIntent(client_order_id="eng-x-test-0", qty=Decimal(1), symbol="SPY",
                                          side=Side.BUY, decision_id="x"))
    out = await rig.engine.decide()
    assert out.status == "blocked" and "eng-x-test-0" in out.reason
    assert rig.order_posts() == [] and store.decisions() == []


async def test_stop_flag_halts_entries_without_asking_the_agents(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    write_stop("eng", "operator test")
    out = await rig.engine.decide()
    assert out.status == "halted" and "operator test" in out.reason
    assert store.decisions() == [] and rig.order_posts() == []
    remove_stop("eng")
    assert (await rig.engine.decide()).status == "entered"


async def test_closed_market_skips_the_vote(make_sim, store, build):
    sim = await make_sim(always_open=False)
    rig = build(sim, store)
    await rig.admin("POST", "/_sim/clock/jump", {"to": "next_close", "plus_seconds": 60})
    out = await rig.engine.decide()
    assert out.status == "market_closed" and store.decisions() == [] and rig.order_posts() == []
