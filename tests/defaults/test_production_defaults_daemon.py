"""The real daemon with the shipped settings: start-up after the decision time (defect 7)."""

from __future__ import annotations

from datetime import datetime, timezone

from simfixtures import RecordingAlerter, wait_for

from stockbot.daemon import Daemon

from .conftest import shipped_settings

# Monday 2026-11-16 11:30 New York: 45 minutes after SCHEDULE_DECISION_CRON (10:45).
LATE = datetime(2026, 11, 16, 16, 30, tzinfo=timezone.utc)


async def test_production_defaults_daemon_started_late_still_decides_that_day(prod_sim):
    # A small account: the decision ends at sizing (no ladder to wait out); what matters is that it runs.
    sim = await prod_sim(start_at=LATE, equity="2000")
    daemon = Daemon(shipped_settings(sim.url), alerter=RecordingAlerter())
    await daemon.start()
    try:
        assert daemon.timings.decision_cron == "45 10 * * mon-fri" and daemon.timings.decision_every_s is None
        [catch_up] = await wait_for(lambda: daemon.store.events(kind="decision_catch_up"), 60, "the catch-up")
        assert catch_up.payload["market_date"] == "2026-11-16" and "10:45" in catch_up.payload["due"]
        [cycle] = await wait_for(lambda: daemon.store.events(kind="decision_cycle"), 60, "the day's decision")
        assert cycle.payload["market_date"] == "2026-11-16"
        assert cycle.payload["status"] in ("size_zero", "hold", "no_condor"), cycle.payload
    finally:
        await daemon.stop()
    # A second start the same day does not decide twice.
    again = Daemon(shipped_settings(sim.url), alerter=RecordingAlerter())
    await again.start()
    try:
        await wait_for(lambda: again.jobs.runs["catch_up"] >= 1, 60, "the catch-up check")
        assert len(again.store.events(kind="decision_cycle")) == 1
    finally:
        await again.stop()
