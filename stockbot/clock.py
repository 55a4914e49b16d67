"""The one time source of a daemon.

``compose()`` (``stockbot.daemon.runtime``) chooses the clock and hands it to every service that
needs the time: ``RealClock`` in production and in tests against the live sim; a virtual clock in
a market replay, where time jumps from one scheduled event to the next. Services take the clock
(or its bound ``now``) in their constructor and never read the wall clock themselves.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    """What a service may ask about time."""

    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations, timeouts)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


class RealClock:
    """Production time: the host's UTC wall clock, ``time.monotonic`` and ``asyncio.sleep``."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


REAL_CLOCK = RealClock()
