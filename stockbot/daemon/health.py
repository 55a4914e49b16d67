"""What the daemon watches besides its jobs: the broker's clock and calendar, the quote stream's
freshness and failure events, and the event loop's responsiveness.

:class:`MarketHours` answers "is the market open / is today a trading day" from the broker's clock
and calendar (never the local wall clock); :class:`StreamMonitor` turns the quote stream's
silence, 406 connection-limit errors and stops into records, lessons and alerts;
:class:`LoopWatch` measures how late the event loop wakes up (the watchdog's evidence).
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from dataclasses import dataclass
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

import structlog

from stockbot.broker.stream import FreshnessTracker
from stockbot.domain import Clock, Quote
from stockbot.trading.deps import Notifier
from stockbot.lessons.failure import Failure
from stockbot.store import Store
from stockbot.trading.port import Broker

log = structlog.get_logger("daemon")
NY = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class Health:
    """``ok``: the loop and the scheduler are alive (WATCHDOG=1 is sent). ``degraded``: the quote
    stream is stale or down, or the broker refuses the keys; reported, alerted and blocking new
    entries, but not a reason for systemd to kill a daemon whose trading path works."""

    ok: bool
    problems: tuple[str, ...]
    status: str
    degraded: tuple[str, ...] = ()


class HealthState:
    """The last health check, shared by the health job (which writes it) and the engines (which
    ask it before every entry): a degraded daemon blocks entries, never closes."""

    def __init__(self) -> None:
        self.last: Health | None = None

    def entry_block(self) -> str | None:
        """Why new entries must wait (the last check found the daemon degraded), or None."""
        h = self.last
        if h is not None and h.degraded:
            return f"quote stream degraded ({'; '.join(h.degraded)}): no new entries until it recovers"
        return None


class MarketHours:
    """The broker's clock (cached for ``ttl_s``) and calendar (cached per date)."""

    def __init__(self, broker: Broker, ttl_s: float = 30.0, monotonic: Callable[[], float] = time.monotonic):
        self.broker = broker
        self.ttl_s = ttl_s
        self._mono = monotonic
        self._clock: tuple[float, Clock] | None = None
        self._days: dict[date, bool] = {}

    def forget(self) -> None:
        """Drop the cached clock: the next question asks the broker (after a known time change,
        e.g. a replay or a test moving the exchange's clock)."""
        self._clock = None
        self._days = {}

    async def clock(self) -> Clock:
        if self._clock is None or self._mono() - self._clock[0] > self.ttl_s:
            self._clock = (self._mono(), await self.broker.clock())
        return self._clock[1]

    async def is_open(self) -> bool:
        return (await self.clock()).is_open

    async def today(self) -> date:
        """The market's date (New York) according to the broker's clock."""
        return (await self.clock()).ts.astimezone(NY).date()

    async def trading_day(self, day: date | None = None) -> bool:
        """True when the broker's calendar lists ``day`` (default: the market's today)."""
        day = day or await self.today()
        if day not in self._days:
            self._days = {day: bool(await self.broker.calendar(day, day))}  # keep one day only
        return self._days[day]


class StreamMonitor:
    """Quote freshness per symbol, and the stream's failure events turned into records.

    ``on_quote``/``on_event`` are QuoteFeed callbacks (they run on the daemon's loop). A 406
    (connection limit) or a stopped stream is recorded, captured and alerted at once; silence is
    judged by :meth:`check` from the health job, only while the market is open.
    """

    EVENT_GAP_S = 60.0  # the same stream event kind is recorded at most this often

    def __init__(self, symbols: Iterable[str], store: Store, notifier: Notifier, *, silence_s: float,
                 monotonic: Callable[[], float] = time.monotonic):
        self.symbols = sorted(set(symbols))
        self.store = store
        self.notifier = notifier
        self.silence_s = silence_s
        self._mono = monotonic
        self.tracker = FreshnessTracker(monotonic)
        self.started = monotonic()
        self.stale: tuple[str, ...] = ()
        self._last_event: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def on_quote(self, quote: Quote) -> None:
        self.tracker.update(quote)

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        """A stream event from the feed thread (delivered on the loop)."""
        if kind == "stream_connected":
            log.info("stream.connected", **data)
        now = self._mono()
        if now - self._last_event.get(kind, -1e9) < self.EVENT_GAP_S:
            return
        self._last_event[kind] = now
        seq = self.store.append_event(kind, dict(data))
        if kind in ("stream_406", "stream_error", "stream_stopped"):
            task = asyncio.get_running_loop().create_task(self._report(kind, data, seq))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _report(self, kind: str, data: dict[str, Any], seq: int) -> None:
        error = str(data.get("error", ""))[:300]
        if kind == "stream_406":
            failure = Failure("stream_406", "broker.stream", f"quote stream refused: {error}",
                              {"code": 406, "error": error}, event_id=seq,
                              impact="no live quotes while another connection holds the key's stream slot")
            await self.notifier.alert("stream_406", f"quote stream refused with 406 (connection limit): {error}")
        else:
            failure = Failure("broker_error", "broker.stream", f"quote stream {kind}: {error}",
                              {"error": error, "reason": kind}, event_id=seq)
            if kind == "stream_stopped":
                await self.notifier.alert("stream_stale", f"quote stream thread stopped: {error}")
        await self.notifier.failure(failure)

    def ages(self) -> dict[str, float]:
        """Seconds since each symbol's last quote (since the stream started when none came yet)."""
        now = self._mono()
        out = {}
        for s in self.symbols:
            age = self.tracker.age_s(s)
            out[s] = now - self.started if age is None else age
        return out

    async def check(self, market_open: bool) -> list[str]:
        """Stale symbols while the market is open (recorded, captured, alerted on the transition)."""
        if not market_open:
            self.stale = ()
            return []
        ages = self.ages()
        stale = tuple(s for s, age in ages.items() if age > self.silence_s)
        if stale and stale != self.stale:
            detail = {s: round(ages[s], 1) for s in stale}
            seq = self.store.append_event("stream_stale", {"symbols": detail, "silence_s": self.silence_s})
            message = f"no quote for {', '.join(f'{s} {a:.0f}s' for s, a in detail.items())} while the market is open"
            await self.notifier.alert("stream_stale", message)
            await self.notifier.failure(Failure("stale_quotes", "broker.stream", f"silent quote stream: {message}",
                                                {"reason": "no quotes while the market is open"}, event_id=seq,
                                                symbol=stale[0]))
        elif not stale and self.stale:
            self.store.append_event("stream_recovered", {"symbols": list(self.stale)})
        self.stale = stale
        return [f"quotes stale: {', '.join(stale)}"] if stale else []

    def summary(self) -> str:
        parts = []
        for s in self.symbols:
            q = self.tracker.last.get(s)
            age = self.tracker.age_s(s)
            parts.append(f"{s} {q.bid}/{q.ask} {age:.1f}s" if q is not None and age is not None else f"{s} -")
        return f"quotes {self.tracker.count}: " + ", ".join(parts)


class LoopWatch:
    """A ticker task that measures how late the event loop wakes up: the health job's evidence
    that the loop is responsive (a dead ticker counts as an infinite lag)."""

    def __init__(self, period_s: float = 1.0):
        self.period_s = period_s
        self._last = self._late = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="daemon-loop-watch")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.period_s)
            self._last = loop.time()
            self._late = max(0.0, self._last - before - self.period_s)

    def lag_s(self) -> float:
        if self._task is None or self._task.done():
            return float("inf")
        since = asyncio.get_running_loop().time() - self._last if self._last else 0.0
        return max(self._late, since - self.period_s)
