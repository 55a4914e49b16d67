"""Order events: alpaca-py's ``TradingStream`` (``trade_updates``) run beside the daemon's loop.

The account's own trading websocket: ``wss://paper-api.alpaca.markets/stream`` for paper,
``wss://api.alpaca.markets/stream`` for live (alpaca-py picks them from ``paper``), or
``<ALPACA_BASE_URL as ws>/stream`` when a base URL is set (the local sim on loopback). Alpaca allows
one trading stream per account; events are not replayed after a reconnect and may repeat, so the
consumer (``trading/trade_updates.py``) books idempotently and polling stays the source of truth.

As with the quote stream (``stream.py``): ``run()`` calls ``asyncio.run``, so the stream gets its own
thread; the handler is registered before ``run()`` (no busy spin); each event crosses to the
daemon's loop through ``loop.call_soon_threadsafe`` already translated into a :class:`TradeUpdate`
of our domain, so nothing of alpaca-py leaks past this module.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Callable

from stockbot.broker import convert
from stockbot.config import AlpacaSettings
from stockbot.domain import BrokerOrder


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """One order event: ``event`` (new, fill, partial_fill, canceled, expired, replaced, rejected,
    ...), the order as the broker saw it then, and for fills the fill's qty and price."""

    event: str
    order: BrokerOrder
    ts: datetime
    execution_id: str | None = None
    qty: Decimal | None = None
    price: Decimal | None = None
    position_qty: Decimal | None = None

    @property
    def key(self) -> tuple:
        """What makes an event the same event when it is delivered twice."""
        return (self.order.id, self.event, self.execution_id, self.order.filled_qty, self.order.status)


def trading_stream_url(settings: AlpacaSettings) -> str | None:
    """The websocket URL for ``settings`` (None: alpaca-py's paper/live default)."""
    if settings.base_url:
        return re.sub(r"^http", "ws", settings.base_url.rstrip("/")) + "/stream"
    return None


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def from_alpaca(update: Any) -> TradeUpdate:
    """alpaca-py's ``TradeUpdate`` -> ours."""
    event = getattr(update.event, "value", update.event)
    return TradeUpdate(event=str(event), order=convert.order(update.order), ts=update.timestamp,
                       execution_id=None if update.execution_id is None else str(update.execution_id),
                       qty=_dec(update.qty), price=_dec(update.price), position_qty=_dec(update.position_qty))


class TradeUpdateFeed:
    """Runs one TradingStream in a thread and delivers :class:`TradeUpdate` to ``on_update``."""

    def __init__(self, settings: AlpacaSettings, loop: asyncio.AbstractEventLoop,
                 on_update: Callable[[TradeUpdate], None], on_event: Callable[[str, dict], None] | None = None):
        if settings.api_key is None or settings.secret_key is None:
            raise ValueError("TradeUpdateFeed needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        self.settings = settings
        self.loop = loop
        self.on_update = on_update
        self.on_event = on_event or (lambda kind, data: None)
        self.url = trading_stream_url(settings)
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self.connects = 0
        self.received = 0
        self.connected = False
        self.errors: deque[str] = deque(maxlen=20)

    def _build(self) -> Any:
        from alpaca.trading.stream import TradingStream

        feed = self

        class _ObservedStream(TradingStream):
            async def _start_ws(self) -> None:  # noqa: D401 - library hook
                try:
                    await super()._start_ws()
                except Exception as exc:
                    feed.connected = False
                    feed.errors.append(str(exc))
                    feed._emit("trade_stream_error", {"error": str(exc)[:300]})
                    raise
                feed.connects += 1
                feed.connected = True
                feed._emit("trade_stream_connected", {"connects": feed.connects})

            async def close(self) -> None:
                feed.connected = False
                await super().close()

        s = self.settings
        stream = _ObservedStream(s.api_key.get_secret_value(), s.secret_key.get_secret_value(),
                                 paper=s.paper, url_override=self.url)
        stream.subscribe_trade_updates(self._on_raw)
        return stream

    async def _on_raw(self, update: Any) -> None:
        try:
            ours = from_alpaca(update)
        except (AttributeError, ValueError, ArithmeticError) as exc:
            self.errors.append(f"bad trade update: {exc}")
            return
        self.received += 1
        try:
            self.loop.call_soon_threadsafe(self.on_update, ours)
        except RuntimeError:  # the daemon's loop is closed (shutdown): nothing to deliver to
            pass

    def _emit(self, kind: str, data: dict) -> None:
        try:
            self.loop.call_soon_threadsafe(self.on_event, kind, data)
        except RuntimeError:
            pass

    def _run(self) -> None:
        try:
            self._stream.run()
        except Exception as exc:  # noqa: BLE001 - the thread ends with a report, never silently
            self._emit("trade_stream_stopped", {"error": f"{type(exc).__name__}: {exc}"})

    def start(self) -> None:
        """Start the stream thread (returns at once; it connects in the thread)."""
        self._stream = self._build()
        self._thread = threading.Thread(target=self._run, name="trade-stream", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 8.0) -> None:
        """Stop the stream and join its thread (bounded)."""
        stream, thread = self._stream, self._thread
        if stream is None or thread is None:
            return
        deadline = time.monotonic() + timeout_s
        while getattr(stream, "_loop", None) is None and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # run() has not created its loop yet; stop() needs it
        try:
            loop = getattr(stream, "_loop", None)
            if loop is not None:
                stream.stop()
                # alpaca-py notices the stop only when a receive times out (5 s); closing the socket
                # ends the receive at once, and the stopped stream does not reconnect.
                asyncio.run_coroutine_threadsafe(stream.close(), loop).result(max(0.1, deadline - time.monotonic()))
        except Exception as exc:  # noqa: BLE001 - a stream that is already gone is stopped
            self.errors.append(f"stop: {exc}")
        thread.join(max(0.1, deadline - time.monotonic()))
