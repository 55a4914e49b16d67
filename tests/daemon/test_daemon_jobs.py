"""Scheduled jobs on a running daemon: a decision places one mleg condor, a crashing job is
captured and the loop keeps going, the STOP flag halts new orders, the calendar gates decisions,
and the stream's 406 / silence are detected."""

from __future__ import annotations

from datetime import datetime, timezone

from daemonkit import ACCOUNT, QUIET, daemon_settings

from stockbot.daemon.jobs import Timings
from stockbot.flags import remove_stop, write_stop


async def test_decision_job_places_one_mleg_condor_then_manage_holds_it(make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    rig = rig_for(sim)
    d = rig.daemon
    await d.start()
    try:
        assert d.trigger("decision")
        [cycle] = await waiter(lambda: rig.events("decision_cycle"), what="a decision cycle")
        assert cycle.payload["status"] == "entered", cycle.payload["reason"]
        assert [v["action"] for v in cycle.payload["votes"]] == ["ENTER"] * 3
        posts = rig.order_posts()
        assert len(posts) == 1 and posts[0]["body"]["order_class"] == "mleg" and len(posts[0]["body"]["legs"]) == 4
        [trade] = d.store.trades(status="open")

        assert d.trigger("manage")
        [managed] = await waiter(lambda: rig.events("manage_cycle"), what="a manage cycle")
        assert managed.payload["outcomes"][0]["structure_id"] == trade.structure_id
        assert managed.payload["outcomes"][0]["action"] == "hold"
        assert d.trigger("reconcile") and d.trigger("eod")
        await waiter(lambda: rig.events("eod_report"), what="the end-of-day report")
        assert rig.events("job_crash") == []
        assert d.store.equity_curve(), "equity snapshots recorded"
    finally:
        await d.stop()


async def test_a_crashing_job_is_captured_alerted_and_the_loop_keeps_running(make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    rig = rig_for(sim)
    d = rig.daemon
    await d.start()
    try:
        # The end-of-day job reads the account; the broker now fails that read every time.
        rule = await rig.fault(kind="http_error", method="GET", path="/v2/account", status=500)
        assert d.trigger("eod")
        [crash] = await waiter(lambda: rig.events("job_crash"), what="a job crash")
        assert crash.payload["job"] == "eod" and "500" in crash.payload["error"]
        captured = await waiter(lambda: [e for e in rig.events("lesson_captured")
                                         if e.payload["kind"] == "job_exception"], what="the crash captured as a lesson")
        assert captured[0].payload["failure_event_id"] == crash.seq and captured[0].payload["lesson_id"]
        await waiter(lambda: "job_crash" in rig.alerts.kinds(), what="the crash alerted")

        await rig.admin("DELETE", f"/_sim/faults/{rule['id']}")
        pings = d.jobs.runs["health"]
        assert d.trigger("eod")
        await waiter(lambda: rig.events("eod_report"), what="the next end-of-day run")
        await waiter(lambda: d.jobs.runs["health"] > pings + 1, what="health still running")
        assert d.last_health.ok and d.scheduler_running() and len(rig.events("job_crash")) == 1
    finally:
        await d.stop()


async def test_stop_flag_halts_new_orders_at_the_next_attempt(make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    rig = rig_for(sim)
    d = rig.daemon
    await d.start()
    try:
        write_stop(ACCOUNT, "test halt")
        assert d.trigger("decision")
        [cycle] = await waiter(lambda: rig.events("decision_cycle"), what="a decision cycle")
        assert cycle.payload["status"] == "halted" and "test halt" in cycle.payload["reason"]
        assert rig.order_posts() == []
        await waiter(lambda: d.last_health is not None and "STOP flag" in d.last_health.status, what="halt in STATUS")

        remove_stop(ACCOUNT)
        assert d.trigger("decision")
        await waiter(lambda: len(rig.events("decision_cycle")) == 2, what="the next decision")
        assert rig.events("decision_cycle")[-1].payload["status"] == "entered"
        assert len(rig.order_posts()) == 1
    finally:
        await d.stop()


async def test_no_decision_on_a_holiday_by_the_broker_calendar(make_sim, rig_for, waiter):
    thanksgiving = datetime(2026, 11, 26, 15, 30, tzinfo=timezone.utc)
    sim = await make_sim(start_at=thanksgiving)
    rig = rig_for(sim)
    d = rig.daemon
    await d.start()
    try:
        assert d.trigger("decision")
        [skip] = await waiter(lambda: rig.events("decision_skipped"), what="a skipped decision")
        assert "not a trading day" in skip.payload["reason"]
        assert rig.events("decision_cycle") == [] and rig.order_posts() == []
        assert sim.state.requests.query(method="GET", path="/v2/calendar")
    finally:
        await d.stop()


async def test_stream_406_and_silence_are_recorded_captured_and_alerted(make_sim, rig_for, waiter, notify_socket):
    sim = await make_sim()
    timings = Timings(**{**QUIET.__dict__, "stream_silence_s": 1.0})
    rig = rig_for(sim, timings=timings, notify=notify_socket)
    d = rig.daemon
    await d.start()
    try:
        await waiter(lambda: d.stream.tracker.fresh("SPY", 5), what="a first quote")
        await waiter(lambda: d.last_health is not None and d.last_health.ok, what="a healthy check")

        sim.state.stream.set_silent(True)
        [stale] = await waiter(lambda: rig.events("stream_stale"), what="the silent stream detected")
        assert "SPY" in stale.payload["symbols"]
        await waiter(lambda: d.last_health.degraded, what="health reporting the stale stream")
        assert "quotes stale" in d.last_health.degraded[0] and d.last_health.ok
        # Production-defaults defect 7: a stale stream is a degraded state, not a dead daemon.
        # The watchdog keeps pinging (systemd must not kill and restart-loop it), the status says
        # so, and new entries are blocked (fail closed).
        runs, seen = d.jobs.runs["health"], len(notify_socket.lines())
        await waiter(lambda: d.jobs.runs["health"] >= runs + 2, what="two more health checks")
        assert "WATCHDOG=1" in notify_socket.lines()[seen:]
        assert any("DEGRADED: quotes stale" in line and "entries blocked" in line
                   for line in notify_socket.lines()[seen:] if line.startswith("STATUS="))
        out = await d.strategy.decide()
        assert out.status == "blocked" and "quote stream degraded" in out.reason
        assert rig.order_posts() == []
        await waiter(lambda: "stream_stale" in rig.alerts.kinds(), what="the stale stream alerted")
        await waiter(lambda: [e for e in rig.events("lesson_captured") if e.payload["kind"] == "stale_quotes"],
                     what="stale quotes captured")
        sim.state.stream.set_silent(False)
        await waiter(lambda: rig.events("stream_recovered"), what="the stream recovered")
        await waiter(lambda: not d.last_health.degraded, what="health back to normal")
        assert d.jobs.entry_block() is None

        # a second connection with the same key is refused with 406 (the key's one stream slot)
        second = rig_for(sim, daemon_settings(sim.url, account="dmn2"), timings=timings).daemon
        await second.start()
        try:
            await waiter(lambda: second.store.events(kind="stream_406"), what="the 406 recorded")
            await waiter(lambda: [e for e in second.store.events(kind="lesson_captured")
                                  if e.payload["kind"] == "stream_406"], what="the 406 captured")
        finally:
            await second.stop()
    finally:
        await d.stop()


async def test_trigger_refuses_unknown_jobs_and_after_stop(make_sim, rig_for):
    sim = await make_sim()
    d = rig_for(sim).daemon
    await d.start()
    try:
        assert d.trigger("nope") is False and d.trigger("") is False
    finally:
        await d.stop()
    assert d.trigger("decision") is False


async def test_keys_refused_mid_run_are_a_state_not_a_crash(make_sim, rig_for, waiter, notify_socket):
    """Production-defaults defect 5: after `stockbot refund` the running daemon still holds the old
    keys; once they are revoked every call answers 401. That is a reported, alerted state that
    blocks entries; the process keeps running (watchdog pings) until it is restarted."""
    sim = await make_sim()
    rig = rig_for(sim, notify=notify_socket)
    d = rig.daemon
    await d.start()
    try:
        await waiter(lambda: d.last_health is not None and d.last_health.ok, what="a healthy check")
        await rig.fault(kind="http_error", status=401, path="/v2/.*")
        await waiter(lambda: rig.events("keys_rejected"), what="the refused keys recorded")
        await waiter(lambda: d.last_health.degraded and "refuses the keys" in d.last_health.degraded[-1],
                     what="health reporting the refused keys")
        assert d.last_health.ok  # loop and scheduler alive: no kill, no restart loop
        assert "keys_rejected" in rig.alerts.kinds() and "stockbot refund" in dict(rig.alerts.sent)["keys_rejected"]
        runs = d.jobs.runs["health"]
        await waiter(lambda: d.jobs.runs["health"] >= runs + 2, what="two more health checks")
        assert len(rig.events("keys_rejected")) == 1 and rig.alerts.kinds().count("keys_rejected") == 1
        assert d.jobs.entry_block() is not None
        await rig.admin("DELETE", "/_sim/faults")
        await waiter(lambda: rig.events("keys_accepted"), what="the keys accepted again")
    finally:
        await d.stop()
