"""The exchange clock of the local exchange: NYSE sessions, holidays, early closes, time jumps.

Sessions come from ``exchange_calendars`` (the XNYS calendar), which is the reference for NYSE
holidays, early closes and unscheduled closures (9/11, Hurricane Sandy, national days of
mourning). It replaced hand-written rules: the sessions agree 2000-2040, the early closes differ
on 2002-07-03/05 and 2003-12-26, where exchange_calendars follows the historical record.

The calendar is built once per process for ``CALENDAR_START``..``CALENDAR_END`` (wide enough for
the 1999-2018 market replay and twenty years ahead) and turned into plain ``date`` sets and
dicts, so the many clock queries of the sim never touch pandas. A date outside those bounds
raises :class:`OutsideCalendar` (a ValueError) instead of guessing. The build costs are in
BENCHMARKS.md.

Regular session 09:30-16:00 America/New_York (13:00 on early-close days). ``always_open`` makes
:meth:`SimClock.is_open` true at any hour (demos); the calendar itself and the market's price path
are unaffected by it. ``jump`` moves the clock (the clock-jump fault).
"""

from __future__ import annotations

import threading
import time
import warnings
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from stockbot.errors import StockbotError

NY = ZoneInfo("America/New_York")
UTC = timezone.utc
OPEN_HM = (9, 30)
CLOSE_HM = (16, 0)
EARLY_CLOSE_HM = (13, 0)
CALENDAR_NAME = "XNYS"
CALENDAR_START = date(1998, 1, 1)
CALENDAR_END = date(2040, 12, 31)


class OutsideCalendar(StockbotError, ValueError):
    """A date the exchange calendar was not built for.

    Caller: operator fix (a sim clock set outside the calendar's years).
    """


@dataclass(frozen=True, slots=True)
class _Calendar:
    sessions: frozenset[date]
    closes: dict[date, datetime]  # session -> its close, aware UTC
    early: frozenset[date]
    holiday_names: dict[date, str]  # weekday closures -> name ("special closure" for ad-hoc ones)


_BUILD_LOCK = threading.Lock()
_CAL: _Calendar | None = None


def _build() -> _Calendar:
    import exchange_calendars as xc  # deferred: pandas + the calendar cost ~1 s, paid once
    import pandas as pd

    with warnings.catch_warnings():  # exchange_calendars 4.13 trips pandas' Series.values deprecation
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        cal = xc.get_calendar(CALENDAR_NAME, start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat())
        sessions = [ts.date() for ts in cal.sessions]
        closes = dict(zip(sessions, (ts.to_pydatetime().astimezone(UTC) for ts in cal.closes)))
    early = frozenset(ts.date() for ts in cal.early_closes
                      if CALENDAR_START <= ts.date() <= CALENDAR_END)
    lo, hi = pd.Timestamp(CALENDAR_START), pd.Timestamp(CALENDAR_END)
    names = {ts.date(): str(n) for ts, n in
             cal.regular_holidays.holidays(lo, hi, return_name=True).items()}
    session_set = frozenset(sessions)
    holiday_names: dict[date, str] = {}
    d = CALENDAR_START
    while d <= CALENDAR_END:
        if d.weekday() < 5 and d not in session_set:
            holiday_names[d] = names.get(d, "special closure")
        d += timedelta(days=1)
    return _Calendar(session_set, closes, early, holiday_names)


def _calendar() -> _Calendar:
    global _CAL
    if _CAL is None:
        with _BUILD_LOCK:
            if _CAL is None:
                _CAL = _build()
    return _CAL


def _check(d: date) -> None:
    if not CALENDAR_START <= d <= CALENDAR_END:
        raise OutsideCalendar(f"{d} is outside the {CALENDAR_NAME} calendar "
                              f"({CALENDAR_START}..{CALENDAR_END}); widen CALENDAR_START/END in stockbot/sim/clock.py")


@lru_cache(maxsize=256)
def nyse_holidays(year: int) -> dict[date, str]:
    """Full-day NYSE closures of ``year`` (weekday dates only), with the calendar's names."""
    _check(date(year, 1, 1))
    _check(date(year, 12, 31))
    return {d: n for d, n in _calendar().holiday_names.items() if d.year == year}


@lru_cache(maxsize=256)
def nyse_early_closes(year: int) -> frozenset[date]:
    """The 13:00 closes of ``year``."""
    _check(date(year, 1, 1))
    _check(date(year, 12, 31))
    return frozenset(d for d in _calendar().early if d.year == year)


def is_trading_day(d: date) -> bool:
    """True on XNYS sessions (weekdays that are not NYSE holidays or closures)."""
    _check(d)
    return d in _calendar().sessions


def _at(d: date, hm: tuple[int, int]) -> datetime:
    return datetime(d.year, d.month, d.day, hm[0], hm[1], tzinfo=NY).astimezone(UTC)


@lru_cache(maxsize=8192)
def session_open_utc(d: date) -> datetime:
    """09:30 New York on ``d`` as aware UTC (whether or not ``d`` is a trading day)."""
    _check(d)
    return _at(d, OPEN_HM)


@lru_cache(maxsize=8192)
def session_close_utc(d: date) -> datetime:
    """The regular close (16:00, or 13:00 on early-close days) of ``d`` as aware UTC; 16:00 on a
    day that is not a session."""
    _check(d)
    got = _calendar().closes.get(d)
    return got if got is not None else _at(d, CLOSE_HM)


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
