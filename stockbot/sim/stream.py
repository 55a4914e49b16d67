"""The market-data websocket of the local exchange (what alpaca-py's StockDataStream speaks).

Protocol (Alpaca v2, msgpack binary frames both ways; JSON text frames for clients that do not ask
for ``Content-Type: application/msgpack``): ``[{"T":"success","msg":"connected"}]`` -> client
``{"action":"auth","key","secret"}`` -> ``authenticated`` | error 402 -> ``{"action":"subscribe",
"quotes":[...],"trades":[...],"bars":[...]}`` (may arrive fragmented or split over several messages;
a streaming unpacker reassembles it) -> ``[{"T":"subscription",...}]`` -> arrays of quotes
(``T=q``), trades (``T=t``) and minute bars (``T=b``) with ``t`` as msgpack Timestamp (ext -1).
Errors: 400 invalid syntax, 401 not authenticated, 402 auth failed, 403 already authenticated,
404 auth timeout, 405 symbol limit exceeded, 406 connection limit exceeded, 407 slow client.

Rate: by default every subscribed symbol gets ``per_symbol_rate`` quotes/s; ``set_quote_rate(n)``
makes it ``n`` quotes/s per connection instead, spread round-robin over the subscribed symbols and
batched many per frame. Quotes are packed by hand (constant bytes per symbol + one struct) because
the benchmark wants thousands per second from a 2-core machine.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import dataclass, field

import msgpack
from aiohttp import WSMsgType, web

from stockbot.sim import wire
from stockbot.sim.market_bars import latest_minute_bar
from stockbot.sim.market_symbols import is_valid_ticker

STREAM_PATHS = ("/v2/iex", "/v2/sip", "/v2/test", "/v2/delayed_sip")
CHANNELS = ("trades", "quotes", "bars", "updatedBars", "dailyBars", "statuses", "lulds")
_QUOTE_TAIL = struct.Struct(">d4sH4sd4sH4sQ")
_K_BS, _K_AP, _K_AS, _K_T = b"\xa2bs\xcd", b"\xa2ap\xcb", b"\xa2as\xcd", b"\xa1t\xd7\xff"
MAX_BATCH = 2000


def _ts64(t: float) -> int:
    """msgpack timestamp64 payload: nanoseconds (30 bits) << 34 | seconds (34 bits)."""
    sec = int(t)
    return (int((t - sec) * 1e9) << 34) | sec


def _array_header(n: int) -> bytes:
    return bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)


def _ts_obj(t: float) -> msgpack.Timestamp:
    sec = int(t)
    return msgpack.Timestamp(sec, int((t - sec) * 1e9))


@dataclass(eq=False)
class Conn:
    ws: web.WebSocketResponse
    request: web.Request
    binary: bool
    key_id: str | None = None
    subs: dict[str, set[str]] = field(default_factory=lambda: {c: set() for c in CHANNELS})
    quote_list: list[str] = field(default_factory=list)
    rr: int = 0
    unpacker: msgpack.Unpacker = field(default_factory=lambda: msgpack.Unpacker(raw=False))
    task: asyncio.Task | None = None
    closed: bool = False


class StreamHub:
    """All websocket connections of one sim; controls for tests and the admin API."""

    msgpack_only = False  # the option streams speak msgpack to every client, as Alpaca's do

    def __init__(self, clock, market, accounts, *, quote_rate: float | None = None,
                 per_symbol_rate: float = 2.0, symbol_limit: int | None = None,
                 auth_timeout_s: float = 10.0, slow_client_timeout_s: float = 5.0) -> None:
        self.clock, self.market, self.accounts = clock, market, accounts
        self.quote_rate = quote_rate
        self.per_symbol_rate = per_symbol_rate
        self.symbol_limit = symbol_limit
        self.auth_timeout_s = auth_timeout_s
        self.slow_client_timeout_s = slow_client_timeout_s
        self.silent = False
        self.multiple = False
        self._conns: set[Conn] = set()
        self._prefix: dict[str, bytes] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.counters = {"quotes": 0, "trades": 0, "bars": 0, "frames": 0, "connections_total": 0,
                         "auth_failures": 0, "connection_limit": 0, "errors": 0, "slow_clients": 0,
                         "disconnects": 0}

    # -- controls --------------------------------------------------------------------------
    def register(self, app: web.Application) -> None:
        for path in STREAM_PATHS:
            app.router.add_get(path, self.handle)

    def set_silent(self, silent: bool) -> None:
        """Silent: connections stay open (pings answered), no market data is sent."""
        self.silent = bool(silent)

    def set_quote_rate(self, per_s: float | None) -> None:
        """Quotes per second per connection (None: ``per_symbol_rate`` per subscribed symbol)."""
        self.quote_rate = None if per_s is None else max(0.0, float(per_s))

    def allow_multiple_connections(self, allow: bool) -> None:
        """False (default): a second connection with the same key gets error 406."""
        self.multiple = bool(allow)

    def connections(self) -> int:
        return len(self._conns)

    def quotes_sent(self) -> int:
        return self.counters["quotes"]

    def stats(self) -> dict:
        return {**self.counters, "connections": self.connections(), "silent": self.silent,
                "quote_rate": self.quote_rate, "multiple": self.multiple,
                "subscriptions": [{"key_id": c.key_id, **{k: sorted(v) for k, v in c.subs.items() if v}}
                                  for c in list(self._conns)]}

    def disconnect_all(self, abrupt: bool = False) -> int:
        """Drop every connection now (clients reconnect); thread-safe. Returns how many."""
        conns = list(self._conns)
        for c in conns:
            self._forget(c)
        self.counters["disconnects"] += len(conns)
        loop = self._loop
        if conns and loop is not None and not loop.is_closed():
            def close_all() -> None:
                for c in conns:
                    loop.create_task(self._close(c, 1001 if not abrupt else None))
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                close_all()
            else:
                loop.call_soon_threadsafe(close_all)
        return len(conns)

    # -- connection lifecycle --------------------------------------------------------------
    def _forget(self, c: Conn) -> None:
        c.closed = True
        self._conns.discard(c)

    async def _close(self, c: Conn, code: int | None = 1000) -> None:
        self._forget(c)
        if c.task is not None and c.task is not asyncio.current_task():
            c.task.cancel()
        try:
            if code is None:
                if c.request.transport is not None:
                    c.request.transport.abort()
            else:
                await asyncio.wait_for(c.ws.close(code=code), 3.0)
        except Exception:  # the peer is gone; nothing to tell it
            if c.request.transport is not None:
                c.request.transport.abort()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """One websocket client, from connect to close."""
        self._loop = asyncio.get_running_loop()
        ws = web.WebSocketResponse(compress=False, timeout=3.0, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        ctype = request.headers.get("Content-Type", "")
        c = Conn(ws, request, binary=self.msgpack_only or "msgpack" in ctype)
        self._conns.add(c)
        self.counters["connections_total"] += 1
        await self._send(c, [{"T": "success", "msg": "connected"}])
        timer = asyncio.get_running_loop().call_later(self.auth_timeout_s, self._auth_timeout, c)
        try:
            async for msg in ws:
                if c.closed:
                    break
                if msg.type == WSMsgType.BINARY:
                    c.unpacker.feed(msg.data)
                    try:
                        items = list(c.unpacker)
                    except (msgpack.ExtraData, ValueError, msgpack.UnpackException):
                        c.unpacker = msgpack.Unpacker(raw=False)
                        await self._error(c, 400, "invalid syntax")
                        continue
                elif msg.type == WSMsgType.TEXT:
                    try:
                        items = [json.loads(msg.data)]
                    except ValueError:
                        await self._error(c, 400, "invalid syntax")
                        continue
                else:
                    break
                for item in items:
                    for action in (item if isinstance(item, list) else [item]):
                        await self._on_action(c, action, timer)
        finally:
            timer.cancel()
            if c.task is not None:
                c.task.cancel()
            self._forget(c)
        return ws

    def _auth_timeout(self, c: Conn) -> None:
        if c.key_id is None and not c.closed:
            asyncio.get_running_loop().create_task(self._fatal(c, 404, "auth timeout"))

    async def _on_action(self, c: Conn, action: object, timer: asyncio.TimerHandle) -> None:
        if not isinstance(action, dict) or "action" not in action:
            await self._error(c, 400, "invalid syntax")
            return
        kind = action.get("action")
        if kind == "auth":
            if c.key_id is not None:
                await self._error(c, 403, "already authenticated")
                return
            key, secret = str(action.get("key", "")), str(action.get("secret", ""))
            if self.accounts.authenticate(key, secret) is None:
                self.counters["auth_failures"] += 1
                await self._fatal(c, 402, "auth failed")
                return
            if not self.multiple and any(o.key_id == key for o in self._conns if o is not c):
                self.counters["connection_limit"] += 1
                await self._fatal(c, 406, "connection limit exceeded")
                return
            c.key_id = key
            timer.cancel()
            await self._send(c, [{"T": "success", "msg": "authenticated"}])
            c.task = asyncio.get_running_loop().create_task(self._emit(c))
        elif kind in ("subscribe", "unsubscribe"):
            if c.key_id is None:
                await self._error(c, 401, "not authenticated")
                return
            await self._subscribe(c, action, kind == "subscribe")
        else:
            await self._error(c, 400, "invalid syntax")

    async def _subscribe(self, c: Conn, action: dict, add: bool) -> None:
        new = {ch: set(v) for ch, v in c.subs.items()}
        for ch in CHANNELS:
            syms = action.get(ch) or []
            if not isinstance(syms, list):
                await self._error(c, 400, "invalid syntax")
                return
            syms = {str(s).upper() for s in syms}
            syms = {s for s in syms if s == "*" or is_valid_ticker(s)}
            new[ch] = (new[ch] | syms) if add else (new[ch] - syms)
        total = len(set().union(*new.values()) - {"*"})
        if self.symbol_limit is not None and total > self.symbol_limit:
            await self._error(c, 405, "symbol limit exceeded")
            return
        c.subs = new
        c.quote_list = self._targets(c, "quotes")
        ack = {"T": "subscription", **{ch: sorted(new[ch]) for ch in CHANNELS},
               "corrections": sorted(new["trades"]), "cancelErrors": sorted(new["trades"])}
        await self._send(c, [ack])

    # -- sending ---------------------------------------------------------------------------
    def _encode(self, c: Conn, msgs: list[dict]) -> bytes | str:
        if c.binary:
            return msgpack.packb(msgs, use_bin_type=True, datetime=False)
        return json.dumps([{k: (wire.rfc3339(v.to_datetime()) if isinstance(v, msgpack.Timestamp) else v)
                            for k, v in m.items()} for m in msgs])

    async def _send(self, c: Conn, msgs: list[dict]) -> None:
        await self._send_raw(c, self._encode(c, msgs))

    async def _send_raw(self, c: Conn, data: bytes | str) -> None:
        if c.closed or c.ws.closed:
            return
        try:
            coro = c.ws.send_bytes(data) if isinstance(data, bytes) else c.ws.send_str(data)
            await asyncio.wait_for(coro, self.slow_client_timeout_s)
            self.counters["frames"] += 1
        except asyncio.TimeoutError:
            self.counters["slow_clients"] += 1
            await self._fatal(c, 407, "slow client", wait=False)
        except (ConnectionError, RuntimeError):
            self._forget(c)

    async def _error(self, c: Conn, code: int, msg: str) -> None:
        self.counters["errors"] += 1
        await self._send(c, [{"T": "error", "code": code, "msg": msg}])

    async def _fatal(self, c: Conn, code: int, msg: str, wait: bool = True) -> None:
        """Send an error frame, then close the connection (abruptly when it is backed up)."""
        self.counters["errors"] += 1
        frame = self._encode(c, [{"T": "error", "code": code, "msg": msg}])
        if wait:
            await self._send_raw(c, frame)
        else:  # the socket is backed up: queue the frame without waiting for it
            asyncio.get_running_loop().create_task(self._send_quietly(c, frame))
            await asyncio.sleep(0)
        await self._close(c, 1008 if wait else None)

    @staticmethod
    async def _send_quietly(c: Conn, frame: bytes | str) -> None:
        try:
            await (c.ws.send_bytes(frame) if isinstance(frame, bytes) else c.ws.send_str(frame))
        except Exception:  # the connection is being dropped anyway
            pass

    def _quote_prefix(self, sym: str) -> bytes:
        p = self._prefix.get(sym)
        if p is None:
            head = msgpack.packb({"T": "q", "S": sym, "bx": "V", "ax": "V", "c": ["R"], "z": self.market.tape(sym)})
            p = self._prefix[sym] = bytes([0x8B]) + head[1:] + b"\xa2bp\xcb"  # 6 fixed + 5 variable keys
        return p

    def pack_quotes(self, syms: list[str], times: list[float]) -> bytes:
        """One msgpack frame (an array) of quotes for ``syms`` at ``times``."""
        q = self.market.quote_raw
        parts = [_array_header(len(syms))]
        for sym, t in zip(syms, times):
            bid, ask, bs, as_ = q(sym, t)
            parts.append(self._quote_prefix(sym) + _QUOTE_TAIL.pack(bid, _K_BS, bs, _K_AP, ask, _K_AS, as_, _K_T, _ts64(t)))
        return b"".join(parts)

    def _quote_dicts(self, syms: list[str], times: list[float]) -> list[dict]:
        out = []
        for sym, t in zip(syms, times):
            bid, ask, bs, as_ = self.market.quote_raw(sym, t)
            out.append({"T": "q", "S": sym, "bx": "V", "bp": bid, "bs": bs, "ax": "V", "ap": ask,
                        "as": as_, "c": ["R"], "z": self.market.tape(sym), "t": _ts_obj(t)})
        return out

    def _rate(self, c: Conn) -> float:
        if self.quote_rate is not None:
            return self.quote_rate if c.quote_list else 0.0
        return self.per_symbol_rate * len(c.quote_list)

    async def _emit(self, c: Conn) -> None:
        """Market data for one connection until it closes."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        owed = 0.0
        t_prev = self.clock.now_epoch()
        last_trade_sec = int(t_prev)
        last_bar_min = int(t_prev // 60)
        try:
            while not c.closed:
                rate = self._rate(c)
                interval = 0.25 if rate <= 0 else min(0.25, max(0.01, 1.0 / rate))
                await asyncio.sleep(interval)
                now = loop.time()
                owed = min(owed + (now - last) * rate, rate * 0.5 + 1.0)  # drop, never burst
                last = now
                t_now = self.clock.now_epoch()
                if self.silent:
                    owed, t_prev = 0.0, t_now
                    continue
                n = min(int(owed), MAX_BATCH)
                if n > 0 and c.quote_list:
                    owed -= n
                    syms = [c.quote_list[(c.rr + i) % len(c.quote_list)] for i in range(n)]
                    c.rr = (c.rr + n) % len(c.quote_list)
                    # Spread the batch over the time since the last one (at most a second back,
                    # so a clock jump neither back-dates quotes nor stamps them in the future).
                    t_prev = min(max(t_prev, t_now - 1.0), t_now)
                    step = (t_now - t_prev) / n
                    times = [t_prev + step * (i + 1) for i in range(n)]
                    if c.binary:
                        await self._send_raw(c, self.pack_quotes(syms, times))
                    else:
                        await self._send(c, self._quote_dicts(syms, times))
                    self.counters["quotes"] += n
                t_prev = t_now
                if int(t_now) != last_trade_sec and c.subs["trades"]:
                    last_trade_sec = int(t_now)
                    await self._emit_trades(c, t_now)
                if int(t_now // 60) != last_bar_min:
                    last_bar_min = int(t_now // 60)
                    if c.subs["bars"]:
                        await self._emit_bars(c, t_now)
        except asyncio.CancelledError:
            pass

    def _targets(self, c: Conn, channel: str) -> list[str]:
        subs = c.subs[channel]
        syms = (set(self.market.symbols()) | subs) if "*" in subs else subs
        return sorted(s for s in syms if s != "*" and self.market.has_symbol(s))

    async def _emit_trades(self, c: Conn, t: float) -> None:
        msgs = []
        for s in self._targets(c, "trades"):
            price, size, tid, tt = self.market.trade_raw(s, t)
            msgs.append({"T": "t", "S": s, "i": tid, "x": "V", "p": price, "s": size, "c": ["@"],
                         "z": self.market.tape(s), "t": _ts_obj(tt)})
        if msgs:
            await self._send(c, msgs)
            self.counters["trades"] += len(msgs)

    async def _emit_bars(self, c: Conn, t: float) -> None:
        msgs = []
        for s in self._targets(c, "bars"):
            b = latest_minute_bar(self.market, s, t)
            if b is not None and b[0] >= t - 120:
                msgs.append({"T": "b", "S": s, "o": round(b[1], 2), "h": round(b[2], 2), "l": round(b[3], 2),
                             "c": round(b[4], 2), "v": int(b[5]), "n": int(b[6]), "vw": round(b[7], 4),
                             "t": _ts_obj(b[0])})
        if msgs:
            await self._send(c, msgs)
            self.counters["bars"] += len(msgs)
