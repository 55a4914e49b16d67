"""A per-account request budget kept under Alpaca's 200 requests/minute.

A sliding-window limiter: at most ``per_minute`` request starts in any 60 s window. Callers wait
(asynchronously) for a slot instead of getting 429s, which alpaca-py would answer with blind
3-second sleeps inside a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Callable


class RequestBudget:
    def __init__(self, per_minute: int = 180, *, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError("per_minute must be >= 1")
        self.per_minute = per_minute
        self.window_s = window_s
        self._clock = clock
        self._starts: deque[float] = deque()
        self._lock = asyncio.Lock()

    def delay_needed(self) -> float:
        """Seconds until a request may start (0 when a slot is free now)."""
        now = self._clock()
        while self._starts and now - self._starts[0] >= self.window_s:
            self._starts.popleft()
        if len(self._starts) < self.per_minute:
            return 0.0
        return self.window_s - (now - self._starts[0])

    async def acquire(self) -> None:
        """Wait for a free slot, then take it."""
        async with self._lock:
            while (delay := self.delay_needed()) > 0:
                await asyncio.sleep(delay)
            self._starts.append(self._clock())

    @property
    def used(self) -> int:
        self.delay_needed()
        return len(self._starts)
