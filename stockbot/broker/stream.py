"""The quote stream: alpaca-py's ``StockDataStream`` run safely beside the daemon's event loop.

Pitfalls handled (see ALPACA_NOTES): ``run()`` calls ``asyncio.run`` so it gets its own thread;
handlers are registered *before* ``run()`` so it never busy-spins waiting for a subscription and
``subscribe_*`` is never called from the stream's own loop. Quotes cross to the daemon's loop in
batches through ``loop.call_soon_threadsafe`` (one hop per batch, not per quote, so the stream
thread is never throttled by the daemon). Connection errors the library only logs (auth failure,
406 connection limit) are observed by wrapping its ``_auth``/``_start_ws`` and reported as events.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Callable, Iterable

from stockbot.config import AlpacaSettings
from stockbot.domain import Quote

DEFAULT_STREAM_URLS = {"iex": "wss://stream.data.alpaca.markets/v2/iex",
                       "sip": "wss://stream.data.alpaca.markets/v2/sip",
                       "test": "wss://stream.data.alpaca.markets/v2/test"}


def _ts(value: Any) -> datetime:
    """msgpack Timestamp / datetime / ns int -> aware UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    to_dt = getattr(value, "to_datetime", None)
    if to_dt is not None:
        return to_dt()
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1e9, tz=timezone.utc)
    return datetime.now(timezone.utc)


def quote_from_raw(msg: dict) -> Quote:
    """A raw stream quote ``{"T":"q","S","bp","ap","bs","as","t"}`` -> Quote."""
    return Quote(symbol=msg["S"], bid=Decimal(str(msg["bp"])), ask=Decimal(str(msg["ap"])), ts=_ts(msg["t"]),
                 bid_size=Decimal(str(msg.get("bs", 0))), ask_size=Decimal(str(msg.get("as", 0))))


class FreshnessTracker:
    """Last quote per symbol and when it arrived; lives on the daemon's loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.last: dict[str, Quote] = {}
        self.arrived: dict[str, float] = {}
        self.count = 0

    def update(self, quote: Quote) -> None:
        self.last[quote.symbol] = quote
        self.arrived[quote.symbol] = self._clock()
        self.count += 1

    def age_s(self, symbol: str) -> float | None:
        """Seconds since the last quote for ``symbol`` arrived, None if never."""
        t = self.arrived.get(symbol)
        return None if t is None else self._clock() - t

    def fresh(self, symbol: str, max_age_s: float) -> Quote | None:
        """The last quote if it arrived within ``max_age_s``, else None (decisions refuse it)."""
        age = self.age_s(symbol)
        return self.last.get(symbol) if age is not None and age <= max_age_s else None

    def silent_for(self) -> float | None:
        """Seconds since any quote arrived (None before the first)."""
        return None if not self.arrived else self._clock() - max(self.arrived.values())


class QuoteFeed:
    """Runs one StockDataStream in a thread and delivers quotes to ``on_quote`` on ``loop``."""

    def __init__(self, settings: AlpacaSettings, symbols: Iterable[str], loop: asyncio.AbstractEventLoop,
                 on_quote: Callable[[Quote], None], on_event: Callable[[str, dict], None] | None = None):
        if settings.api_key is None or settings.secret_key is None:
            raise ValueError("QuoteFeed needs ALPACA_API_KEY and ALPACA_SECRET_KEY")
        self.settings = settings
        self.symbols = sorted(set(symbols))
        self.loop = loop
        self.on_quote = on_quote
        self.on_event = on_event or (lambda kind, data: None)
        self.url = settings.effective_stream_url or DEFAULT_STREAM_URLS[settings.feed]
        self._batch: deque[dict] = deque()
        self._scheduled = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stream: Any = None
        self.connects = 0
        self.received = 0  # every quote the stream delivered (superseded ones included)
        self.errors: deque[str] = deque(maxlen=20)
        self.connected = False

    # ------------------------------------------------------------------ stream thread side

    def _build(self) -> Any:
        from alpaca.data.live.stock import StockDataStream

        feed = self

        class _ObservedStream(StockDataStream):
            async def _start_ws(self) -> None:  # noqa: D401 - library hook
                try:
                    await super()._start_ws()
                except Exception as exc:
                    feed._report_error(str(exc))
                    raise
                feed.connects += 1
                feed.connected = True
                feed._emit("stream_connected", {"connects": feed.connects})

            async def close(self) -> None:
                feed.connected = False
                await super().close()

        s = self.settings
        stream = _ObservedStream(s.api_key.get_secret_value(), s.secret_key.get_secret_value(),
                                 raw_data=True, url_override=self.url)
        stream.subscribe_quotes(self._on_raw_quote, *self.symbols)
        return stream

    async def _on_raw_quote(self, msg: dict) -> None:
        with self._lock:
            self._batch.append(msg)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            self.loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # daemon loop closed during shutdown: nothing left to deliver to
            pass

    def _report_error(self, message: str) -> None:
        self.connected = False
        self.errors.append(message)
        kind = "stream_406" if "connection limit" in message.lower() else "stream_error"
        self._emit(kind, {"error": message})

    def _emit(self, kind: str, data: dict) -> None:
        try:
            self.loop.call_soon_threadsafe(self.on_event, kind, data)
        except RuntimeError:
            pass

    def _run(self) -> None:
        try:
            self._stream.run()
        except Exception as exc:  # the thread must end with a report, never silently
            self._emit("stream_stopped", {"error": f"{type(exc).__name__}: {exc}"})

    # ------------------------------------------------------------------ daemon loop side

    def _drain(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, deque()
            self._scheduled = False
        self.received += len(batch)
        # Only the newest quote per symbol matters to the daemon (freshness, pricing); the older
        # ones in the same batch are superseded, so they are counted but not converted.
        latest: dict[str, dict] = {}
        for msg in batch:
            latest[msg.get("S", "")] = msg
        for msg in latest.values():
            try:
                self.on_quote(quote_from_raw(msg))
            except (KeyError, ValueError, ArithmeticError) as exc:
                self.errors.append(f"bad quote {msg!r:.80}: {exc}")

    def start(self) -> None:
        """Start the stream thread (returns at once; connection happens in the thread)."""
        self._stream = self._build()
        self._thread = threading.Thread(target=self._run, name="quote-stream", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the stream and join its thread (bounded)."""
        stream, thread = self._stream, self._thread
        if stream is None or thread is None:
            return
        deadline = time.monotonic() + timeout_s
        while getattr(stream, "_loop", None) is None and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)  # run() has not created its loop yet; stop() needs it
        try:
            if getattr(stream, "_loop", None) is not None:
                stream.stop()
        except Exception as exc:  # a stream that is already gone is stopped
            self.errors.append(f"stop: {exc}")
        thread.join(max(0.1, deadline - time.monotonic()))
