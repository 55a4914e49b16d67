"""The daemon listens to its account's trade stream: a fill pushed by the broker is booked once
(through the same rules the reconciler uses), and the stream is closed at stop."""

from __future__ import annotations

from daemonkit import KEY

from stockbot.options.condor import build_condor, clamp_params, condor_intent
from stockbot.strategies.condor.snapshot import take_snapshot


async def test_a_pushed_fill_is_booked_once_and_the_stream_closes_at_stop(make_sim, rig_for, waiter):
    sim = await make_sim()
    rig = rig_for(sim)
    await rig.daemon.start()
    hub = sim.state.exchange.trade_updates
    try:
        await waiter(lambda: hub.connections(KEY) == 1, what="the daemon's trade stream")
        d = rig.daemon.rt
        assert d is not None
        snap = await take_snapshot(d.broker, d.settings, d.clock.now())
        condor = build_condor(snap.chain, snap.spot, snap.clock.ts, clamp_params({"dte": 40}, d.settings.condor),
                              d.settings.condor)
        await rig.admin("POST", "/_sim/settings", {"fill_chance": 0})  # it rests although marketable
        intent = condor_intent(condor, 1, -condor.credit_natural, "dmn-tu-condor_open-0", decision_id="dmn-tu")
        order = await d.reconciler.executor.submit(intent)
        assert order.is_open
        await rig.admin("POST", "/_sim/trade_updates", {"duplicate": True})
        await rig.admin("POST", "/_sim/settings", {"fill_chance": 1})
        await rig.admin("POST", "/_sim/tick")
        await waiter(lambda: rig.events("trade_update_booked"), what="the pushed fill booked")
        assert d.store.get_order(intent.client_order_id).status == "filled"
        assert [t.structure_id for t in d.store.trades(status="open")] == ["dmn-tu"]
        report = await d.reconciler.run()
        assert report.booked == () and len(rig.events("trade_opened")) == 1
    finally:
        await rig.daemon.stop()
    await waiter(lambda: hub.connections(KEY) == 0, what="the trade stream closed at stop")
