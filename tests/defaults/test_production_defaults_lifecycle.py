"""The new kind of test: the real daemon, the shipped ``.env.example`` unchanged (only keys and the
local URL), on the local exchange with its defaults (a moving clock, fills only at the touch, the
NYSE calendar), through whole sessions.

Until one clock is injected everywhere (the market-replay issue), the test moves the exchange's
clock and calls the daemon's jobs in order at the exchange times where their cron/interval would
fire, and waits out the real rung timings (CONDOR_FILL_TIMEOUT_S=20 s per rung). The daemon needs
no demo-speed setting: it enters a condor at 10:45, manages it on later sessions and closes it
through one closing mleg order."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from simfixtures import RecordingAlerter

from stockbot.daemon import Daemon
from stockbot.daemon.jobs import JOB_NAMES

from .conftest import KEY, shipped_settings

pytestmark = pytest.mark.slow

MONDAY_OPEN = datetime(2026, 11, 16, 14, 0, tzinfo=timezone.utc)  # 09:00 New York, before the open


def at(day: int, hh: int, mm: int, month: int = 11) -> str:
    """An exchange time in New York (EST, UTC-5 in these weeks) as RFC 3339 UTC."""
    return datetime(2026, month, day, hh + 5, mm, tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")


async def test_production_defaults_condor_lifecycle(prod_sim):
    sim = await prod_sim(start_at=MONDAY_OPEN)
    settings = shipped_settings(sim.url)
    daemon = Daemon(settings, alerter=RecordingAlerter())
    await daemon.start()
    daemon.scheduler.pause()  # this test is the timer: jobs run when their cron/interval would fire
    jobs = {name: daemon.jobs.guarded(name, getattr(daemon.jobs, name)) for name in JOB_NAMES
            if hasattr(daemon.jobs, name)}

    async def at_time(when: str, *names: str) -> None:
        async with httpx.AsyncClient(base_url=sim.url) as client:
            (await client.post("/_sim/clock/jump", json={"to": when})).raise_for_status()
        daemon.hours.forget()
        for name in names:
            await jobs[name]()

    try:
        # Monday: 09:30 open, reconcile/manage every 300 s, the decision at SCHEDULE_DECISION_CRON 10:45.
        await at_time(at(16, 9, 35), "health", "reconcile", "manage")
        await at_time(at(16, 10, 45), "decision", "health")
        [cycle] = daemon.store.events(kind="decision_cycle")
        assert cycle.payload["status"] == "entered", cycle.payload
        entry_posts = sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)
        assert entry_posts and all(p["body"]["order_class"] == "mleg" and len(p["body"]["legs"]) == 4
                                   for p in entry_posts)
        [trade] = daemon.store.trades(status="open")
        rungs = daemon.store.events(kind="ladder_rung")
        assert rungs[-1].payload["status"] == "filled" and len(rungs) >= 2  # not at mid: a later rung
        await at_time(at(16, 16, 15), "eod")

        # Later sessions: the management pass holds while no exit rule fires.
        await at_time(at(17, 10, 0), "reconcile", "manage", "health")
        [held] = daemon.store.events(kind="manage_cycle")
        assert held.payload["outcomes"][0]["action"] in ("hold", "closed"), held.payload

        # Until the time exit (CONDOR_EXIT_DTE=7) at the latest: one closing mleg order.
        expiration = trade.legs[0].symbol[3:9]  # YYMMDD of the OCC symbol
        exit_day = int(expiration[4:6]) - settings.condor.exit_dte
        for day in (18, 19, 20, 23, 24, 25):
            if daemon.store.trades(status="open"):
                await at_time(at(day, 11, 0), "reconcile", "manage")
        if daemon.store.trades(status="open"):
            await at_time(at(exit_day, 11, 0, month=int(expiration[2:4])), "reconcile", "manage")
        [closed] = daemon.store.trades(status="closed")
        assert closed.structure_id == trade.structure_id and closed.pnl is not None
        posts = sim.state.requests.query(method="POST", path="/v2/orders", key_id=KEY)
        closes = [p["body"] for p in posts[len(entry_posts):]]
        assert closes and all(b["order_class"] == "mleg" and len(b["legs"]) == 4 for b in closes)
        assert all(leg["position_intent"].endswith("_to_close") for b in closes for leg in b["legs"])
        assert not sim.state.requests.query(method="DELETE", path_prefix="/v2/positions", key_id=KEY)
        assert sim.state.accounts.get(KEY).positions == {}
        assert closed.exit_price > 0
    finally:
        await daemon.stop()
