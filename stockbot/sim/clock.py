"""The exchange clock of the local exchange: NYSE sessions, holidays, early closes, time jumps.

Regular session 09:30-16:00 America/New_York on weekdays minus NYSE holidays (13:00 close on the
usual early-close days). Holidays are computed by rule for any year, so the calendar never runs
out. ``always_open`` makes :meth:`SimClock.is_open` true at any hour (demos); the calendar itself
and the market's price path are unaffected by it. ``jump`` moves the clock (the clock-jump fault).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
OPEN_HM = (9, 30)
CLOSE_HM = (16, 0)
EARLY_CLOSE_HM = (13, 0)

# Unscheduled closures (national days of mourning, weather, 9/11) that no rule can derive.
SPECIAL_CLOSURES: dict[date, str] = {
    date(2001, 9, 11): "September 11", date(2001, 9, 12): "September 11",
    date(2001, 9, 13): "September 11", date(2001, 9, 14): "September 11",
    date(2004, 6, 11): "Reagan mourning", date(2007, 1, 2): "Ford mourning",
    date(2012, 10, 29): "Hurricane Sandy", date(2012, 10, 30): "Hurricane Sandy",
    date(2018, 12, 5): "G.H.W. Bush mourning", date(2025, 1, 9): "Carter mourning",
}


def easter(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's own name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th (1-based) ``weekday`` (Mon=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    last = nxt - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(d: date) -> date:
    """Saturday holidays are observed on Friday, Sunday holidays on Monday."""
    if d.weekday() == 5:
        return d - timedelta(days=1)
    if d.weekday() == 6:
        return d + timedelta(days=1)
    return d


@lru_cache(maxsize=256)
def nyse_holidays(year: int) -> dict[date, str]:
    """Full-day NYSE closures of ``year`` (weekday dates only), by rule plus known special closures."""
    out: dict[date, str] = {}
    jan1 = date(year, 1, 1)
    if jan1.weekday() == 6:
        out[jan1 + timedelta(days=1)] = "New Year's Day"
    elif jan1.weekday() < 5:
        out[jan1] = "New Year's Day"  # a Saturday New Year is not observed (NYSE rule 7.2)
    if year >= 1998:
        out[_nth_weekday(year, 1, 0, 3)] = "Martin Luther King Jr. Day"
    out[_nth_weekday(year, 2, 0, 3)] = "Presidents' Day"
    out[easter(year) - timedelta(days=2)] = "Good Friday"
    out[_nth_weekday(year, 5, 0, -1)] = "Memorial Day"
    if year >= 2022:
        out[_observed(date(year, 6, 19))] = "Juneteenth"
    out[_observed(date(year, 7, 4))] = "Independence Day"
    out[_nth_weekday(year, 9, 0, 1)] = "Labor Day"
    out[_nth_weekday(year, 11, 3, 4)] = "Thanksgiving Day"
    out[_observed(date(year, 12, 25))] = "Christmas Day"
    for d, name in SPECIAL_CLOSURES.items():
        if d.year == year:
            out[d] = name
    return out


@lru_cache(maxsize=256)
def nyse_early_closes(year: int) -> frozenset[date]:
    """13:00 closes: July 3 (Mon-Thu), the day after Thanksgiving, Christmas Eve (Mon-Thu)."""
    days = {_nth_weekday(year, 11, 3, 4) + timedelta(days=1)}
    for d in (date(year, 7, 3), date(year, 12, 24)):
        if d.weekday() <= 3:
            days.add(d)
    holidays = nyse_holidays(year)
    return frozenset(d for d in days if d not in holidays)


def is_trading_day(d: date) -> bool:
    """True on weekdays that are not NYSE holidays."""
    return d.weekday() < 5 and d not in nyse_holidays(d.year)


def _at(d: date, hm: tuple[int, int]) -> datetime:
    return datetime(d.year, d.month, d.day, hm[0], hm[1], tzinfo=NY).astimezone(UTC)


@lru_cache(maxsize=8192)
def session_open_utc(d: date) -> datetime:
    """09:30 New York on ``d`` as aware UTC (whether or not ``d`` is a trading day)."""
    return _at(d, OPEN_HM)


@lru_cache(maxsize=8192)
def session_close_utc(d: date) -> datetime:
    """The regular close (16:00, or 13:00 on early-close days) of ``d`` as aware UTC."""
    return _at(d, EARLY_CLOSE_HM if d in nyse_early_closes(d.year) else CLOSE_HM)


def next_trading_day(d: date) -> date:
    """The first trading day strictly after ``d``."""
    d += timedelta(days=1)
    while not is_trading_day(d):
        d += timedelta(days=1)
    return d


def prev_trading_day(d: date) -> date:
    """The last trading day strictly before ``d``."""
    d -= timedelta(days=1)
    while not is_trading_day(d):
        d -= timedelta(days=1)
    return d


def ny_date(ts: datetime) -> date:
    """The New York calendar date of an aware timestamp."""
    return ts.astimezone(NY).date()


def trading_day_for(ts: datetime) -> date:
    """The trading day whose close is the first close at or after ``ts``.

    Times after a close belong to the next trading day (its overnight and session). This is how
    the market assigns every instant to exactly one day's price segment.
    """
    d = ny_date(ts)
    if is_trading_day(d) and ts <= session_close_utc(d):
        return d
    return next_trading_day(d)


def trading_days(start: date, end: date) -> list[date]:
    """All trading days in ``[start, end]``."""
    out = []
    d = start
    while d <= end:
        if is_trading_day(d):
            out.append(d)
        d += timedelta(days=1)
    return out


class SimClock:
    """The exchange's notion of now: wall clock + offset (or a frozen instant), NYSE sessions."""

    def __init__(self, always_open: bool = False, offset_s: float = 0.0,
                 frozen_at: datetime | None = None) -> None:
        self.always_open = always_open
        self._offset_s = float(offset_s)
        self._frozen_at = frozen_at.astimezone(UTC) if frozen_at is not None else None
        self._lock = threading.Lock()

    # -- time ------------------------------------------------------------------------------
    @property
    def offset_s(self) -> float:
        """Seconds added to the wall clock (grows with every :meth:`jump`)."""
        return self._offset_s

    def now(self) -> datetime:
        """The exchange time, aware UTC."""
        if self._frozen_at is not None:
            return self._frozen_at + timedelta(seconds=self._offset_s)
        return datetime.fromtimestamp(time.time() + self._offset_s, UTC)

    def now_epoch(self) -> float:
        """The exchange time as POSIX seconds (the stream's hot path avoids datetimes)."""
        if self._frozen_at is not None:
            return self._frozen_at.timestamp() + self._offset_s
        return time.time() + self._offset_s

    def jump(self, seconds: float) -> datetime:
        """Move the clock by ``seconds`` (negative moves it back); returns the new now."""
        with self._lock:
            self._offset_s += float(seconds)
        return self.now()

    def freeze(self, at: datetime | None) -> None:
        """Stop the clock at ``at`` (aware) for deterministic tests; ``None`` lets it run again."""
        with self._lock:
            self._frozen_at = at.astimezone(UTC) if at is not None else None
            self._offset_s = 0.0

    def _ts(self, ts: datetime | None) -> datetime:
        return self.now() if ts is None else ts.astimezone(UTC)

    # -- sessions --------------------------------------------------------------------------
    def is_trading_day(self, d: date) -> bool:
        return is_trading_day(d)

    def session_open_utc(self, d: date) -> datetime:
        return session_open_utc(d)

    def session_close_utc(self, d: date) -> datetime:
        return session_close_utc(d)

    def is_open(self, ts: datetime | None = None) -> bool:
        """Regular session open at ``ts`` (default now); always true with ``always_open``."""
        if self.always_open:
            return True
        ts = self._ts(ts)
        d = ny_date(ts)
        return is_trading_day(d) and session_open_utc(d) <= ts < session_close_utc(d)

    def next_open(self, ts: datetime | None = None) -> datetime:
        """The first session open strictly after ``ts`` (tomorrow's when the market is open)."""
        ts = self._ts(ts)
        d = ny_date(ts)
        if not (is_trading_day(d) and session_open_utc(d) > ts):
            d = next_trading_day(d)
        return session_open_utc(d)

    def next_close(self, ts: datetime | None = None) -> datetime:
        """The first session close strictly after ``ts`` (today's while the market is open)."""
        ts = self._ts(ts)
        d = ny_date(ts)
        if not (is_trading_day(d) and session_close_utc(d) > ts):
            d = next_trading_day(d)
        return session_close_utc(d)

    def calendar(self, start: date, end: date) -> list[dict]:
        """Alpaca's ``/v2/calendar`` rows for the trading days in ``[start, end]``."""
        rows = []
        for d in trading_days(start, end):
            close = session_close_utc(d).astimezone(NY)
            rows.append({
                "date": d.isoformat(),
                "open": "09:30",
                "close": f"{close.hour:02d}:{close.minute:02d}",
                "session_open": "0400",
                "session_close": "2000",
                "settlement_date": next_trading_day(d).isoformat(),  # T+1 since May 2024
            })
        return rows
