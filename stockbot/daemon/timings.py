"""When each of the daemon's jobs runs (from the account's ``SCHEDULE_*`` settings)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from stockbot.config import ScheduleSettings


@dataclass(frozen=True)
class Timings:
    """When each job runs. Production: ``from_settings`` (cron in America/New_York + intervals).

    The demo and tests use ``decision_every_s`` / ``eod_every_s`` (5-field cron cannot say
    "every 20 seconds") and ``first_run_after_s`` to run the first decision right after READY.
    """

    decision_cron: str | None = "45 10 * * mon-fri"
    manage_every_s: float = 300
    reconcile_every_s: float = 300
    health_every_s: float = 30
    eod_cron: str | None = "15 16 * * mon-fri"
    advise_cron: str | None = "0 9 * * mon-fri"  # equity/index accounts only
    grade_cron: str | None = "30 16 * * mon-fri"
    train_cron: str | None = "0 6 * * sat"
    decision_every_s: float | None = None
    eod_every_s: float | None = None
    first_run_after_s: float | None = None
    stream_silence_s: float = 60.0  # no quote for this long while the market is open = stale
    loop_lag_s: float = 10.0  # the event loop is late by more than this = unhealthy
    stop_timeout_s: float = 30.0  # how long a stop waits for an order in flight
    clock_ttl_s: float = 30.0  # how long a broker clock answer is reused

    @classmethod
    def from_settings(cls, schedule: ScheduleSettings, **overrides: Any) -> "Timings":
        base = cls(decision_cron=schedule.decision_cron, manage_every_s=schedule.manage_interval_s,
                   reconcile_every_s=schedule.reconcile_interval_s, health_every_s=schedule.health_interval_s,
                   eod_cron=schedule.eod_cron, advise_cron=schedule.advise_cron, grade_cron=schedule.grade_cron,
                   train_cron=schedule.train_cron,
                   stream_silence_s=max(60.0, 2.0 * schedule.health_interval_s))
        return replace(base, **overrides)

    def misfire_grace_s(self, every_s: float | None) -> int:
        """A run late by more than this is skipped (coalesced into the next one)."""
        return int(max(5, every_s / 2)) if every_s else 900
