"""The "green but not trading" alarm on the running daemon: a confirmed lesson guard blocks every
entry; the decision job records the denial, and the alarm names the guard in an alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from daemonkit import ACCOUNT, daemon_settings

from stockbot.config import AlertSettings
from stockbot.lessons.files import LessonStore
from stockbot.lessons.guards import parse_guard
from stockbot.lessons.model import Status


async def test_blocked_sessions_alert_names_the_lesson_guard(make_sim, rig_for, seeds, waiter):
    store = LessonStore(ACCOUNT)
    x = store.create(store.new_draft(title="Do not trade SPY condors", trigger="SPY gapped", date=date(2026, 1, 5),
                                     status=Status.CONFIRMED))
    store.save(replace(x, guard=parse_guard({"kind": "block_symbol", "symbol": "SPY"}, x.id)))
    sim = await make_sim()
    settings = daemon_settings(sim.url)
    rig = rig_for(sim, settings.model_copy(update={"alerts": AlertSettings(blocked_sessions=1)}))
    d = rig.daemon
    await d.start()
    try:
        assert d.trigger("decision")
        [cycle] = await waiter(lambda: rig.events("decision_cycle"), what="a decision cycle")
        assert cycle.payload["status"] == "denied" and cycle.payload["session"]
        [alarm] = await waiter(lambda: rig.events("drought_alert"), what="the drought alarm")
        assert alarm.payload["rule"] == f"lesson:{x.id}" and alarm.payload["sessions"] == 1
        await waiter(lambda: "green_but_not_trading" in rig.alerts.kinds(), what="the alert sent")
        assert rig.order_posts() == []
    finally:
        await d.stop()
