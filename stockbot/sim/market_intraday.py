"""Intraday price path of one symbol for one trading day, at one-second resolution.

The segment of trading day ``d`` runs from the previous close to ``d``'s close: an overnight part
(previous close -> ``d``'s open) and the session (open -> close). Both are Brownian bridges on a
one-minute grid seeded by (seed, symbol, day), with a small within-minute wiggle taken from a
fixed table of unit bridges, so the price at any second is a pure function of (seed, symbol,
time) and costs a table lookup. The session path is then bent by a monotone map so that its
maximum and minimum are exactly the daily model's high and low: the daily bar of ``d`` (open,
high, low, close) and the path agree to the cent, for today's partial bar and for history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from stockbot.sim.clock import prev_trading_day, session_close_utc, session_open_utc
from stockbot.sim.market_daily import GAP_SHARE, DailyModel, DayBar, rng_for

_SHAPES_N = 64
_LIN = np.arange(61, dtype=np.float64) / 60.0


def _unit_bridges() -> np.ndarray:
    """64 standard Brownian bridges over 60 one-second steps (zero at both ends)."""
    rng = np.random.default_rng(20240611)
    w = np.concatenate([np.zeros((_SHAPES_N, 1)), np.cumsum(rng.standard_normal((_SHAPES_N, 60)) / math.sqrt(60), axis=1)], axis=1)
    return w - w[:, -1:] * _LIN[None, :]


SHAPES = _unit_bridges()


def _bridge(rng: np.random.Generator, start: float, end: float, n: int, sd: float) -> np.ndarray:
    """n+1 log prices from ``start`` to ``end``: a Brownian bridge with per-step stdev ``sd``."""
    if n <= 0:
        return np.array([start, end][: max(1, n + 1)])
    w = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n) * sd)])
    frac = np.arange(n + 1, dtype=np.float64) / n
    return start + (end - start) * frac + (w - w[-1] * frac)


@dataclass(slots=True)
class DayPath:
    """The path of one (symbol, trading day) segment; all prices in log space until `price`."""

    day: date
    bar: DayBar
    seg_start: float  # epoch of the previous close
    open_epoch: float
    close_epoch: float
    g_on: np.ndarray  # overnight minute grid (log)
    idx_on: np.ndarray
    amp_on: float
    g_s: np.ndarray  # session minute grid (log, before the high/low map)
    idx_s: np.ndarray
    amp_s: float
    lb: float = 0.0  # band [lb, hb] = [min(o,c), max(o,c)] is left alone by the map
    hb: float = 0.0
    up_scale: float = 0.0
    dn_scale: float = 0.0
    overrides: dict[tuple[int, int], float] = field(default_factory=dict)
    minute_hi: np.ndarray | None = None  # mapped (log) per session minute
    minute_lo: np.ndarray | None = None
    minute_vol: np.ndarray | None = None  # shares per session minute (sums to the day's volume)

    # -- the high/low map ------------------------------------------------------------------
    def _map(self, x: np.ndarray) -> np.ndarray:
        y = np.where(x > self.hb, self.hb + (x - self.hb) * self.up_scale, x)
        return np.where(x < self.lb, self.lb - (self.lb - x) * self.dn_scale, y)

    def session_rows(self, k0: int = 0, k1: int | None = None) -> np.ndarray:
        """Mapped log prices of session minutes k0..k1-1, one row of 61 seconds each."""
        g = self.g_s
        k1 = len(g) - 1 if k1 is None else k1
        rows = (g[k0:k1, None] + (g[k0 + 1:k1 + 1] - g[k0:k1])[:, None] * _LIN[None, :]
                + self.amp_s * SHAPES[self.idx_s[k0:k1]])
        out = self._map(rows)
        for (k, j), v in self.overrides.items():
            if k0 <= k < k1:
                out[k - k0, j] = v
        return out

    def overnight_rows(self, k0: int = 0, k1: int | None = None) -> np.ndarray:
        g = self.g_on
        k1 = len(g) - 1 if k1 is None else k1
        return (g[k0:k1, None] + (g[k0 + 1:k1 + 1] - g[k0:k1])[:, None] * _LIN[None, :]
                + self.amp_on * SHAPES[self.idx_on[k0:k1]])

    def minute_prices(self, part: str, k: int) -> list[float]:
        """The 61 second prices (not logs) of minute ``k`` of ``part`` ('s' or 'o')."""
        rows = self.session_rows(k, k + 1) if part == "s" else self.overnight_rows(k, k + 1)
        return np.exp(rows[0]).tolist()

    @property
    def session_minutes(self) -> int:
        return len(self.g_s) - 1

    @property
    def overnight_minutes(self) -> int:
        return len(self.g_on) - 1


def build_day_path(model: DailyModel, symbol: str, d: date) -> DayPath:
    """Construct the (deterministic) path of ``symbol`` for trading day ``d``."""
    p = model.params(symbol)
    bar = model.bar(symbol, d)
    prev = prev_trading_day(d)
    prev_close = model.bar(symbol, prev).close
    seg_start = session_close_utc(prev).timestamp()
    t_open = session_open_utc(d).timestamp()
    t_close = session_close_utc(d).timestamp()
    n_on = int(round((t_open - seg_start) / 60))
    n_s = int(round((t_close - t_open) / 60))
    rng = rng_for(model.seed, p.sym_id, d.toordinal(), 3)
    sd_day = model.vol_on(symbol, d) / math.sqrt(252.0)
    sd_s = sd_day * math.sqrt((1 - GAP_SHARE) / n_s)
    sd_on = 0.5 * sd_day * math.sqrt(GAP_SHARE / max(n_on, 1))
    lo_, lc = math.log(bar.open), math.log(bar.close)
    g_on = _bridge(rng, math.log(prev_close), lo_, n_on, sd_on)
    g_s = _bridge(rng, lo_, lc, n_s, sd_s)
    idx = rng.integers(0, _SHAPES_N, size=n_on + n_s)
    path = DayPath(d, bar, seg_start, t_open, t_close, g_on, idx[:n_on], sd_on, g_s, idx[n_on:], sd_s)
    _fit_high_low(path, math.log(bar.high), math.log(bar.low))
    vol_noise = 0.7 + 0.6 * (path.idx_s / (_SHAPES_N - 1))
    x = (np.arange(n_s) + 0.5) / n_s
    weights = (1.0 + 2.0 * (2.0 * x - 1.0) ** 2) * vol_noise  # U-shaped intraday volume
    mv = np.floor(bar.volume * weights / weights.sum())
    mv[-1] += bar.volume - mv.sum()
    path.minute_vol = mv
    return path


def _fit_high_low(path: DayPath, log_h: float, log_l: float) -> None:
    """Set the monotone map so the session's max is log_h and its min log_l, exactly."""
    g = path.g_s
    raw = (g[:-1, None] + (g[1:] - g[:-1])[:, None] * _LIN[None, :] + path.amp_s * SHAPES[path.idx_s])
    path.lb, path.hb = min(g[0], g[-1]), max(g[0], g[-1])
    top, bottom = float(raw.max()), float(raw.min())
    log_h, log_l = max(log_h, path.hb), min(log_l, path.lb)
    if log_h - path.hb > 1e-12:
        if top - path.hb > 1e-12:
            path.up_scale = (log_h - path.hb) / (top - path.hb)
        else:  # the path never rose above its ends: touch the high at its best interior second
            inner = raw[:, 1:60]
            k, j = np.unravel_index(int(np.argmax(inner)), inner.shape)
            path.overrides[(int(k), int(j) + 1)] = log_h
    if path.lb - log_l > 1e-12:
        if path.lb - bottom > 1e-12:
            path.dn_scale = (path.lb - log_l) / (path.lb - bottom)
        else:
            inner = raw[:, 1:60]
            k, j = np.unravel_index(int(np.argmin(inner)), inner.shape)
            if (int(k), int(j) + 1) in path.overrides:  # cannot share the high's second
                j = (j + 29) % 59
            path.overrides[(int(k), int(j) + 1)] = log_l
    mapped = path.session_rows()
    path.minute_hi = mapped.max(axis=1)
    path.minute_lo = mapped.min(axis=1)
