"""An index account under the real daemon: model trained after READY, a slate placed inside its universe."""

from __future__ import annotations

import pytest
from daemonkit import daemon_settings

from stockbot.config import EquitySettings
from stockbot.strategies.equity.universes import load_universe


@pytest.mark.slow
async def test_index_account_trains_after_ready_then_trades_only_its_universe(make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    settings = daemon_settings(sim.url, account="ndx").model_copy(update={
        "strategy": "index", "equity": EquitySettings(universe="nasdaq100", profile="conservative", top_k=3)})
    rig = rig_for(sim, settings)
    d = rig.daemon
    await d.start()
    try:
        assert d.stream.symbols == ["QQQ"]  # the ETF is the freshness probe
        assert {j.id for j in d.scheduler.get_jobs()} >= {"advise", "grade", "train"}
        [checked] = await waiter(lambda: rig.events("train_checked"), timeout=240, what="the first training")
        assert checked.payload["trained"] is True
        assert d.trigger("decision")
        [cycle] = await waiter(lambda: rig.events("decision_cycle"), timeout=120, what="a decision cycle")
        assert cycle.payload["status"] == "rebalanced", cycle.payload
        posts = rig.order_posts()
        assert posts, "a slate was placed"
        allowed = load_universe("nasdaq100").symbols
        assert all(p["body"]["symbol"] in allowed for p in posts)
        assert d.trigger("manage")  # equity slates have no condor management: the job is a no-op
    finally:
        await d.stop()
