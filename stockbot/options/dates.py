"""Option dates as the market counts them (New York calendar days)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from stockbot.domain import as_utc

NY = ZoneInfo("America/New_York")


def days_to_expiration(expiration: date, now: datetime) -> int:
    """Calendar days from ``now``'s New York date to ``expiration`` (0 on expiration day)."""
    return (expiration - as_utc(now).astimezone(NY).date()).days
