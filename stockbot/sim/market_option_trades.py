"""The option tape of the local exchange: when each listed contract trades, at what price, and the
bars those trades make (what ``/v1beta1/options/trades`` and ``/v1beta1/options/bars`` serve).

A contract trades in about one regular-session minute of ``TRADE_EVERY`` (which minutes, the
second inside it and the size come from a stable hash of the symbol and the minute, so every
process agrees), only on days its strike is listed. A trade's price is the American model's value
at that instant, rounded to the cent (at least $0.01): it lies inside the quote the sim served at
that instant. Bars aggregate these trades exactly as Alpaca's do ("OHLC aggregate of all the
trades in a given interval"): a bucket without trades has no bar. The latest trade of a snapshot
is the last trade of this tape at or before its time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterator

from stockbot.domain import OptionContract
from stockbot.sim.clock import is_trading_day, ny_date, prev_trading_day, session_close_utc, session_open_utc
from stockbot.sim.market_bars import BarTuple, TimeFrame, _month_label, _week_label, day_epoch
from stockbot.sim.market_daily import stable_int
from stockbot.sim.market_options import listing_day

UTC = timezone.utc
TRADE_EVERY = 4
LOOKBACK_DAYS = 10  # how far back a snapshot looks for its latest trade
Trade = tuple[float, float, int]  # (POSIX time, price, size in contracts)


class OptionTape:
    """Trades and bars of the listed options of one :class:`~stockbot.sim.market_options.OptionBook`."""

    def __init__(self, book) -> None:
        self.book = book
        self._prices: dict[tuple[str, float], float] = {}

    def _scheduled(self, symbol: str, minute: int) -> tuple[float, int] | None:
        """(time, size) of the trade in the minute starting at POSIX ``minute``, if there is one."""
        h = stable_int("option-trade", symbol, minute)
        if h % TRADE_EVERY:
            return None
        return float(minute + (h >> 8) % 60), 1 + (h >> 16) % 10

    def _listed_on(self, c: OptionContract, d: date) -> bool:
        return (is_trading_day(d) and listing_day(c.underlying, c.expiration) <= d <= c.expiration
                and c.strike in self.book.strikes(c.underlying, c.expiration, d))

    def price(self, c: OptionContract, t: float) -> float:
        """The trade price of ``c`` at ``t``: the model value rounded to the cent, at least $0.01."""
        key = (c.symbol, t)
        got = self._prices.get(key)
        if got is None:
            got = max(0.01, round(self.book.theo_at(c, t), 2))
            if len(self._prices) > 200_000:
                self._prices.clear()
            self._prices[key] = got
        return got

    def _day_trades(self, c: OptionContract, d: date, start: float, end: float) -> list[Trade]:
        if not self._listed_on(c, d):
            return []
        t_open, t_close = session_open_utc(d).timestamp(), session_close_utc(d).timestamp()
        lo, hi = max(start, t_open), min(end, t_close - 1e-6)
        out = []
        m = int(lo // 60) * 60
        while m <= hi:
            got = self._scheduled(c.symbol, m)
            if got is not None and lo <= got[0] <= hi and got[0] >= t_open:
                out.append((got[0], self.price(c, got[0]), got[1]))
            m += 60
        return out

    def trades(self, c: OptionContract, start: float, end: float, descending: bool = False) -> Iterator[Trade]:
        """Trades of ``c`` with ``start <= t <= end``, in time order (newest first when ``descending``)."""
        if end < start:
            return
        first, last = ny_date(datetime.fromtimestamp(start, UTC)), ny_date(datetime.fromtimestamp(end, UTC))
        last = min(last, c.expiration)
        first = max(first, listing_day(c.underlying, c.expiration))
        days = []
        d = first
        while d <= last:
            days.append(d)
            d += timedelta(days=1)
        for d in (reversed(days) if descending else days):
            day = self._day_trades(c, d, start, end)
            yield from (reversed(day) if descending else day)

    def latest(self, c: OptionContract, t: float) -> Trade | None:
        """The last trade at or before ``t`` (looking back at most ``LOOKBACK_DAYS`` sessions)."""
        d = min(ny_date(datetime.fromtimestamp(t, UTC)), c.expiration)
        for _ in range(LOOKBACK_DAYS):
            if d < listing_day(c.underlying, c.expiration):
                return None
            if self._listed_on(c, d):
                t_open = session_open_utc(d).timestamp()
                m = int(min(t, session_close_utc(d).timestamp() - 1e-6) // 60) * 60
                while m >= t_open - 59:
                    got = self._scheduled(c.symbol, m)
                    if got is not None and t_open <= got[0] <= t:
                        return got[0], self.price(c, got[0]), got[1]
                    m -= 60
            d = prev_trading_day(d)
        return None

    def bars(self, c: OptionContract, tf: TimeFrame, start: float, end: float, now: float,
             descending: bool = False) -> Iterator[BarTuple]:
        """Bars of ``c`` labelled ``start <= t <= end`` from the trades up to ``now`` (aggregated
        trades; none for an empty bucket; the current bucket holds the trades so far)."""
        label = _labeller(tf)
        # A bucket labelled inside the window holds trades from its label to the bucket's end.
        trades = self.trades(c, start, min(end + _bucket_span(tf), now), descending=False)
        out: list[BarTuple] = []
        cur: list | None = None
        for t, p, s in trades:
            b = label(t)
            if cur is None or cur[0] != b:
                if cur is not None:
                    out.append(_finish(cur))
                cur = [b, p, p, p, p, 0, 0, 0.0]
            cur[2], cur[3], cur[4] = max(cur[2], p), min(cur[3], p), p
            cur[5] += s
            cur[6] += 1
            cur[7] += p * s
        if cur is not None:
            out.append(_finish(cur))
        sel = [b for b in out if start <= b[0] <= end]
        yield from (reversed(sel) if descending else sel)


def _finish(cur: list) -> BarTuple:
    return (cur[0], cur[1], cur[2], cur[3], cur[4], cur[5], cur[6], cur[7] / cur[5])


def _bucket_span(tf: TimeFrame) -> float:
    if tf.intraday:
        return float(tf.seconds)
    return {"Day": 1, "Week": 7, "Month": 31 * tf.amount}[tf.unit] * 86400.0


def _labeller(tf: TimeFrame):
    if tf.intraday:
        step = tf.seconds
        return lambda t: float(int(t // step) * step)
    if tf.unit == "Day":
        return lambda t: day_epoch(ny_date(datetime.fromtimestamp(t, UTC)))
    if tf.unit == "Week":
        return _week_label
    return _month_label(tf.amount)
