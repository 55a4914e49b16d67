"""The indicative option stream (``/v1beta1/indicative``) with alpaca-py's real OptionDataStream:
quotes equal to the sim's snapshot quotes, tape trades 15 minutes late, msgpack only."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import msgpack
import requests
import websockets
from alpaca.data.enums import OptionsFeed
from alpaca.data.historical import OptionHistoricalDataClient
from alpaca.data.live import OptionDataStream
from alpaca.data.models import Quote, Trade
from alpaca.data.requests import OptionTradesRequest
from simfixtures import DEMO_KEY, DEMO_SECRET

from stockbot.sim.app import run_in_thread
from stockbot.sim.market_options import intrinsic

UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)  # a Wednesday, 10:30 New York
PUT = "SPY261218P00820000"  # in the money
CALL = "SPY261218C00830000"


def wait_until(cond, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def ws_url(sim, path: str = "/v1beta1/indicative") -> str:
    return sim.url.replace("http://", "ws://") + path


@contextmanager
def option_stream(sim, quotes=(), trades=()):
    """A real OptionDataStream (indicative feed) in its own thread; yields the received list."""
    stream = OptionDataStream(DEMO_KEY, DEMO_SECRET, feed=OptionsFeed.INDICATIVE, url_override=ws_url(sim))
    got: list = []
    lock = threading.Lock()

    async def on_data(item):
        with lock:
            got.append(item)

    if quotes:
        stream.subscribe_quotes(on_data, *quotes)
    if trades:
        stream.subscribe_trades(on_data, *trades)
    thread = threading.Thread(target=stream.run, name="alpaca-option-stream", daemon=True)
    thread.start()
    try:
        yield got
    finally:
        wait_until(lambda: stream._loop is not None, 5)
        if stream._loop is not None:
            stream.stop()
        thread.join(15)
        assert not thread.is_alive()


def test_quotes_are_the_snapshot_quotes_and_never_cross_intrinsic():
    with run_in_thread(seed=0, start_at=T0) as sim, option_stream(sim, quotes=(PUT, CALL)) as got:
        assert wait_until(lambda: len({q.symbol for q in got}) == 2 and len(got) >= 6)
        book, market = sim.state.market.options, sim.state.market
        for q in list(got)[:6]:
            assert isinstance(q, Quote) and q.bid_price < q.ask_price
            t = q.timestamp.timestamp()
            snap = sim.call(book.snapshot_of, book.contract(q.symbol), q.timestamp)
            # the wire's timestamp is the quote's instant to the microsecond: the same quote
            assert (q.bid_price, q.ask_price) == (snap.bid, snap.ask)
            c = book.contract(q.symbol)
            value = intrinsic(c.right, sim.call(market.mid_at, "SPY", t), float(c.strike))
            assert q.ask_price >= value - 1e-9 and q.bid_price >= value - 0.01 - 1e-9
        assert sim.state.option_stream.counters["option_quotes"] >= 6
        assert sim.state.stream.counters["quotes"] == 0  # a hub of its own


def test_trades_come_from_the_tape_fifteen_minutes_late():
    with run_in_thread(seed=0, start_at=T0) as sim, option_stream(sim, trades=(PUT,)) as got:
        assert wait_until(lambda: sim.state.option_stream.connections() == 1
                          and sim.state.option_stream.stats()["subscriptions"][0].get("trades"))
        before = sim.state.clock.now()
        requests.post(sim.url + "/_sim/clock/jump", json={"seconds": 3600}, timeout=30).raise_for_status()
        assert wait_until(lambda: len(got) >= 5)
        after_jump = before + timedelta(seconds=3600)
        trades = [t for t in list(got) if isinstance(t, Trade)]
        assert trades and all(t.symbol == PUT for t in trades)
        client = OptionHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)
        tape = client.get_option_trades(OptionTradesRequest(symbol_or_symbols=PUT, start=before - timedelta(minutes=15),
                                                            end=after_jump)).data[PUT]
        by_time = {t.timestamp: t for t in tape}
        for t in trades:
            assert t.timestamp <= after_jump - timedelta(minutes=15) + timedelta(seconds=5)  # delayed 15 min
            assert (by_time[t.timestamp].price, by_time[t.timestamp].size) == (t.price, t.size)


def test_msgpack_only_and_no_wildcard():
    async def run(url):
        async with websockets.connect(url) as ws:  # no msgpack content type: still msgpack frames
            hello = await ws.recv()
            assert isinstance(hello, bytes) and msgpack.unpackb(hello) == [{"T": "success", "msg": "connected"}]
            await ws.send(msgpack.packb({"action": "auth", "key": DEMO_KEY, "secret": DEMO_SECRET}))
            assert msgpack.unpackb(await ws.recv())[0]["msg"] == "authenticated"
            await ws.send(msgpack.packb({"action": "subscribe", "quotes": ["*"]}))
            assert msgpack.unpackb(await ws.recv())[0] == {"T": "error", "code": 400, "msg": "invalid syntax"}
            await ws.send(msgpack.packb({"action": "subscribe", "quotes": [CALL], "trades": [PUT]}))
            ack = msgpack.unpackb(await ws.recv())[0]
            assert ack == {"T": "subscription", "quotes": [CALL], "trades": [PUT]}

    with run_in_thread(seed=0, start_at=T0) as sim:
        asyncio.run(run(ws_url(sim)))
        asyncio.run(run(ws_url(sim, "/v1beta1/opra")))
