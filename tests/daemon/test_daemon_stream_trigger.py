"""The quote stream earns its place: a decision prices the underlying from the freshest streamed
quote (REST when the stream is stale), and a streamed quote near an open condor's short strike
starts a management pass at once — with the shipped CONDOR_MANAGE_TRIGGER_PCT (1 %) and debounce
(60 s), instead of waiting SCHEDULE_MANAGE_INTERVAL_S."""

from __future__ import annotations

from decimal import Decimal

from daemonkit import ACCOUNT, KEY, SECRET, daemon_settings

from stockbot.chaos.reactionbench import plant_condor_near_spot

SPY = "SPY"


async def test_a_decision_prices_the_underlying_from_the_stream_and_from_rest_when_it_is_silent(
        make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    rig = rig_for(sim)
    d = rig.daemon
    await d.start()
    try:
        await waiter(lambda: d.stream.tracker.fresh(SPY, 15.0) is not None, what="a streamed SPY quote")
        assert d.trigger("decision")
        await waiter(lambda: rig.events("decision_cycle"), what="a decision")
        [decision] = d.store.decisions()
        assert decision.context["quote_source"] == "stream"
    finally:
        await d.stop()

    sim2 = await make_sim()
    rig2 = rig_for(sim2, daemon_settings(sim2.url, account="dmn2"))
    await rig2.admin("POST", "/_sim/stream", {"silent": True})
    d2 = rig2.daemon
    await d2.start()
    try:
        assert d2.trigger("decision")
        await waiter(lambda: rig2.events("decision_cycle"), what="a decision without a stream")
        [decision] = d2.store.decisions()
        assert decision.context["quote_source"] == "rest"
    finally:
        await d2.stop()


async def test_a_quote_near_a_short_strike_triggers_one_management_pass_with_the_shipped_values(
        make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    settings = daemon_settings(sim.url)
    assert settings.condor.manage_trigger_pct == 1.0 and settings.condor.manage_trigger_debounce_s == 60.0
    # An open condor the daemon knows (its trade) and the broker holds (its four legs).
    planted = await plant_condor_near_spot(sim.url, KEY, SECRET, ACCOUNT, credit=Decimal("1.50"),
                                           structure_id="planted-1")
    spot, short_put = planted["spot"], planted["short_put"]
    assert abs(spot - short_put) / spot < Decimal("0.01")  # the setup: spot within 1 % of the short put

    rig = rig_for(sim, settings)  # QUIET timings: the manage interval is an hour
    d = rig.daemon
    await d.start()
    try:
        [triggered] = await waiter(lambda: rig.events("manage_triggered"), what="a stream-triggered manage")
        assert triggered.payload["symbol"] == SPY
        [managed] = await waiter(lambda: rig.events("manage_cycle"), what="the triggered management pass")
        assert managed.payload["outcomes"][0]["structure_id"] == "planted-1"
        quotes_before = d.stream.tracker.count
        await waiter(lambda: d.stream.tracker.count >= quotes_before + 10, what="ten more quotes near the strike")
        assert len(rig.events("manage_triggered")) == 1  # debounced: one pass per 60 s, not one per quote
        assert d.jobs.runs["manage"] == 1 and rig.events("job_crash") == []
    finally:
        await d.stop()
