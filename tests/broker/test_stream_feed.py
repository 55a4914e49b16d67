"""QuoteFeed: alpaca-py's StockDataStream in its own thread, quotes delivered to the daemon loop."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from pydantic import SecretStr

from stockbot.broker.stream import FreshnessTracker, QuoteFeed
from stockbot.config import AlpacaSettings
from stockbot.sim.app import SimServer

KEY, SECRET = "SIMKEY_DEMO", "SIMSECRET_DEMO"


def settings(url: str) -> AlpacaSettings:
    return AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=url,
                          stream_url=url.replace("http", "ws") + "/v2/iex")


async def wait_for(cond, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def sim():
    async with SimServer(seed=5, always_open=True, quote_rate=50) as server:
        yield server


async def test_quotes_reach_the_loop_and_freshness_is_tracked(sim):
    tracker = FreshnessTracker()
    events: list[str] = []
    feed = QuoteFeed(settings(sim.url), ["SPY", "QQQ"], asyncio.get_running_loop(), tracker.update,
                     lambda kind, data: events.append(kind))
    feed.start()
    try:
        await wait_for(lambda: tracker.fresh("SPY", 5) is not None and tracker.fresh("QQQ", 5) is not None)
        q = tracker.fresh("SPY", 5)
        assert isinstance(q.bid, Decimal) and q.ask >= q.bid and q.ts.tzinfo is not None
        assert set(tracker.last) <= {"SPY", "QQQ"}  # only what we subscribed
        assert "stream_connected" in events and feed.received >= 2
        assert tracker.fresh("IWM", 5) is None  # never subscribed: never fresh
    finally:
        await asyncio.to_thread(feed.stop)
    assert not feed.alive()


async def test_silent_stream_goes_stale(sim):
    tracker = FreshnessTracker()
    feed = QuoteFeed(settings(sim.url), ["SPY"], asyncio.get_running_loop(), tracker.update)
    feed.start()
    try:
        await wait_for(lambda: tracker.fresh("SPY", 5) is not None)
        sim.state.stream.set_silent(True)
        await asyncio.sleep(0.6)
        assert tracker.fresh("SPY", 0.5) is None and tracker.silent_for() >= 0.5
    finally:
        sim.state.stream.set_silent(False)
        await asyncio.to_thread(feed.stop)


async def test_second_connection_gets_406_and_drop_reconnects(sim):
    loop = asyncio.get_running_loop()
    first_events: list[str] = []
    second_events: list[tuple[str, dict]] = []
    tracker = FreshnessTracker()
    first = QuoteFeed(settings(sim.url), ["SPY"], loop, tracker.update, lambda k, d: first_events.append(k))
    second = QuoteFeed(settings(sim.url), ["SPY"], loop, lambda q: None, lambda k, d: second_events.append((k, d)))
    first.start()
    try:
        await wait_for(lambda: first.connects == 1)
        second.start()
        await wait_for(lambda: any(k == "stream_406" for k, _ in second_events))
        await asyncio.to_thread(second.stop)
        # a server-side drop: alpaca-py reconnects (with its backoff) and resubscribes
        sim.state.stream.disconnect_all()
        await wait_for(lambda: first.connects >= 2, timeout=20)
        n = first.received
        await wait_for(lambda: first.received > n)
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)
