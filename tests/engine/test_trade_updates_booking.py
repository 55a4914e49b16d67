"""Trade updates from the sim's ``/stream`` (alpaca-py's TradingStream in ``TradeUpdateFeed``) booked
through the daemon's fill-booking path: once, never twice, and never lost when the stream misses it."""

from __future__ import annotations

import asyncio

import pytest
from simfixtures import wait_for

from stockbot.broker.trade_stream import TradeUpdateFeed, trading_stream_url
from stockbot.strategies.condor.snapshot import take_snapshot
from stockbot.trading.trade_updates import TradeUpdateBooker
from stockbot.options.condor import build_condor, clamp_params, condor_intent

KEY = "SIMKEY_ENGINE"


async def a_condor(rig):
    snap = await take_snapshot(rig.broker, rig.settings, rig.engine.deps.now())
    return build_condor(snap.chain, snap.spot, snap.clock.ts, clamp_params({"dte": 40}, rig.settings.condor),
                        rig.settings.condor)


@pytest.fixture
async def streamed(make_sim, store, build):
    """(rig, booker, feed): the rig's store and executor fed by the account's trade stream."""
    sim = await make_sim()
    rig = build(sim, store)
    booker = TradeUpdateBooker(store, rig.executor, rig.engine.lock, rig.reconciler.booker)
    feed = TradeUpdateFeed(rig.settings.alpaca, asyncio.get_running_loop(), booker.on_update)
    feed.start()
    await wait_for(lambda: sim.state.exchange.trade_updates.connections(KEY) == 1, what="trade stream listening")
    yield rig, booker, feed
    await asyncio.to_thread(feed.stop)
    await booker.stop()


async def resting_entry(rig, name: str):
    """A marketable condor entry the sim holds back (fill chance 0) until ``release``."""
    await rig.admin("POST", "/_sim/settings", {"fill_chance": 0})
    condor = await a_condor(rig)
    intent = condor_intent(condor, 1, -condor.credit_natural, f"eng-{name}-condor_open-0", decision_id=name)
    order = await rig.executor.submit(intent)
    assert order.is_open
    return intent


async def release(rig):
    await rig.admin("POST", "/_sim/settings", {"fill_chance": 1})
    await rig.admin("POST", "/_sim/tick")


def opened_events(store):
    return store.events(kind="trade_opened")


async def test_a_fill_pushed_by_the_stream_is_booked_once_even_when_the_event_repeats(streamed):
    rig, booker, _feed = streamed
    intent = await resting_entry(rig, "tu-dup")
    await rig.admin("POST", "/_sim/trade_updates", {"duplicate": True})  # Alpaca may repeat events
    await release(rig)
    await wait_for(lambda: booker.counts["booked"] == 1 and booker.counts["duplicate"] >= 1, what="booked")
    await booker.drain()
    assert rig.store.get_order(intent.client_order_id).status == "filled"
    [trade] = rig.store.trades(status="open")
    assert trade.structure_id == "tu-dup" and len(opened_events(rig.store)) == 1
    assert [e.payload["effect"] for e in rig.store.events(kind="trade_update_booked")] == ["opened"]
    report = await rig.reconciler.run()  # the poll-side path finds it booked
    assert report.booked == () and len(rig.store.trades()) == 1 and len(opened_events(rig.store)) == 1


async def test_a_fill_the_silent_stream_never_sent_is_booked_by_the_reconciler_once(streamed):
    rig, booker, _feed = streamed
    intent = await resting_entry(rig, "tu-silent")
    await rig.admin("POST", "/_sim/trade_updates", {"silent": True})
    await release(rig)
    await booker.drain()
    assert booker.counts["booked"] == 0 and rig.store.trades() == []
    report = await rig.reconciler.run()
    assert report.booked == (("tu-silent", "opened"),)
    await rig.admin("POST", "/_sim/trade_updates", {"silent": False})
    follow = await resting_entry(rig, "tu-after")  # the stream speaks again: later events change nothing old
    await release(rig)
    await wait_for(lambda: booker.counts["booked"] == 1, what="the next fill booked")
    await booker.drain()
    assert {t.structure_id for t in rig.store.trades()} == {"tu-silent", "tu-after"}
    assert len(opened_events(rig.store)) == 2
    assert rig.store.get_order(intent.client_order_id).status == "filled"
    assert rig.store.get_order(follow.client_order_id).status == "filled"


async def test_a_fill_while_the_stream_is_down_is_booked_by_the_reconciler_once(streamed):
    rig, booker, feed = streamed
    await resting_entry(rig, "tu-down")
    await asyncio.to_thread(feed.stop)  # the stream is gone (killed thread, network down)
    await wait_for(lambda: rig.sim.state.exchange.trade_updates.connections(KEY) == 0, what="stream closed")
    await booker.drain()
    heard = booker.counts["received"]  # the "new" event, at most
    await release(rig)
    report = await rig.reconciler.run()
    assert report.booked == (("tu-down", "opened"),)
    assert booker.counts["received"] == heard and booker.counts["booked"] == 0
    again = await rig.reconciler.run()
    assert again.clean and len(opened_events(rig.store)) == 1


async def test_a_fill_the_entry_ladder_owns_is_booked_by_the_ladder_not_again_by_the_stream(streamed):
    rig, booker, _feed = streamed
    outcome = await rig.engine.decide()
    assert outcome.status == "entered", outcome
    await wait_for(lambda: booker.counts["recorded"] >= 1, what="the stream saw the entry")
    await booker.drain()
    assert booker.counts["booked"] == 0  # the booking waited for the engine's lock and found it booked
    assert len(rig.store.trades()) == 1 and len(opened_events(rig.store)) == 1
    assert (await rig.reconciler.run()).booked == ()


def test_stream_url_follows_the_account_url(settings_for=None):
    from pydantic import SecretStr

    from stockbot.config import AlpacaSettings

    local = AlpacaSettings(api_key=SecretStr("k"), secret_key=SecretStr("s"), base_url="http://127.0.0.1:8765")
    paper = AlpacaSettings(api_key=SecretStr("k"), secret_key=SecretStr("s"), base_url="https://paper-api.alpaca.markets")
    assert trading_stream_url(local) == "ws://127.0.0.1:8765/stream"
    assert trading_stream_url(paper) == "wss://paper-api.alpaca.markets/stream"
    assert trading_stream_url(AlpacaSettings(api_key=SecretStr("k"), secret_key=SecretStr("s"))) is None
