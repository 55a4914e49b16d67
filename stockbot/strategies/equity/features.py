"""The screener's feature schema: numbers computed from one symbol's completed daily bars.

Every feature at session ``t`` is a function of the bars at ``t`` and before only — never of a
later bar (a test recomputes each row from a history cut at ``t`` and gets the same numbers). A row
needs ``MIN_HISTORY`` sessions; earlier rows are NaN and never used. The schema is versioned:
a saved model records ``FEATURE_SCHEMA_VERSION`` and the feature names, and a model trained on a
different schema is refused rather than fed columns it was not trained on.

Schema v1 (``r_k`` = simple return over k sessions, ``lr`` = daily log return):

==================  ===========================================================================
ret_1d, ret_5d,     close[t] / close[t-k] - 1 for k = 1, 5, 21, 63
ret_21d, ret_63d
mom_63_5            close[t-5] / close[t-63] - 1: medium-term momentum without the last week
vol_21d, vol_63d    standard deviation of ``lr`` over 21 / 63 sessions, annualised (x sqrt 252)
vol_ratio           vol_21d / vol_63d: is volatility expanding or contracting
rsi_14              Cutler's RSI over 14 sessions (simple averages of gains and losses), 0..1
volume_z_21         z-score of log(volume[t]) against the 21 sessions before t
dist_sma_10,        close[t] / simple moving average of the last 10 / 50 closes - 1
dist_sma_50
range_14            mean of (high - low) / close over 14 sessions (an ATR-like range)
pos_63              where close[t] sits in the 63-session low..high range, 0..1
rel_ret_5d,         ret_5d / ret_21d minus the index ETF's over the same sessions (relative
rel_ret_21d         strength); NaN when the ETF has no bar that day
==================  ===========================================================================

The label (training only) is the forward return ``close[t+N] / close[t] - 1`` with N =
``EQUITY_FORWARD_DAYS``; see ``screener.py`` for how it becomes a class.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stockbot.strategies.equity.history import PriceHistory

FEATURE_SCHEMA_VERSION = 1
FEATURES: tuple[str, ...] = (
    "ret_1d", "ret_5d", "ret_21d", "ret_63d", "mom_63_5", "vol_21d", "vol_63d", "vol_ratio", "rsi_14",
    "volume_z_21", "dist_sma_10", "dist_sma_50", "range_14", "pos_63", "rel_ret_5d", "rel_ret_21d",
)
MAX_LOOKBACK = 63
MIN_HISTORY = MAX_LOOKBACK + 1  # sessions a row needs (t - 63 must exist)
_SQRT_252 = math.sqrt(252.0)


def _lag_ratio(x: np.ndarray, k: int) -> np.ndarray:
    """x[t] / x[t-k] - 1, NaN for t < k."""
    out = np.full(x.shape, np.nan)
    if x.shape[0] > k:
        out[k:] = x[k:] / x[:-k] - 1.0
    return out


def _rolling(x: np.ndarray, window: int, fn: str, *, ddof: int = 0) -> np.ndarray:
    """Rolling statistic over x[t-window+1..t] (inclusive), NaN until the window is full."""
    out = np.full(x.shape, np.nan)
    if x.shape[0] >= window:
        view = sliding_window_view(x, window)
        if fn == "mean":
            out[window - 1:] = view.mean(axis=1)
        elif fn == "std":
            out[window - 1:] = view.std(axis=1, ddof=ddof)
        elif fn == "min":
            out[window - 1:] = view.min(axis=1)
        elif fn == "max":
            out[window - 1:] = view.max(axis=1)
        else:  # pragma: no cover - programming error
            raise ValueError(fn)
    return out


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """x[t-k] at position t (NaN for t < k)."""
    out = np.full(x.shape, np.nan)
    if x.shape[0] > k:
        out[k:] = x[:-k]
    return out


def _rsi(close: np.ndarray, window: int = 14) -> np.ndarray:
    diff = np.full(close.shape, np.nan)
    diff[1:] = np.diff(close)
    gain = _rolling(np.where(np.isnan(diff), np.nan, np.maximum(diff, 0.0)), window, "mean")
    loss = _rolling(np.where(np.isnan(diff), np.nan, np.maximum(-diff, 0.0)), window, "mean")
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, gain / total, 0.5)


def _etf_aligned(hist: PriceHistory, etf: PriceHistory | None, k: int) -> np.ndarray:
    """The ETF's k-session return on each of ``hist``'s dates (NaN where it has no bar)."""
    out = np.full(len(hist), np.nan)
    if etf is None or len(etf) == 0:
        return out
    etf_ret = _lag_ratio(etf.close, k)
    idx = np.searchsorted(etf.dates, hist.dates)
    ok = (idx < len(etf)) & (etf.dates[np.minimum(idx, len(etf) - 1)] == hist.dates)
    out[ok] = etf_ret[idx[ok]]
    return out


def feature_matrix(hist: PriceHistory, etf: PriceHistory | None = None) -> np.ndarray:
    """Features of every session of ``hist`` (rows) in ``FEATURES`` order (columns); NaN where a
    row lacks history. Uses only bars at or before each row."""
    c, h, lo, v = hist.close, hist.high, hist.low, hist.volume
    n = c.shape[0]
    if n == 0:
        return np.empty((0, len(FEATURES)))
    lr = np.full(n, np.nan)
    lr[1:] = np.log(c[1:] / c[:-1])
    ret5, ret21 = _lag_ratio(c, 5), _lag_ratio(c, 21)
    vol21 = _rolling(lr, 21, "std", ddof=1) * _SQRT_252
    vol63 = _rolling(lr, 63, "std", ddof=1) * _SQRT_252
    logv = np.log(np.maximum(v, 1.0))
    prev_v = _shift(logv, 1)
    v_mean, v_std = _rolling(prev_v, 21, "mean"), _rolling(prev_v, 21, "std", ddof=1)
    lo63, hi63 = _rolling(c, 63, "min"), _rolling(c, 63, "max")
    with np.errstate(invalid="ignore", divide="ignore"):
        cols = {
            "ret_1d": _lag_ratio(c, 1),
            "ret_5d": ret5,
            "ret_21d": ret21,
            "ret_63d": _lag_ratio(c, 63),
            "mom_63_5": _shift(c, 5) / _shift(c, 63) - 1.0,
            "vol_21d": vol21,
            "vol_63d": vol63,
            "vol_ratio": np.where(vol63 > 0, vol21 / vol63, np.nan),
            "rsi_14": _rsi(c, 14),
            "volume_z_21": np.where(v_std > 0, (logv - v_mean) / v_std, 0.0),
            "dist_sma_10": c / _rolling(c, 10, "mean") - 1.0,
            "dist_sma_50": c / _rolling(c, 50, "mean") - 1.0,
            "range_14": _rolling((h - lo) / c, 14, "mean"),
            "pos_63": np.where(hi63 > lo63, (c - lo63) / (hi63 - lo63), 0.5),
            "rel_ret_5d": ret5 - _etf_aligned(hist, etf, 5),
            "rel_ret_21d": ret21 - _etf_aligned(hist, etf, 21),
        }
    out = np.column_stack([cols[name] for name in FEATURES])
    out[: MIN_HISTORY - 1] = np.nan  # a row is complete only with the full lookback behind it
    # Where the row's inputs were NaN the derived fallbacks (0.5, 0.0) must not pretend otherwise.
    out[np.isnan(vol63), :] = np.nan
    return out


def latest_features(hist: PriceHistory, etf: PriceHistory | None = None) -> np.ndarray | None:
    """The feature row of the last session, or None if the history is too short or incomplete.

    The ETF-relative columns may be NaN (the model handles missing values); the others may not."""
    if len(hist) < MIN_HISTORY:
        return None
    # Every feature of the last row reads at most the last MIN_HISTORY sessions (tested), so the
    # rest of the history need not be computed: this is what makes screening 500 names cheap.
    row = feature_matrix(hist.tail(MIN_HISTORY), etf)[-1]
    core = [i for i, name in enumerate(FEATURES) if not name.startswith("rel_")]
    return None if np.isnan(row[core]).any() else row


def forward_returns(close: np.ndarray, n: int) -> np.ndarray:
    """close[t+n] / close[t] - 1 at t; NaN for the last n sessions (their future is unknown)."""
    out = np.full(close.shape, np.nan)
    if close.shape[0] > n:
        out[:-n] = close[n:] / close[:-n] - 1.0
    return out
