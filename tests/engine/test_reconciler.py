"""The Reconciler against the local exchange: orphans and naked shorts closed shorts first through
close_position(), a restart between an order's POST and its store update, external positions and
orders adopted (never touched), and a start-up that refuses when the broker cannot be read."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simfixtures import pick_condor

from stockbot.domain import Leg, OrderIntent, Side
from stockbot.trading.reconciler import ReconcileError
from stockbot.strategies.condor.snapshot import take_snapshot
from stockbot.options.condor import build_condor, clamp_params, condor_intent
from stockbot.store import Store


def condor_legs(sim) -> dict[str, str]:
    return pick_condor(sim.state, min_days=20)


def record_condor_trade(store, legs: dict[str, str], structure_id: str = "condor-old-1") -> None:
    store.record_trade(structure_id=structure_id, strategy="condor", status="open", qty=Decimal(1),
                       entry_price=Decimal("1.50"),
                       legs=[{"symbol": legs["short_call"], "qty": "-1"}, {"symbol": legs["long_call"], "qty": "1"},
                             {"symbol": legs["short_put"], "qty": "-1"}, {"symbol": legs["long_put"], "qty": "1"}])


async def a_condor(rig):
    """A 40-DTE condor built from the sim's current chain, as the engine would build it."""
    snap = await take_snapshot(rig.broker, rig.settings, rig.engine.deps.now())
    return build_condor(snap.chain, snap.spot, snap.clock.ts, clamp_params({"dte": 40}, rig.settings.condor),
                        rig.settings.condor)


async def test_planted_naked_short_put_is_closed_in_one_cycle(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    put = condor_legs(sim)["short_put"]
    await rig.plant(put, -1)
    report = await rig.reconciler.run()

    assert [r["path"] for r in rig.requests("DELETE", prefix="/v2/positions")] == [f"/v2/positions/{put}"]
    assert await rig.broker.positions() == []
    assert report.orphans == (put,) and [(c.symbol, c.status) for c in report.closed] == [(put, "filled")]
    assert [k for k, _ in rig.alerts.sent] == ["orphan"]
    [failure] = rig.captured
    assert failure.kind == "orphan_position" and failure.details["position_side"] == "short"
    assert store.events(kind="orphan_found")[0].payload["name"] == put
    assert (await rig.reconciler.run()).clean


async def test_incomplete_condor_is_closed_shorts_before_longs(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    legs = condor_legs(sim)
    record_condor_trade(store, legs)
    for name, qty in (("short_call", -1), ("long_call", 1), ("short_put", -1)):  # the long put is missing
        await rig.plant(legs[name], qty)
    report = await rig.reconciler.run()

    deletes = [r["path"].rsplit("/", 1)[1] for r in rig.requests("DELETE", prefix="/v2/positions/")]
    assert set(deletes[:2]) == {legs["short_call"], legs["short_put"]} and deletes[2:] == [legs["long_call"]]
    assert report.orphans == ("condor-old-1",) and report.closed_structures == ("condor-old-1",)
    closed = store.trades(status="closed")[0]
    assert closed.meta["close_reason"] == "orphan" and closed.meta["close_method"] == "close_position"
    assert await rig.broker.positions() == []
    # the three close_position() orders are known to the store (they are ours, not external)
    assert sorted(o.symbol for o in store.orders(status="filled")) == sorted(deletes)


async def test_restart_between_post_and_store_update_books_exactly_one_condor(make_sim, tmp_path, build,
                                                                              settings_for):
    sim = await make_sim()
    path = tmp_path / "state.db"
    first = Store(path)
    rig = build(sim, first)
    condor = await a_condor(rig)
    # A marketable credit (the natural) and a process that dies right after the POST:
    intent = condor_intent(condor, 1, -condor.credit_natural, "eng-condor-crash-condor_open-0",
                           decision_id="condor-crash")
    first.record_order_intent(intent)
    await rig.broker.submit(intent)
    assert first.get_order(intent.client_order_id).status == "submitting"
    first.close()

    second = Store(path)  # the restarted daemon: same state file, fresh objects
    rig = build(sim, second, settings_for(sim, agent="scripted-hold"))
    assert (await rig.engine.decide()).status == "blocked"  # unknown order state blocks trading
    report = await rig.reconciler.run(startup=True)

    assert report.booked == (("condor-crash", "opened"),) and report.orphans == ()
    assert rig.requests("DELETE", prefix="/v2/positions") == [] and len(rig.order_posts()) == 1
    [trade] = second.trades(status="open")
    assert trade.structure_id == "condor-crash" and trade.entry_price == condor.credit_natural
    assert {p.symbol: p.qty for p in await rig.broker.positions()} == {
        leg.symbol: leg.qty for leg in trade.legs}
    assert (await rig.reconciler.run()).clean
    assert (await rig.engine.decide()).status == "hold"  # unblocked
    second.close()


async def test_restart_after_the_fill_was_acknowledged_but_before_the_trade_was_booked(make_sim, tmp_path, build,
                                                                                        settings_for):
    """Found by the chaos suite (kill -9 'after_ack'): the store says the entry order is filled,
    but the process died before record_open. Restart must book exactly that condor."""
    sim = await make_sim()
    path = tmp_path / "state.db"
    first = Store(path)
    rig = build(sim, first)
    condor = await a_condor(rig)
    intent = condor_intent(condor, 1, -condor.credit_natural, "eng-condor-ack-condor_open-0", decision_id="condor-ack")
    order = await rig.executor.submit(intent)  # intent stored, POSTed, the fill acknowledged in the store...
    assert order.status == "filled" and first.get_order(intent.client_order_id).status == "filled"
    assert first.trades() == []  # ...and the process died before the trade was written
    first.close()

    second = Store(path)
    rig = build(sim, second, settings_for(sim, agent="scripted-hold"))
    report = await rig.reconciler.run(startup=True)
    assert report.booked == (("condor-ack", "opened"),) and report.orphans == () and report.adopted == ()
    assert rig.requests("DELETE", prefix="/v2/positions") == [] and len(rig.order_posts()) == 1
    [trade] = second.trades(status="open")
    assert {p.symbol: p.qty for p in await rig.broker.positions()} == {
        leg.symbol: leg.qty for leg in trade.legs}
    again = await rig.reconciler.run()
    assert again.clean and len(second.trades()) == 1  # booking is idempotent
    second.close()


async def test_restart_after_a_closing_fill_was_acknowledged_books_its_pnl(make_sim, tmp_path, build, settings_for):
    """Found by the chaos suite: the closing mleg filled and the store says so, but the process died
    before record_close. The restart found no legs left and called the trade "closed_elsewhere"
    with no P&L; it must book the close from its own fill."""
    sim = await make_sim()
    path = tmp_path / "state.db"
    first = Store(path)
    rig = build(sim, first)
    condor = await a_condor(rig)
    opening = condor_intent(condor, 1, -condor.credit_natural, "eng-condor-cl-condor_open-0", decision_id="condor-cl")
    await rig.executor.submit(opening)
    await rig.reconciler.run()  # books the entry (as the engine would have)
    [trade] = first.trades(status="open")
    closing = condor_intent(condor, 1, None, "eng-condor-cl-condor_close-0", closing=True, decision_id="condor-cl")
    order = await rig.executor.submit(closing)  # the close filled and was acknowledged in the store...
    assert order.status == "filled" and first.get_order(closing.client_order_id).status == "filled"
    assert first.trades(status="open")  # ...and the process died before the trade was closed
    first.close()

    second = Store(path)
    rig = build(sim, second, settings_for(sim, agent="scripted-hold"))
    report = await rig.reconciler.run(startup=True)
    assert report.booked == (("condor-cl", "closed"),) and report.closed_structures == ()
    [closed] = second.trades(status="closed")
    assert closed.meta["close_reason"] == "recovered_fill"
    assert closed.exit_client_order_id == closing.client_order_id
    assert closed.pnl is not None and closed.exit_price > 0
    assert rig.requests("DELETE", prefix="/v2/positions") == [] and len(rig.order_posts()) == 2
    again = await rig.reconciler.run()
    assert again.clean and len(second.trades(status="closed")) == 1  # booking is idempotent
    second.close()


async def test_stale_working_entry_is_cancelled_not_left_to_fill(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    legs = condor_legs(sim)
    condor_leg = (Leg(legs["short_call"], Side.SELL), Leg(legs["long_call"], Side.BUY),
                  Leg(legs["short_put"], Side.SELL), Leg(legs["long_put"], Side.BUY))
    from stockbot.domain import AssetClass, OrderClass

    intent = OrderIntent(client_order_id="eng-condor-stale-condor_open-0", qty=Decimal(1), order_type="limit",
                         legs=condor_leg, limit_price=Decimal("-4.90"), order_class=OrderClass.MLEG,
                         asset_class=AssetClass.OPTION, purpose="condor_open", decision_id="condor-stale")
    order = await rig.executor.submit(intent)  # far from the market: it rests
    assert order.is_open and store.get_order(intent.client_order_id).status in ("new", "accepted")
    report = await rig.reconciler.run()

    assert report.resolved == ((intent.client_order_id, "canceled"),) and report.booked == ()
    assert store.get_order(intent.client_order_id).status == "canceled"
    assert await rig.broker.positions() == [] and store.trades() == []


async def test_external_positions_and_orders_are_adopted_once_and_left_alone(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await rig.plant("SPY", 10)
    manual = OrderIntent(client_order_id="manual-by-a-person", qty=Decimal(1), order_type="limit", symbol="QQQ",
                         side=Side.BUY, limit_price=Decimal("1.00"))
    await rig.broker.submit(manual)
    first = await rig.reconciler.run()
    second = await rig.reconciler.run()

    assert {(a.kind, a.symbol) for a in first.adopted} == {("position", "SPY"), ("order", "QQQ")}
    assert first.adopted == second.adopted
    assert len(store.events(kind="external_adopted")) == 2  # recorded once, not every cycle
    assert rig.requests("DELETE", prefix="/v2/") == []  # nothing closed, nothing cancelled
    assert {p.symbol for p in await rig.broker.positions()} == {"SPY"}
    assert [f.kind for f in rig.captured] == ["reconcile_mismatch"] * 2 and rig.alerts.sent == []


async def test_structure_closed_elsewhere_is_marked_closed(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    record_condor_trade(store, condor_legs(sim), "condor-gone")
    report = await rig.reconciler.run()

    assert report.closed_structures == ("condor-gone",) and report.closed == ()
    assert store.trades(status="closed")[0].meta["close_reason"] == "closed_elsewhere"
    assert [f.kind for f in rig.captured] == ["reconcile_mismatch"]


async def test_startup_refuses_when_the_broker_cannot_be_read(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await rig.fault(kind="http_error", method="GET", path="/v2/positions", status=500)

    with pytest.raises(ReconcileError, match="cannot read positions"):
        await rig.reconciler.run(startup=True)
    report = await rig.reconciler.run()  # a running daemon reports and alerts instead
    assert report.errors and not report.clean
    assert [k for k, _ in rig.alerts.sent] == ["reconcile_failed"]


async def test_startup_refuses_when_an_order_cannot_be_resolved(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    store.record_order_intent(OrderIntent(client_order_id="eng-d-open-0", qty=Decimal(1), symbol="SPY",
                                          side=Side.BUY, decision_id="d"))
    await rig.fault(kind="http_error", method="GET", path="/v2/orders:by_client_order_id", status=503)

    with pytest.raises(ReconcileError, match="eng-d-open-0"):
        await rig.reconciler.run(startup=True)
    assert store.get_order("eng-d-open-0").status == "unknown"
    report = await rig.reconciler.run()  # a running daemon keeps going, blocked and alerting
    assert report.unresolved == ("eng-d-open-0",) and [k for k, _ in rig.alerts.sent] == ["reconcile_failed"]
    assert (await rig.engine.decide()).status == "blocked"
