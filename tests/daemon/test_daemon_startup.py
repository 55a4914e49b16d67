"""Start-up: READY=1 only after a successful reconciliation; a failed one refuses to start."""

from __future__ import annotations

from daemonkit import ACCOUNT, KEY, QUIET
from simfixtures import pick_condor

from stockbot.daemon import EXIT_CONFIG, EXIT_REFUSED, StartupRefused
from stockbot.daemon.jobs import Timings
from stockbot.store import Store


async def test_ready_is_sent_only_after_startup_reconciliation_closed_the_orphan(make_sim, rig_for, notify_socket,
                                                                                seeds, waiter):
    sim = await make_sim()
    put = pick_condor(sim.state)["short_put"]
    sim.state.exchange.plant_position(sim.state.accounts.get(KEY), put, -1, sim.state.exchange.pricer().mark(put, 0))
    rig = rig_for(sim, notify=notify_socket)
    seen_at_ready: dict = {}

    real_ready = rig.daemon.sd.ready

    def observing_ready(status=None):
        # What the broker and the store hold at the instant READY leaves the process.
        seen_at_ready["positions"] = dict(sim.state.accounts.get(KEY).positions)
        seen_at_ready["reconciled"] = rig.daemon.store.events(kind="reconciled")
        return real_ready(status)

    rig.daemon.sd.ready = observing_ready
    await rig.daemon.start()
    try:
        lines = await waiter(lambda: "READY=1" in notify_socket.lines() and notify_socket.lines(), what="READY=1")
        before_ready = lines[:lines.index("READY=1")]
        assert any(line.startswith("STATUS=starting: reconciling") for line in before_ready)
        # the naked short put was found and closed before READY, not after
        assert put not in seen_at_ready["positions"]
        [rec] = seen_at_ready["reconciled"]
        assert rec.payload["startup"] is True and rec.payload["closed"][0][0] == put
        assert "orphan" in rig.alerts.kinds()
        assert rig.events("lesson_captured"), "the orphan became a lesson occurrence"
        # once running, the health job pings the watchdog with a status line
        await waiter(lambda: "WATCHDOG=1" in notify_socket.lines(), what="a watchdog ping")
        assert any(line.startswith("STATUS=trading;") for line in notify_socket.lines())
    finally:
        await rig.daemon.stop()
    await waiter(lambda: "STOPPING=1" in notify_socket.lines(), what="STOPPING=1")


async def test_startup_refuses_when_positions_cannot_be_read(make_sim, rig_for, notify_socket, waiter):
    sim = await make_sim()
    rig = rig_for(sim, notify=notify_socket)
    await rig.fault(kind="http_error", method="GET", path="/v2/positions", status=500)
    try:
        await rig.daemon.start()
    except StartupRefused as exc:
        refused = exc
    else:  # pragma: no cover - the assertion below reports it
        await rig.daemon.stop()
        raise AssertionError("the daemon started on a broker whose positions it cannot read")
    assert refused.exit_code == EXIT_REFUSED
    assert "reconciliation failed" in refused.reason and "positions" in refused.reason
    await waiter(lambda: any(line.startswith("STATUS=refused to start:") for line in notify_socket.lines()),
                 what="the refusal in STATUS")
    assert "READY=1" not in notify_socket.lines()
    assert rig.alerts.kinds() == ["startup_refused"]
    assert not rig.daemon.started and rig.daemon.scheduler is None and rig.daemon.feed is None
    with Store.for_account(ACCOUNT, readonly=True) as store:
        [event] = store.events(kind="startup_refused")
    assert "positions" in event.payload["reason"] and event.payload["exit_code"] == EXIT_REFUSED
    assert rig.order_posts() == []


async def test_a_bad_cron_is_a_config_error_refused_before_the_broker_is_touched(make_sim, rig_for):
    sim = await make_sim()
    rig = rig_for(sim, timings=Timings(**{**QUIET.__dict__, "decision_cron": "every day at ten"}))
    try:
        await rig.daemon.start()
    except StartupRefused as exc:
        refused = exc
    else:  # pragma: no cover
        await rig.daemon.stop()
        raise AssertionError("started with an unparsable cron")
    assert refused.exit_code == EXIT_CONFIG and "SCHEDULE_DECISION_CRON" in refused.reason
    assert sim.state.requests.query(key_id=KEY) == []
