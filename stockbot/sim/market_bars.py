"""Bars of any Alpaca timeframe built from the market's daily model and intraday paths.

A bar is a plain tuple ``(t_epoch, open, high, low, close, volume, trades, vwap)`` so the routes
can page through tens of thousands of them without object overhead. Minute bars come from the
one-second path (only complete minutes), N-minute / N-hour bars aggregate them on UTC-aligned
buckets, day bars are the daily model (today: the session so far), week and month bars aggregate
day bars (labelled Monday / the 1st, midnight New York).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, timedelta, timezone
from typing import Iterator

import numpy as np

from stockbot.sim.clock import NY, is_trading_day, ny_date, trading_day_for
from stockbot.sim.market_daily import DayBar

UTC = timezone.utc
BarTuple = tuple  # (t, o, h, l, c, v, n, vw)
_TF_RE = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNITS = {"Min": "Min", "T": "Min", "Hour": "Hour", "H": "Hour", "Day": "Day", "D": "Day",
          "Week": "Week", "W": "Week", "Month": "Month", "M": "Month"}


@dataclass(frozen=True, slots=True)
class TimeFrame:
    amount: int
    unit: str  # Min | Hour | Day | Week | Month

    @property
    def intraday(self) -> bool:
        return self.unit in ("Min", "Hour")

    @property
    def seconds(self) -> int:
        return self.amount * (60 if self.unit == "Min" else 3600)


def parse_timeframe(text: str) -> TimeFrame:
    """``1Min``, ``5T``, ``1Hour``, ``1Day``, ``1Week``, ``3Month``...; ValueError when invalid."""
    m = _TF_RE.fullmatch(text or "")
    if not m:
        raise ValueError(f"invalid timeframe: {text!r}")
    n, unit = int(m.group(1)), _UNITS[m.group(2)]
    ok = {"Min": 1 <= n <= 59, "Hour": 1 <= n <= 23, "Day": n == 1, "Week": n == 1,
          "Month": n in (1, 2, 3, 4, 6, 12)}[unit]
    if not ok:
        raise ValueError(f"invalid timeframe: {text!r}")
    return TimeFrame(n, unit)


@lru_cache(maxsize=65536)
def day_epoch(d: date) -> float:
    """Midnight New York of ``d`` as POSIX seconds (Alpaca's daily bar timestamp)."""
    return datetime(d.year, d.month, d.day, tzinfo=NY).timestamp()


def _day_tuple(b: DayBar) -> BarTuple:
    return (day_epoch(b.day), b.open, b.high, b.low, b.close, b.volume, b.trades, b.vwap)


def minute_bars(market, sym: str, d: date, now: float, extended: bool) -> list[BarTuple]:
    """Complete one-minute bars of trading day ``d``'s segment (session; plus the overnight part
    when ``extended``), ascending."""
    path = market.day_path(sym, d)
    ts = market.daily.params(sym).trade_size
    out: list[BarTuple] = []
    if extended and path.overnight_minutes > 0:
        n_done = min(path.overnight_minutes, int((now - path.seg_start) // 60))
        if n_done > 0:
            rows = np.exp(path.overnight_rows(0, n_done))
            vols = (path.idx_on[:n_done] + 1) * max(1.0, path.bar.volume / 400000.0)
            for k in range(n_done):
                r = rows[k]
                o, c, h, lo = float(r[0]), float(r[60]), float(r.max()), float(r.min())
                v = int(vols[k])
                out.append((path.seg_start + 60 * k, o, h, lo, c, v, max(1, int(v / ts)), (h + lo + 2 * c) / 4))
    n_done = min(path.session_minutes, int((now - path.open_epoch) // 60))
    if n_done > 0:
        rows = np.exp(path.session_rows(0, n_done))
        his, los = np.exp(path.minute_hi[:n_done]), np.exp(path.minute_lo[:n_done])
        for k in range(n_done):
            o, c, h, lo = float(rows[k, 0]), float(rows[k, 60]), float(his[k]), float(los[k])
            v = int(path.minute_vol[k])
            out.append((path.open_epoch + 60 * k, o, h, lo, c, v, max(1, int(v / ts)), (h + lo + 2 * c) / 4))
    return out


def _aggregate(bars: list[BarTuple], label) -> list[BarTuple]:
    """Merge consecutive bars that share ``label(t)`` into one (volume-weighted vwap)."""
    out: list[BarTuple] = []
    cur = None
    for b in bars:
        key = label(b[0])
        if cur is not None and cur[0] == key:
            t, o, h, lo, _c, v, n, pv = cur
            cur = [t, o, max(h, b[2]), min(lo, b[3]), b[4], v + b[5], n + b[6], pv + b[7] * b[5]]
        else:
            if cur is not None:
                out.append(_finish(cur))
            cur = [key, b[1], b[2], b[3], b[4], b[5], b[6], b[7] * b[5]]
    if cur is not None:
        out.append(_finish(cur))
    return out


def _finish(cur: list) -> BarTuple:
    t, o, h, lo, c, v, n, pv = cur
    return (t, o, h, lo, c, v, n, pv / v if v else c)


def _week_label(t: float) -> float:
    d = datetime.fromtimestamp(t, NY).date()
    return day_epoch(d - timedelta(days=d.weekday()))


def _month_label(amount: int):
    def label(t: float) -> float:
        d = datetime.fromtimestamp(t, NY).date()
        m0 = (d.month - 1) // amount * amount + 1
        return day_epoch(date(d.year, m0, 1))
    return label


def iter_bars(market, sym: str, tf: TimeFrame, start: float, end: float, now: float,
              descending: bool = False) -> Iterator[BarTuple]:
    """Bars of ``sym`` with ``start <= t <= end`` (``end`` capped at ``now``), in time order
    (newest first when ``descending``). Lazy: a page of 1,000 minute bars builds only a few days."""
    end = min(end, now)
    if end < start:
        return
    if tf.intraday:
        yield from _iter_intraday(market, sym, tf, start, end, now, descending)
        return
    pad = timedelta(days=40 if tf.unit != "Day" else 1)
    first = datetime.fromtimestamp(start, NY).date() - (pad if tf.unit != "Day" else timedelta(0))
    last = datetime.fromtimestamp(end, NY).date()
    days = [_day_tuple(b) for b in market.day_bars(sym, first, last, now)]
    if tf.unit == "Week":
        days = _aggregate(days, _week_label)
    elif tf.unit == "Month":
        days = _aggregate(days, _month_label(tf.amount))
    sel = [b for b in days if start <= b[0] <= end]
    yield from (reversed(sel) if descending else sel)


def _iter_intraday(market, sym: str, tf: TimeFrame, start: float, end: float, now: float,
                   descending: bool) -> Iterator[BarTuple]:
    extended = bool(getattr(market.clock, "always_open", False))
    step = tf.seconds
    # Buckets starting at `start` may hold minutes from just before it when the bucket is wider.
    d_first = trading_day_for(datetime.fromtimestamp(start - step, UTC))
    d_last = trading_day_for(datetime.fromtimestamp(end, UTC))
    days = []
    d = d_first
    while d <= d_last:
        if is_trading_day(d):
            days.append(d)
        d += timedelta(days=1)
    if descending:
        days.reverse()
    for d in days:
        mins = minute_bars(market, sym, d, now, extended)
        if step > 60:
            mins = _aggregate(mins, lambda t: math.floor(t / step) * step)
        sel = [b for b in mins if start <= b[0] <= end]
        yield from (reversed(sel) if descending else sel)


def latest_minute_bar(market, sym: str, now: float) -> BarTuple | None:
    """The last complete minute bar at or before ``now`` (searching back a few trading days)."""
    d = trading_day_for(datetime.fromtimestamp(now, UTC))
    for _ in range(6):
        bars = minute_bars(market, sym, d, now, bool(getattr(market.clock, "always_open", False)))
        if bars:
            return bars[-1]
        d = d - timedelta(days=1)
        while not is_trading_day(d):
            d -= timedelta(days=1)
    return None


def daily_pair(market, sym: str, now: float) -> tuple[BarTuple | None, BarTuple | None]:
    """(latest daily bar, the one before) as of ``now`` (today's partial bar once open)."""
    today = ny_date(datetime.fromtimestamp(now, UTC))
    bars = market.day_bars(sym, today - timedelta(days=14), today, now)
    latest = _day_tuple(bars[-1]) if bars else None
    prev = _day_tuple(bars[-2]) if len(bars) > 1 else None
    return latest, prev
