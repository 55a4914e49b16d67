"""The trading websocket of the local exchange: ``/stream`` with the ``trade_updates`` stream.

What alpaca-py's ``TradingStream`` speaks (read from alpaca-py 0.44's ``trading/stream.py``): JSON
both ways. Alpaca's paper stream sends its JSON in *binary* frames, so the sim does too (alpaca-py
``json.loads`` either kind). The client sends ``{"action":"authenticate","data":{"key_id",
"secret_key"}}``; the server answers ``{"stream":"authorization","data":{"action":"authenticate",
"status":"authorized"}}`` (or ``"unauthorized"`` and closes). The client then sends
``{"action":"listen","data":{"streams":["trade_updates"]}}`` and gets ``{"stream":"listening",
"data":{"streams":["trade_updates"]}}``. Events: ``{"stream":"trade_updates","data":{"event",
"execution_id"?, "order": <Order JSON>, "timestamp", "price"?, "qty"?, "position_qty"?}}``.

Events come from :meth:`TradeUpdateHub.publish`, which the exchange calls after every change of an
account: it compares each order with what was published before, so every path that changes an
order (a fill on the tick, a cancel, the day's expiry, a replace, an expiring contract) yields
exactly one event per change, in the order they happened. Like Alpaca, nothing is replayed on
reconnect: an event sent while no client listened is lost (the daemon polls and reconciles).

Test controls (``POST /_sim/trade_updates``): ``silent`` (events are dropped, connections stay
open), ``duplicate`` (every event is sent twice), ``disconnect`` (drop every connection).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import WSMsgType, web

from stockbot.sim.accounts import SIM_NAMESPACE
from stockbot.sim.wire import money, rfc3339

STREAM_PATH = "/stream"
EVENT_OF_STATUS = {"new": "new", "accepted": "accepted", "pending_new": "pending_new", "filled": "fill",
                   "partially_filled": "partial_fill", "canceled": "canceled", "expired": "expired",
                   "rejected": "rejected", "replaced": "replaced", "done_for_day": "done_for_day"}
HISTORY = 2000  # events kept per sim for the admin view


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    key_id: str | None = None
    listening: bool = False


@dataclass
class _Seen:
    """What was last published per account: how many top-level orders, and the (status,
    filled_qty) of those still open then."""

    count: int = 0
    open: dict[str, tuple[str, Any]] = field(default_factory=dict)


class TradeUpdateHub:
    """Connections of the trading stream and the events the exchange publishes to them."""

    def __init__(self) -> None:
        self._conns: set[_Conn] = set()
        self._seen: dict[str, _Seen] = {}
        self._seq = 0
        self.silent = False
        self.duplicate = False
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self.counters = {"events": 0, "sent": 0, "dropped": 0, "connections_total": 0, "auth_failures": 0}
        self._accounts: Any = None

    # ------------------------------------------------------------------ publishing
    def track(self, account) -> None:
        """Take ``account``'s orders as published if the hub has not seen it yet (orders restored
        from a state file are history, not news). The exchange calls it before every change."""
        if account.key_id not in self._seen:
            self._seen[account.key_id] = _Seen(len(account.orders), {o.id: (o.status, o.filled_qty)
                                                                     for o in account.open_orders.values()})

    def publish(self, account, now: datetime) -> int:
        """Send one event per order change of ``account`` since the last call; returns how many."""
        seen = self._seen.setdefault(account.key_id, _Seen())
        events: list[dict] = []
        for oid, before in list(seen.open.items()):  # changes of working orders come first
            order = account.by_id.get(oid)
            if order is not None and (order.status, order.filled_qty) != before:
                events.append(self._change(order, account, now, before))
        for order in account.orders[seen.count:]:  # then the orders placed since the last call
            if order.status not in ("new", "accepted", "pending_new"):
                events.append(self._event("new", order, account, now))  # Alpaca announces it first
            events.append(self._change(order, account, now, None))
        seen.count = len(account.orders)
        seen.open = {o.id: (o.status, o.filled_qty) for o in account.open_orders.values()}
        for event in events:
            self._send(account.key_id, event)
        return len(events)

    def _change(self, order, account, now: datetime, before) -> dict:
        kind = EVENT_OF_STATUS.get(order.status, order.status)
        data = self._event(kind, order, account, now)
        if kind in ("fill", "partial_fill"):
            done = before[1] if before is not None else 0
            data["qty"] = money(order.filled_qty - done)
            data["price"] = money(order.filled_avg_price)
            data["timestamp"] = rfc3339(order.filled_at or now)
            self._seq += 1
            data["execution_id"] = str(uuid.uuid5(SIM_NAMESPACE, f"exec:{order.id}:{self._seq}"))
            if not order.is_mleg:
                pos = account.positions.get(order.symbol)
                data["position_qty"] = money(pos.qty if pos else 0)
        return data

    @staticmethod
    def _event(kind: str, order, account, now: datetime) -> dict:
        return {"event": kind, "order": order.to_json(nested=True), "timestamp": rfc3339(order.updated_at or now)}

    def _send(self, key_id: str, event: dict) -> None:
        self.counters["events"] += 1
        self.history.append({"key_id": key_id, **event})
        if self.silent:
            self.counters["dropped"] += 1
            return
        frame = json.dumps({"stream": "trade_updates", "data": event}).encode()
        targets = [c for c in self._conns if c.key_id == key_id and c.listening]
        for c in targets:
            for _ in range(2 if self.duplicate else 1):
                self.counters["sent"] += 1
                asyncio.get_running_loop().create_task(self._send_quietly(c, frame))

    @staticmethod
    async def _send_quietly(c: _Conn, frame: bytes) -> None:
        try:
            await c.ws.send_bytes(frame)
        except Exception:  # noqa: BLE001 - the client is gone: events are not replayed (as at Alpaca)
            pass

    # ------------------------------------------------------------------ controls
    def connections(self, key_id: str | None = None) -> int:
        return sum(1 for c in self._conns if c.listening and (key_id is None or c.key_id == key_id))

    def disconnect_all(self) -> int:
        conns = list(self._conns)
        self._conns.clear()
        for c in conns:
            asyncio.get_running_loop().create_task(c.ws.close(code=1001))
        return len(conns)

    def stats(self) -> dict:
        return {**self.counters, "connections": self.connections(), "silent": self.silent,
                "duplicate": self.duplicate}

    # ------------------------------------------------------------------ websocket
    async def handle(self, request: web.Request, accounts) -> web.WebSocketResponse:
        """One ``/stream`` client, from connect to close."""
        ws = web.WebSocketResponse(compress=False, heartbeat=None)
        await ws.prepare(request)
        c = _Conn(ws)
        self._conns.add(c)
        self.counters["connections_total"] += 1
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    action = json.loads(msg.data)
                except ValueError:
                    await self._reply(c, "error", {"error": "invalid syntax"})
                    continue
                if not isinstance(action, dict):
                    await self._reply(c, "error", {"error": "invalid syntax"})
                    continue
                if not await self._on_action(c, action, accounts):
                    break
        finally:
            self._conns.discard(c)
        return ws

    async def _on_action(self, c: _Conn, action: dict, accounts) -> bool:
        data = action.get("data") if isinstance(action.get("data"), dict) else {}
        if action.get("action") in ("authenticate", "auth"):
            key = str(data.get("key_id", action.get("key", "")))
            secret = str(data.get("secret_key", action.get("secret", "")))
            if accounts.authenticate(key, secret) is None:
                self.counters["auth_failures"] += 1
                await self._reply(c, "authorization", {"action": "authenticate", "status": "unauthorized"})
                await c.ws.close(code=1008)
                return False
            c.key_id = key
            await self._reply(c, "authorization", {"action": "authenticate", "status": "authorized"})
            return True
        if action.get("action") == "listen":
            if c.key_id is None:
                await self._reply(c, "authorization", {"action": "listen", "status": "unauthorized"})
                return True
            streams = data.get("streams") or []
            c.listening = "trade_updates" in streams
            await self._reply(c, "listening", {"streams": ["trade_updates"] if c.listening else []})
            return True
        await self._reply(c, "error", {"error": "unknown action"})
        return True

    @staticmethod
    async def _reply(c: _Conn, stream: str, data: dict) -> None:
        try:
            await c.ws.send_bytes(json.dumps({"stream": stream, "data": data}).encode())
        except Exception:  # noqa: BLE001 - the client left mid-handshake: nothing to tell it
            pass


def register(app: web.Application, hub_of) -> None:
    """``/stream`` (the trading websocket) and ``GET|POST /_sim/trade_updates`` (status,
    ``{"silent"?, "duplicate"?, "disconnect"?}``, ``?key_id&limit`` for the recent events).
    ``hub_of(app)`` returns (hub, accounts)."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        hub, accounts = hub_of(request.app)
        return await hub.handle(request, accounts)

    async def control(request: web.Request) -> web.Response:
        hub, _ = hub_of(request.app)
        dropped = 0
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return web.json_response({"code": 40010000, "message": "body must be an object"}, status=400)
            if "silent" in body:
                hub.silent = bool(body["silent"])
            if "duplicate" in body:
                hub.duplicate = bool(body["duplicate"])
            if body.get("disconnect"):
                dropped = hub.disconnect_all()
        key_id = request.query.get("key_id")
        limit = int(request.query.get("limit") or 100)
        events = [e for e in hub.history if key_id is None or e["key_id"] == key_id][-limit:]
        return web.json_response({**hub.stats(), "dropped_connections": dropped, "recent": events})

    app.router.add_get(STREAM_PATH, handle)
    app.router.add_get("/_sim/trade_updates", control)
    app.router.add_post("/_sim/trade_updates", control)
