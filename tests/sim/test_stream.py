"""The msgpack quote stream: alpaca-py's StockDataStream end to end, plus raw-protocol checks.

StockDataStream.run() calls asyncio.run, so it always runs in its own thread here and is stopped
with stream.stop(); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import contextmanager
from datetime import datetime

import msgpack
import pytest
import websockets
from alpaca.data.live import StockDataStream
from alpaca.data.models import Bar, Quote, Trade
from simfixtures import DEMO_KEY, DEMO_SECRET

from stockbot.sim.accounts import AccountSpec, demo_spec

MSGPACK = {"Content-Type": "application/msgpack"}


def wait_until(cond, timeout: float = 10.0, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def ws_url(sim) -> str:
    return sim.url.replace("http://", "ws://") + "/v2/iex"


@contextmanager
def alpaca_stream(sim, symbols=("SPY",), key=DEMO_KEY, secret=DEMO_SECRET, trades=(), bars=()):
    """A real StockDataStream in its own thread; yields (stream, received list)."""
    stream = StockDataStream(key, secret, url_override=ws_url(sim))
    received: list = []
    lock = threading.Lock()

    async def on_data(item):
        with lock:
            received.append(item)

    if symbols:
        stream.subscribe_quotes(on_data, *symbols)
    if trades:
        stream.subscribe_trades(on_data, *trades)
    if bars:
        stream.subscribe_bars(on_data, *bars)
    thread = threading.Thread(target=stream.run, name="alpaca-stream", daemon=True)
    thread.start()
    try:
        yield stream, received
    finally:
        wait_until(lambda: stream._loop is not None, 5)
        if stream._loop is not None:
            stream.stop()
        thread.join(15)
        assert not thread.is_alive()


@pytest.fixture
def live(make_sim_thread):
    return make_sim_thread(seed=0, always_open=True)


def test_handshake_and_typed_quotes(live):
    with alpaca_stream(live, ("SPY", "AAPL"), trades=("SPY",)) as (_, got):
        assert wait_until(lambda: sum(isinstance(x, Quote) for x in got) >= 6 and any(isinstance(x, Trade) for x in got))
    quotes = [x for x in got if isinstance(x, Quote)]
    assert {q.symbol for q in quotes} == {"SPY", "AAPL"}
    for q in quotes:
        assert isinstance(q.timestamp, datetime) and q.timestamp.tzinfo is not None
        assert isinstance(q.bid_price, float) and 0 < q.bid_price < q.ask_price
        assert q.bid_size > 0 and q.ask_exchange == "V" and q.conditions == ["R"]
    trade = next(x for x in got if isinstance(x, Trade))
    assert trade.symbol == "SPY" and trade.price > 0 and trade.size > 0
    assert live.state.stream.connections() == 0 or wait_until(lambda: live.state.stream.connections() == 0, 5)


def test_bars_channel(make_sim_thread):
    sim = make_sim_thread(seed=0, always_open=True)
    hub = sim.state.stream
    with alpaca_stream(sim, (), bars=("SPY",)) as (_, got):
        assert wait_until(lambda: any(c.get("bars") for c in hub.stats()["subscriptions"]))
        time.sleep(0.3)
        sim.call(sim.state.clock.jump, 60)  # cross a minute boundary now
        assert wait_until(lambda: any(isinstance(x, Bar) for x in got), 10)
    bar = next(x for x in got if isinstance(x, Bar))
    assert bar.symbol == "SPY" and bar.low <= bar.open <= bar.high and bar.volume >= 0


def test_wrong_keys_fail_auth(live):
    hub = live.state.stream
    with alpaca_stream(live, ("SPY",), key="WRONG", secret="NOPE") as (_, got):
        assert wait_until(lambda: hub.counters["auth_failures"] >= 1)
        time.sleep(0.3)
    assert got == []

    async def raw():
        async with websockets.connect(ws_url(live), additional_headers=MSGPACK) as ws:
            assert msgpack.unpackb(await ws.recv()) == [{"T": "success", "msg": "connected"}]
            await ws.send(msgpack.packb({"action": "auth", "key": "WRONG", "secret": "NOPE"}))
            assert msgpack.unpackb(await ws.recv()) == [{"T": "error", "code": 402, "msg": "auth failed"}]
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
    asyncio.run(raw())


async def _connect(sim, key=DEMO_KEY, secret=DEMO_SECRET):
    ws = await websockets.connect(ws_url(sim), additional_headers=MSGPACK)
    assert msgpack.unpackb(await ws.recv())[0]["msg"] == "connected"
    await ws.send(msgpack.packb({"action": "auth", "key": key, "secret": secret}))
    return ws, msgpack.unpackb(await ws.recv())


async def _next_quotes(ws, n: int, timeout: float = 10.0) -> list[dict]:
    out: list[dict] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(out) < n:
        frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), max(0.1, deadline - asyncio.get_running_loop().time())))
        out.extend(m for m in frame if m.get("T") == "q")
    return out


def test_fragmented_and_split_subscribe_and_wire_format(live):
    live.state.stream.set_quote_rate(40)

    async def run():
        ws, auth = await _connect(live)
        assert auth == [{"T": "success", "msg": "authenticated"}]
        body = msgpack.packb({"action": "subscribe", "quotes": ["SPY", "QQQ"], "trades": [], "bars": []})
        await ws.send([body[:5], body[5:11], body[11:]])  # one websocket message in three frames
        ack = msgpack.unpackb(await ws.recv())
        assert ack[0]["T"] == "subscription" and ack[0]["quotes"] == ["QQQ", "SPY"] and ack[0]["trades"] == []
        more = msgpack.packb({"action": "subscribe", "quotes": ["IWM"]})
        await ws.send(more[:7])  # one msgpack object split over two websocket messages
        await asyncio.sleep(0.05)
        await ws.send(more[7:])
        while True:
            frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
            if frame[0]["T"] == "subscription":
                assert frame[0]["quotes"] == ["IWM", "QQQ", "SPY"]
                break
        quotes = await _next_quotes(ws, 12)
        assert {q["S"] for q in quotes} <= {"SPY", "QQQ", "IWM"}
        q = quotes[0]
        assert set(q) == {"T", "S", "bx", "bp", "bs", "ax", "ap", "as", "c", "z", "t"}
        assert isinstance(q["t"], msgpack.Timestamp)  # ext type -1
        raw = await asyncio.wait_for(ws.recv(), 5)
        assert isinstance(raw, bytes) and b"\xa1t\xd7\xff" in raw  # "t": fixext8, type -1 (timestamp64)
        # Unsubscribe: only the rest keeps coming.
        await ws.send(msgpack.packb({"action": "unsubscribe", "quotes": ["QQQ", "IWM"]}))
        while True:
            frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
            if frame[0]["T"] == "subscription":
                assert frame[0]["quotes"] == ["SPY"]
                break
        assert {q["S"] for q in await _next_quotes(ws, 6)} == {"SPY"}
        await ws.close()
    asyncio.run(run())


def test_protocol_errors(live):
    hub = live.state.stream

    async def run():
        ws = await websockets.connect(ws_url(live), additional_headers=MSGPACK)
        await ws.recv()
        await ws.send(msgpack.packb({"action": "subscribe", "quotes": ["SPY"]}))
        assert msgpack.unpackb(await ws.recv()) == [{"T": "error", "code": 401, "msg": "not authenticated"}]
        await ws.send(msgpack.packb({"nonsense": 1}))
        assert msgpack.unpackb(await ws.recv())[0]["code"] == 400
        await ws.close()
        ws, _ = await _connect(live)
        await ws.send(msgpack.packb({"action": "auth", "key": DEMO_KEY, "secret": DEMO_SECRET}))
        assert msgpack.unpackb(await ws.recv())[0]["code"] == 403
        hub.symbol_limit = 2
        await ws.send(msgpack.packb({"action": "subscribe", "quotes": ["SPY", "QQQ", "IWM"]}))
        assert msgpack.unpackb(await ws.recv()) == [{"T": "error", "code": 405, "msg": "symbol limit exceeded"}]
        hub.symbol_limit = None
        await ws.close()
        hub.auth_timeout_s = 0.3
        ws = await websockets.connect(ws_url(live), additional_headers=MSGPACK)
        await ws.recv()
        assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)) == [{"T": "error", "code": 404, "msg": "auth timeout"}]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
    asyncio.run(run())


def test_second_connection_with_the_same_key_gets_406(make_sim_thread):
    other = AccountSpec(key_id="KEY2", secret="SECRET2")
    sim = make_sim_thread(seed=0, always_open=True, accounts=[demo_spec(), other])
    hub = sim.state.stream

    async def run():
        first, auth = await _connect(sim)
        assert auth[0]["msg"] == "authenticated"
        second, auth2 = await _connect(sim)
        assert auth2 == [{"T": "error", "code": 406, "msg": "connection limit exceeded"}]
        with pytest.raises(websockets.ConnectionClosed):
            await asyncio.wait_for(second.recv(), 5)
        third, auth3 = await _connect(sim, "KEY2", "SECRET2")  # another account is fine
        assert auth3[0]["msg"] == "authenticated"
        hub.allow_multiple_connections(True)
        fourth, auth4 = await _connect(sim)
        assert auth4[0]["msg"] == "authenticated"
        assert hub.connections() == 3
        for ws in (first, third, fourth):
            await ws.close()
    asyncio.run(run())


def test_alpaca_py_second_stream_with_the_same_key_is_refused(live):
    hub = live.state.stream
    with alpaca_stream(live, ("SPY",)) as (_, first):
        assert wait_until(lambda: len(first) >= 2)
        with alpaca_stream(live, ("QQQ",)) as (_, second):
            assert wait_until(lambda: hub.counters["connection_limit"] >= 1)
            mark = len(first)
            assert wait_until(lambda: len(first) >= mark + 2)  # the first one is unaffected
            assert second == [] and hub.connections() == 1


def test_alpaca_py_reconnects_and_resubscribes_after_a_server_drop(live):
    hub = live.state.stream
    with alpaca_stream(live, ("SPY", "QQQ")) as (_, got):
        assert wait_until(lambda: len(got) >= 4)
        assert live.call(hub.disconnect_all) == 1
        mark = len(got)
        assert wait_until(lambda: hub.connections() == 1 and len(got) >= mark + 6, 15)
        assert {q.symbol for q in got[mark:]} == {"SPY", "QQQ"}
        assert hub.counters["connections_total"] >= 2
        # An abrupt drop (no close frame) is survived the same way.
        live.call(hub.disconnect_all, True)
        mark = len(got)
        assert wait_until(lambda: hub.connections() == 1 and len(got) >= mark + 4, 15)


def test_silent_stream_keeps_the_connection(live):
    hub = live.state.stream
    with alpaca_stream(live, ("SPY",)) as (_, got):
        assert wait_until(lambda: len(got) >= 2)
        hub.set_silent(True)
        time.sleep(0.3)
        mark = len(got)
        time.sleep(1.0)
        assert len(got) == mark and hub.connections() == 1
        hub.set_silent(False)
        assert wait_until(lambda: len(got) > mark + 2)


def test_high_rate_batches_and_star(live):
    hub = live.state.stream
    hub.set_quote_rate(4000)

    async def run():
        ws, _ = await _connect(live)
        await ws.send(msgpack.packb({"action": "subscribe", "quotes": ["*"]}))
        assert msgpack.unpackb(await ws.recv())[0]["quotes"] == ["*"]
        sizes, syms = [], set()
        while sum(sizes) < 2000:
            frame = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
            sizes.append(len(frame))
            syms.update(m["S"] for m in frame)
        await ws.close()
        return sizes, syms
    sizes, syms = asyncio.run(run())
    assert max(sizes) > 5  # many quotes per frame at high rates
    assert len(syms) > 100  # "*" = the whole default universe
    assert hub.quotes_sent() >= 2000


def test_json_clients_get_text_frames(live):
    import json

    async def run():
        async with websockets.connect(ws_url(live)) as ws:
            assert json.loads(await ws.recv()) == [{"T": "success", "msg": "connected"}]
            await ws.send(json.dumps({"action": "auth", "key": DEMO_KEY, "secret": DEMO_SECRET}))
            assert json.loads(await ws.recv())[0]["msg"] == "authenticated"
            await ws.send(json.dumps({"action": "subscribe", "quotes": ["SPY"]}))
            assert json.loads(await ws.recv())[0]["T"] == "subscription"
            quote = json.loads(await asyncio.wait_for(ws.recv(), 5))[0]
            assert quote["T"] == "q" and quote["t"].endswith("Z")
    asyncio.run(run())


def test_a_client_that_stops_reading_gets_407(live):
    hub = live.state.stream
    hub.set_quote_rate(50000)
    hub.slow_client_timeout_s = 0.5

    async def run():
        import socket

        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fill up fast
        sock.connect(("127.0.0.1", int(live.url.rsplit(":", 1)[1])))
        ws = await websockets.connect(ws_url(live), additional_headers=MSGPACK, max_queue=1, sock=sock,
                                      close_timeout=1)
        await ws.recv()
        await ws.send(msgpack.packb({"action": "auth", "key": DEMO_KEY, "secret": DEMO_SECRET}))
        await ws.recv()
        await ws.send(msgpack.packb({"action": "subscribe", "quotes": ["*"]}))
        # Read nothing: the socket buffers fill, the server's send stalls, and it gives up.
        deadline = asyncio.get_running_loop().time() + 30
        while hub.connections() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        await ws.close()

    asyncio.run(run())
    assert hub.connections() == 0
    assert hub.counters["slow_clients"] == 1
