"""The daemon's reconciliation on the local exchange when options are exercised, assigned, expire or
are liquidated by the broker: stock it never asked for is closed, the condor's remaining legs are
closed shorts first, the trade is booked with the real reason, a lesson is captured, and nothing
is mistaken for an orphan or an external position."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from stockbot.broker import activities as broker_activities
from stockbot.options.occ import parse_occ

FRIDAY = date(2026, 11, 20)
AFTER_CLOSE = "2026-11-20T21:00:01Z"


def condor(sim, expiration: date, call_off: float, put_off: float, width: int = 5) -> dict[str, str]:
    """Legs of a condor of ``expiration``: short call near spot+call_off, short put near spot+put_off."""
    market = sim.state.market
    spot = market.price("SPY")
    chain = [k for k in market.option_contracts("SPY") if k.expiration == expiration]

    def near(right: str, strike) -> str:
        return min((k for k in chain if k.right.value == right), key=lambda k: abs(k.strike - strike)).symbol

    sc, sp = near("call", spot + Decimal(str(call_off))), near("put", spot + Decimal(str(put_off)))
    return {"short_call": sc, "long_call": near("call", parse_occ(sc).strike + width),
            "short_put": sp, "long_put": near("put", parse_occ(sp).strike - width)}


async def hold(rig, legs: dict[str, str], sid: str = "condor-x") -> None:
    """A condor the store opened and the broker holds."""
    rig.store.record_trade(structure_id=sid, strategy="condor", status="open", qty=Decimal(1),
                           entry_price=Decimal("1.50"),
                           legs=[{"symbol": legs["short_call"], "qty": "-1"}, {"symbol": legs["long_call"], "qty": "1"},
                                 {"symbol": legs["short_put"], "qty": "-1"}, {"symbol": legs["long_put"], "qty": "1"}])
    for name, qty in (("short_call", -1), ("long_call", 1), ("short_put", -1), ("long_put", 1)):
        await rig.plant(legs[name], qty, avg_entry_price="1.00")


async def quiet(rig) -> None:
    await rig.admin("POST", "/_sim/assignment", {"early_probability": 0})


def no_orphans_no_adoption(rig) -> None:
    assert rig.store.events(kind="orphan_found") == []
    assert rig.store.events(kind="external_adopted") == []
    assert "orphan" not in rig.alerts.kinds()


async def test_early_assigned_short_call_stock_closed_legs_closed_lesson_captured(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, date(2026, 12, 18), 15, -15)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/assign", {"key_id": "SIMKEY_ENGINE", "symbol": legs["short_call"]})
    assert {p.symbol: p.qty for p in await rig.broker.positions()}["SPY"] == Decimal(-100)

    await rig.reconciler.run()
    assert await rig.broker.positions() == []  # no stock, no leg left
    deletes = [r["path"].rsplit("/", 1)[1] for r in rig.requests("DELETE", prefix="/v2/positions/")]
    shorts = {"SPY", legs["short_put"]}
    assert set(deletes[:2]) == shorts and set(deletes[2:]) == {legs["long_call"], legs["long_put"]}
    [trade] = store.trades(status="closed")
    assert trade.meta["close_reason"] == "assigned" and trade.meta["close_method"] == "assignment"
    [booked] = store.events(kind="option_activity")
    assert booked.payload["type"] == "OPASN" and booked.payload["stock_qty"] == "-100"
    assert [f.kind for f in rig.captured] == ["option_assigned"]
    assert "assignment" in rig.alerts.kinds()
    no_orphans_no_adoption(rig)
    assert (await rig.reconciler.run()).clean  # booked once; a second run has nothing to do


async def test_condor_expiring_otm_is_booked_expired_not_closed_elsewhere(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    legs = condor(sim, FRIDAY, 40, -40)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/clock/jump", {"to": AFTER_CLOSE})
    report = await rig.reconciler.run()
    assert await rig.broker.positions() == []
    [trade] = store.trades(status="closed")
    assert trade.meta["close_reason"] == "expired"
    assert Decimal(trade.pnl) == Decimal("150")  # the whole 1.50 credit kept
    assert {e.payload["type"] for e in store.events(kind="option_activity")} == {"OPEXP"}
    assert {f.kind for f in rig.captured} == {"carried_to_expiry"}
    assert report.closed_structures == () and report.orphans == ()
    no_orphans_no_adoption(rig)


async def test_short_put_assigned_at_expiry_stock_is_sold(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, FRIDAY, 40, 3, width=40)  # the short put in the money, its wing far out of it
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/clock/jump", {"to": AFTER_CLOSE})
    assert {p.symbol: p.qty for p in await rig.broker.positions()} == {"SPY": Decimal(100)}
    await rig.reconciler.run()
    assert await rig.broker.positions() == []
    sold = [o for o in store.orders(status="filled") if o.symbol == "SPY"]
    assert len(sold) == 1 and Decimal(sold[0].filled_qty) == 100
    assert store.trades(status="closed")[0].meta["close_reason"] == "assigned"
    no_orphans_no_adoption(rig)
    assert (await rig.reconciler.run()).clean


async def test_long_put_exercised_with_its_short_nets_out(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, FRIDAY, 40, 20)  # the whole put spread in the money
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/clock/jump", {"to": AFTER_CLOSE})
    await rig.reconciler.run()
    assert await rig.broker.positions() == []
    kinds = {e.payload["type"] for e in store.events(kind="option_activity")}
    assert kinds == {"OPASN", "OPEXC", "OPEXP"}
    assert rig.requests("DELETE", prefix="/v2/positions/") == []  # nothing left to close
    assert store.trades(status="closed")[0].meta["close_reason"] == "assigned"
    no_orphans_no_adoption(rig)


async def test_expiry_day_liquidation_is_booked_not_an_orphan(make_sim, store, build):
    sim = await make_sim(equity="3000")
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, FRIDAY, 40, 10, width=40)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/clock/jump", {"to": "2026-11-20T20:16:00Z"})  # 15:16 New York
    held = {p.symbol for p in await rig.broker.positions()}
    assert legs["short_put"] not in held  # the broker closed what the account cannot cover
    await rig.reconciler.run()
    assert await rig.broker.positions() == []
    [liq] = store.events(kind="broker_liquidation")
    assert liq.payload["symbol"] == legs["short_put"]
    assert store.trades(status="closed")[0].meta["close_reason"] == "broker_liquidation"
    assert "broker_liquidation" in [f.kind for f in rig.captured]
    no_orphans_no_adoption(rig)


async def test_manual_exercise_through_the_adapter_is_booked(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, date(2026, 12, 18), -10, -60)  # the long call in the money
    await hold(rig, legs)
    await broker_activities.exercise(rig.broker, legs["long_call"])
    [exc] = [a for a in await broker_activities.option_activities(rig.broker) if a.type == "OPEXC"]
    assert exc.symbol == legs["long_call"]
    await rig.reconciler.run()
    assert await rig.broker.positions() == []
    assert store.trades(status="closed")[0].meta["close_reason"] == "exercised"
    no_orphans_no_adoption(rig)


async def test_assignment_writes_a_real_lesson_once(make_sim, store, build):
    from stockbot.strategies.condor.recovery import CondorBooker
    from stockbot.trading.ladder import LadderTiming
    from stockbot.trading.reconciler import Reconciler
    from stockbot.lessons.capture import LessonCapture
    from stockbot.lessons.files import LessonStore

    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    capture = LessonCapture("eng", store=store)
    reconciler = Reconciler("eng", rig.broker, store, rig.executor, booker=CondorBooker(store, rig.broker),
                            capture=capture.capture,
                            timing=LadderTiming(poll_interval_s=0.02, fill_timeout_s=0.15, cancel_timeout_s=2.0))
    legs = condor(sim, date(2026, 12, 18), 15, -15)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/assign", {"key_id": "SIMKEY_ENGINE", "symbol": legs["short_call"]})
    await reconciler.run()
    await reconciler.run()
    loaded = LessonStore("eng").load()
    assert loaded.errors == ()  # the drafted lesson passes the lint
    lessons = [lesson for lesson in loaded.lessons if "assigned" in lesson.title.lower()]
    assert len(lessons) == 1 and legs["short_call"] in lessons[0].title
    assert "stock" in lessons[0].prevention.lower()
    assert len(store.events(kind="lesson_captured")) == 1
    assert await rig.broker.positions() == []


async def test_stock_delivered_after_the_close_is_sold_at_the_open_with_one_order(make_sim, store, build):
    sim = await make_sim(always_open=False)
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, FRIDAY, 40, 3, width=40)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/clock/jump", {"to": AFTER_CLOSE})  # the market is closed now
    await rig.reconciler.run()
    await rig.reconciler.run()
    assert {p.symbol: p.qty for p in await rig.broker.positions()} == {"SPY": Decimal(100)}
    assert [r["path"] for r in rig.requests("DELETE", prefix="/v2/positions/")] == ["/v2/positions/SPY"]
    [resting] = await rig.broker.orders(status="open")
    assert resting.symbol == "SPY" and resting.side == "sell"
    assert rig.store.events(kind="external_adopted") == []  # owed a close, not someone else's stock
    await rig.admin("POST", "/_sim/clock/jump", {"to": "2026-11-23T14:31:00Z"})  # Monday, 09:31 New York
    await rig.reconciler.run()
    assert await rig.broker.positions() == []
    assert len(rig.requests("DELETE", prefix="/v2/positions/")) == 1
    assert store.trades(status="closed")[0].meta["close_reason"] == "assigned"
    no_orphans_no_adoption(rig)
    assert (await rig.reconciler.run()).clean


async def test_a_failed_stock_close_is_planned_again_next_run_never_doubled(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, date(2026, 12, 18), 15, -15)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/assign", {"key_id": "SIMKEY_ENGINE", "symbol": legs["short_put"]})
    await rig.fault(kind="http_error", status=500, method="DELETE", path="/v2/positions/SPY", times=1)
    await rig.reconciler.run()
    held = {p.symbol: p.qty for p in await rig.broker.positions()}
    assert held.get("SPY") == Decimal(100)  # the stock close failed (the legs were closed)
    assert rig.store.events(kind="external_adopted") == []
    await rig.reconciler.run()  # a new run re-derives what is owed from the booked activity
    assert await rig.broker.positions() == []
    spy_closes = [o for o in store.orders(status="filled") if o.symbol == "SPY"]
    assert len(spy_closes) == 1 and Decimal(spy_closes[0].filled_qty) == 100
    assert len(store.events(kind="option_activity")) == 1
    assert store.trades(status="closed")[0].meta["close_reason"] == "assigned"
    no_orphans_no_adoption(rig)


async def test_a_leg_close_that_fails_keeps_the_trade_open_and_ours_until_the_next_run(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, date(2026, 12, 18), 15, -15)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/assign", {"key_id": "SIMKEY_ENGINE", "symbol": legs["short_call"]})
    await rig.fault(kind="http_error", status=500, method="DELETE", path=f"/v2/positions/{legs['long_put']}", times=1)
    await rig.reconciler.run()
    assert {p.symbol for p in await rig.broker.positions()} == {legs["long_put"]}
    assert [t.structure_id for t in store.trades(status="open")] == ["condor-x"]
    await rig.reconciler.run()
    assert await rig.broker.positions() == []
    assert store.trades(status="closed")[0].meta["close_reason"] == "assigned"
    assert [f.kind for f in rig.captured] == ["option_assigned"]  # one lesson: the failed close was retried quietly
    no_orphans_no_adoption(rig)


async def test_activities_unreadable_for_a_run_the_stock_is_still_closed_on_the_next(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store)
    await quiet(rig)
    legs = condor(sim, date(2026, 12, 18), 15, -15)
    await hold(rig, legs)
    await rig.admin("POST", "/_sim/assign", {"key_id": "SIMKEY_ENGINE", "symbol": legs["short_call"]})
    await rig.fault(kind="http_error", status=500, method="GET", path="/v2/account/activities", times=4)
    await rig.reconciler.run()  # every read retry fails: the old orphan path closes the legs
    assert {p.symbol for p in await rig.broker.positions()} == {"SPY"}
    assert "broker_error" in [f.kind for f in rig.captured]
    await rig.reconciler.run()
    assert await rig.broker.positions() == []  # the stock the assignment delivered is closed after all
    [booked] = store.events(kind="option_activity")
    assert booked.payload["structure_id"] == "condor-x"
