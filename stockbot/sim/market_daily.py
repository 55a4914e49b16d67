"""Seeded daily history of the local exchange: one OHLCV bar per symbol and trading day.

Every value is a pure function of (seed, symbol, date), computed a calendar year at a time with
numpy and cached, so two processes with the same seed agree and a year of bars for 500 symbols
costs milliseconds. Model, per trading day ``d``:

- annualised volatility ``vol(d) = base_vol * exp(market regime(d) + 0.5 * symbol regime(d))``
  (slow seeded sinusoids, so implied-volatility rank moves over the year);
- log return = overnight gap (20% of the variance) + session return (80%), each a mix of a
  shared market draw (correlation ``rho``) and the symbol's own draw;
- high/low drawn from the exact distribution of a Brownian bridge's maximum/minimum between the
  open and the close, so the intraday path (market_intraday) can be built to hit them exactly;
- closes are anchored at ``ANCHOR_DATE`` (end of 2025) to a rough real price level.

A CSV of daily bars replaces the model on the dates it covers; outside them the seeded walk
continues from the first/last CSV close.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from stockbot.sim import market_symbols as ms
from stockbot.sim.clock import is_trading_day, prev_trading_day

ANCHOR_DATE = date(2025, 12, 31)
DRIFT = 0.07  # annual expected return of the simulated market
TRADING_DAYS_PER_YEAR = 252.0
GAP_SHARE = 0.2  # share of a day's variance that arrives overnight
_MASK64 = (1 << 64) - 1


def stable_int(*parts: object) -> int:
    """A 63-bit integer from the parts, identical in every process (unlike ``hash``)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def rng_for(seed: int, *parts: int) -> np.random.Generator:
    """A numpy Generator keyed by the seed and integer parts."""
    return np.random.default_rng([seed & _MASK64, *parts])


@dataclass(frozen=True, slots=True)
class SymbolParams:
    symbol: str
    sym_id: int
    anchor_price: float
    vol: float
    rho: float
    spread_bps: float
    base_volume: float
    trade_size: float


@dataclass(frozen=True, slots=True)
class DayBar:
    """One daily bar (floats; the routes round prices to 4 decimals, volume is an int)."""

    day: date
    open: float
    high: float
    low: float
    close: float
    volume: int
    trades: int
    vwap: float


def symbol_params(symbol: str) -> SymbolParams:
    """Stable per-symbol parameters: table values for known tickers, hashed ones for the rest."""
    r = random.Random(stable_int("params", symbol))
    price = ms.ANCHOR_PRICES.get(symbol) or min(1500.0, max(8.0, math.exp(r.gauss(math.log(90), 0.8))))
    vol = ms.VOLATILITY.get(symbol) or r.uniform(0.24, 0.45)
    rho = ms.MARKET_CORRELATION.get(symbol) or r.uniform(0.45, 0.75)
    spread = ms.SPREAD_BPS.get(symbol) or r.uniform(2.0, 6.0)
    big = {"SPY": 7e7, "QQQ": 4.5e7, "IWM": 3e7, "DIA": 4e6}
    volume = big.get(symbol) or math.exp(r.uniform(math.log(1.5e6), math.log(4e7)))
    return SymbolParams(symbol, stable_int("sym", symbol), float(price), float(vol), float(rho),
                        float(spread), float(volume), float(r.uniform(60, 160)))


@dataclass(slots=True)
class YearBlock:
    """Model arrays of one symbol and year, indexed by the year's trading days."""

    days: list[date]
    index: dict[date, int]
    ret: np.ndarray  # total log return of each trading day
    gap: np.ndarray  # overnight part
    up: np.ndarray  # log(high) - log(open)
    down: np.ndarray  # log(open) - log(low)  (both >= the bridge endpoints' excursion)
    vol: np.ndarray  # annualised vol of the day
    volume: np.ndarray
    cum: np.ndarray  # cumsum(ret)
    total: float


_YEAR_DAYS: dict[int, tuple[list[date], np.ndarray]] = {}


def year_trading_days(year: int) -> tuple[list[date], np.ndarray]:
    """Trading days of a year and their 0-based day-of-year indices (cached)."""
    if year not in _YEAR_DAYS:
        d0 = date(year, 1, 1).toordinal()
        n = date(year + 1, 1, 1).toordinal() - d0
        days = [date.fromordinal(d0 + i) for i in range(n) if is_trading_day(date.fromordinal(d0 + i))]
        _YEAR_DAYS[year] = (days, np.array([d.toordinal() - d0 for d in days], dtype=np.int64))
    return _YEAR_DAYS[year]


class DailyModel:
    """Daily OHLCV of any symbol for any trading day, deterministic in (seed, symbol, date)."""

    def __init__(self, seed: int = 0, bars_csv: Path | None = None) -> None:
        self.seed = int(seed)
        self._params: dict[str, SymbolParams] = {}
        self._blocks: dict[tuple[str, int], YearBlock] = {}
        self._year_bars: dict[tuple[str, int], list[DayBar]] = {}
        self._bases: dict[tuple[str, date], dict[int, float]] = {}
        self._market: dict[int, np.ndarray] = {}
        r = random.Random(stable_int("regime", self.seed))
        self._mkt_phase = (r.uniform(0, 2 * math.pi), r.uniform(0, 2 * math.pi))
        self._csv: dict[str, dict[date, DayBar]] = load_bars_csv(bars_csv) if bars_csv else {}
        self._csv_span = {s: (min(rows), max(rows)) for s, rows in self._csv.items() if rows}

    # -- parameters ------------------------------------------------------------------------
    def params(self, symbol: str) -> SymbolParams:
        p = self._params.get(symbol)
        if p is None:
            p = self._params[symbol] = symbol_params(symbol)
        return p

    def csv_symbols(self) -> list[str]:
        return sorted(self._csv)

    def _regime(self, p: SymbolParams, ordinals: np.ndarray) -> np.ndarray:
        """log vol multiplier: shared market regime + half of a symbol-specific one."""
        n = ordinals.astype(np.float64)
        m1, m2 = self._mkt_phase
        mkt = 0.32 * np.sin(2 * np.pi * n / 181.0 + m1) + 0.18 * np.sin(2 * np.pi * n / 47.0 + m2)
        r = random.Random(stable_int("sregime", self.seed, p.symbol))
        sym = 0.3 * np.sin(2 * np.pi * n / r.uniform(60, 240) + r.uniform(0, 2 * np.pi))
        return mkt + 0.5 * sym

    def vol_on(self, symbol: str, d: date) -> float:
        """Annualised volatility of ``symbol`` on ``d`` (any date; drives option IVs)."""
        p = self.params(symbol)
        return float(p.vol * math.exp(self._regime(p, np.array([d.toordinal()]))[0]))

    # -- year blocks -----------------------------------------------------------------------
    def _market_draws(self, year: int) -> np.ndarray:
        z = self._market.get(year)
        if z is None:
            z = self._market[year] = rng_for(self.seed, 1, year).standard_normal((366, 2))
        return z

    def _block(self, symbol: str, year: int) -> YearBlock:
        key = (symbol, year)
        blk = self._blocks.get(key)
        if blk is not None:
            return blk
        p = self.params(symbol)
        days, doy = year_trading_days(year)
        rng = rng_for(self.seed, p.sym_id, year, 2)
        zs = rng.standard_normal((366, 3))[doy]
        u = rng.random((366, 2))[doy]
        zm = self._market_draws(year)[doy]
        ords = doy + date(year, 1, 1).toordinal()
        vol = p.vol * np.exp(self._regime(p, ords))
        sd = vol / math.sqrt(TRADING_DAYS_PER_YEAR)
        idio = math.sqrt(max(0.0, 1.0 - p.rho * p.rho))
        mu = (DRIFT - 0.5 * vol * vol) / TRADING_DAYS_PER_YEAR
        gap = math.sqrt(GAP_SHARE) * sd * (p.rho * zm[:, 0] + idio * zs[:, 0]) + GAP_SHARE * mu
        intra = math.sqrt(1 - GAP_SHARE) * sd * (p.rho * zm[:, 1] + idio * zs[:, 1]) + (1 - GAP_SHARE) * mu
        v = (1 - GAP_SHARE) * sd * sd
        u_hi = np.clip(u[:, 0], 1e-12, 1.0)
        u_lo = np.clip(u[:, 1], 1e-12, 1.0)
        # Maximum / minimum of a Brownian bridge from 0 to `intra` with variance v (exact law).
        up = 0.5 * (intra + np.sqrt(intra * intra - 2.0 * v * np.log(u_hi)))
        down = 0.5 * (-intra + np.sqrt(intra * intra - 2.0 * v * np.log(u_lo)))
        ret = gap + intra
        volume = p.base_volume * np.exp(0.35 * zs[:, 2]) * (1.0 + 0.5 * np.abs(ret) / sd)
        cum = np.cumsum(ret)
        blk = YearBlock(days, {d: i for i, d in enumerate(days)}, ret, gap, up, down, vol,
                        np.floor(volume), cum, float(cum[-1]) if len(cum) else 0.0)
        if len(self._blocks) > 4000:
            self._blocks.clear()
        self._blocks[key] = blk
        return blk

    def _base(self, symbol: str, anchor: tuple[date, float], year: int) -> float:
        """log close before the first trading day of ``year`` for the walk through ``anchor``."""
        a_day, a_log = anchor
        chain = self._bases.setdefault((symbol, a_day), {})
        if year in chain:
            return chain[year]
        ya = a_day.year
        if ya not in chain:
            blk = self._block(symbol, ya)
            chain[ya] = a_log - float(blk.cum[blk.index[a_day]])
        y = ya
        while y < year:  # base(y+1) = base(y) + total(y)
            chain[y + 1] = chain[y] + self._block(symbol, y).total
            y += 1
        while y > year:  # base(y-1) = base(y) - total(y-1)
            chain[y - 1] = chain[y] - self._block(symbol, y - 1).total
            y -= 1
        return chain[year]

    def _anchor(self, symbol: str, d: date) -> tuple[date, float]:
        span = self._csv_span.get(symbol)
        if span is None:
            return (ANCHOR_DATE, math.log(self.params(symbol).anchor_price))
        rows = self._csv[symbol]
        if d > span[1]:
            return (span[1], math.log(rows[span[1]].close))
        return (span[0], math.log(rows[span[0]].close))

    # -- bars ------------------------------------------------------------------------------
    def bar(self, symbol: str, d: date) -> DayBar:
        """The full daily bar of trading day ``d`` (ValueError for a non-trading day)."""
        if not is_trading_day(d):
            raise ValueError(f"{d} is not a trading day")
        bars = self.year_bars(symbol, d.year)
        return bars[self._block(symbol, d.year).index[d]]

    def year_bars(self, symbol: str, year: int) -> list[DayBar]:
        """All daily bars of ``year`` (cached; vectorised for model-only symbols)."""
        key = (symbol, year)
        got = self._year_bars.get(key)
        if got is not None:
            return got
        blk = self._block(symbol, year)
        span = self._csv_span.get(symbol)
        if span is not None and not (year < span[0].year or year > span[1].year):
            got = [self._bar_one(symbol, d) for d in blk.days]
        else:
            anchor = self._anchor(symbol, blk.days[0] if blk.days else date(year, 1, 1))
            log_c = self._base(symbol, anchor, year) + blk.cum
            log_o = log_c - (blk.ret - blk.gap)
            o, c = np.exp(log_o), np.exp(log_c)
            h = np.maximum(np.exp(log_o + blk.up), np.maximum(o, c))
            lo = np.minimum(np.exp(log_o - blk.down), np.minimum(o, c))
            vw = (h + lo + 2.0 * c) / 4.0
            ts = self.params(symbol).trade_size
            got = [DayBar(d, oo, hh, ll, cc, int(v), max(1, int(v / ts)), w) for d, oo, hh, ll, cc, v, w in
                   zip(blk.days, o.tolist(), h.tolist(), lo.tolist(), c.tolist(), blk.volume.tolist(), vw.tolist())]
        if len(self._year_bars) > 3000:  # ~40 KB each
            self._year_bars.clear()
        self._year_bars[key] = got
        return got

    def _bar_one(self, symbol: str, d: date) -> DayBar:
        span = self._csv_span.get(symbol)
        if span and span[0] <= d <= span[1]:
            row = self._csv[symbol].get(d)
            if row is None:  # a gap in the CSV: a flat bar at the previous CSV close
                rows = self._csv[symbol]
                c = rows[max(x for x in rows if x < d)].close
                return DayBar(d, c, c, c, c, 0, 0, c)
            return row
        anchor = self._anchor(symbol, d)
        blk = self._block(symbol, d.year)
        i = blk.index[d]
        log_c = self._base(symbol, anchor, d.year) + float(blk.cum[i])
        log_o = log_c - float(blk.ret[i] - blk.gap[i])
        o, c = math.exp(log_o), math.exp(log_c)
        h, lo = math.exp(log_o + float(blk.up[i])), math.exp(log_o - float(blk.down[i]))
        vol = int(blk.volume[i])
        p = self.params(symbol)
        h, lo = max(h, o, c), min(lo, o, c)
        return DayBar(d, o, h, lo, c, vol, max(1, int(vol / p.trade_size)), (h + lo + 2.0 * c) / 4.0)

    def close(self, symbol: str, d: date) -> float:
        """Close of trading day ``d``, or of the last trading day before ``d`` otherwise."""
        if not is_trading_day(d):
            d = prev_trading_day(d)
        return self.bar(symbol, d).close

    def closes(self, symbol: str, start: date, end: date) -> list[float]:
        """Closes of the trading days in ``[start, end]``."""
        return [self.bar(symbol, d).close for d in trading_days_between(start, end)]


def trading_days_between(start: date, end: date) -> list[date]:
    out: list[date] = []
    for y in range(start.year, end.year + 1):
        out.extend(d for d in year_trading_days(y)[0] if start <= d <= end)
    return out


def _field(row: dict[str, str], *names: str) -> str | None:
    for n in names:
        if row.get(n) not in (None, ""):
            return row[n]
    return None


def load_bars_csv(path: Path) -> dict[str, dict[date, DayBar]]:
    """Read daily bars: columns symbol, date|t|timestamp, open|o, high|h, low|l, close|c,
    volume|v (trade_count|n and vwap|vw optional). Rows on non-trading days are ignored."""
    out: dict[str, dict[date, DayBar]] = {}
    with open(path, newline="") as fh:
        for raw in csv.DictReader(fh):
            row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
            sym = (_field(row, "symbol", "ticker", "s") or "").upper()
            when = _field(row, "date", "t", "timestamp", "time")
            if not sym or not when:
                continue
            d = date.fromisoformat(when[:10]) if len(when) >= 10 and when[4] == "-" else \
                datetime.fromisoformat(when).date()
            if not is_trading_day(d):
                continue
            o, h, lo, c = (float(_field(row, a, b) or "nan") for a, b in
                           (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c")))
            if not all(math.isfinite(x) and x > 0 for x in (o, h, lo, c)):
                continue
            v = int(float(_field(row, "volume", "v") or 0))
            n = int(float(_field(row, "trade_count", "n") or max(1, v // 100)))
            vw = float(_field(row, "vwap", "vw") or (h + lo + 2 * c) / 4)
            out.setdefault(sym, {})[d] = DayBar(d, o, max(h, o, c), min(lo, o, c), c, v, n, vw)
    return out
