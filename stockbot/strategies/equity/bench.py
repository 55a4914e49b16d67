"""Benchmark: screening the full S&P 500 universe (features + prediction), time and memory.

``measure_screening()`` builds deterministic synthetic daily histories for every constituent of
the committed S&P 500 list plus SPY (``sessions`` sessions each, a seeded random walk with a mild
momentum effect so the model has something to fit), trains a screener on them (timed separately:
training is the weekly job, not the screen), then times ``TrainedScreener.rank`` — the features of
every symbol's last session and one ``predict_proba`` over the universe — ``repeats`` times.
Memory: the peak of Python allocations during one extra, untimed screen (``tracemalloc``) and the
process's peak RSS (which includes training). No network, no broker: the fetch is a separate cost (one request per 100 symbols).

Run: ``python -m stockbot.strategies.equity.bench``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import time
import tracemalloc
from datetime import date, timedelta
from typing import Any

import numpy as np

from stockbot.strategies.equity.features import latest_features
from stockbot.strategies.equity.history import PriceHistory
from stockbot.strategies.equity.screener import TrainConfig, train_screener
from stockbot.strategies.equity.universes import load_universe


def synthetic_histories(symbols: list[str], sessions: int, *, seed: int = 7, end: date = date(2026, 11, 17),
                        momentum: float = 0.15) -> dict[str, PriceHistory]:
    """Seeded OHLCV walks on weekdays ending at ``end``; each day's return carries ``momentum``
    times the symbol's average idiosyncratic return of the previous 20 days (a plantable signal)."""
    days: list[date] = []
    d = end
    while len(days) < sessions:
        if d.weekday() < 5:
            days.append(d)
        d -= timedelta(days=1)
    dates = np.array(sorted(days), dtype="datetime64[D]")
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0003, 0.01, sessions)
    out = {}
    for sym in symbols:
        eps = rng.normal(0, 0.018, sessions)
        r = 0.6 * market + eps
        # Momentum: a share of the last 20 days' idiosyncratic drift carries into today.
        drift = np.convolve(eps, np.ones(20) / 20, mode="full")[:sessions]
        r[1:] += momentum * drift[:-1]
        close = 50.0 * np.exp(rng.uniform(0, 3)) * np.exp(np.cumsum(r))
        spread = np.abs(rng.normal(0, 0.01, sessions)) * close
        open_ = close * np.exp(rng.normal(0, 0.004, sessions))
        out[sym] = PriceHistory(sym, dates, open_, np.maximum(open_, close) + spread,
                                np.minimum(open_, close) - spread, close,
                                np.floor(rng.lognormal(14.5, 0.4, sessions)))
    return out


def _rss_mb() -> float:
    """Peak resident memory of this process (MB).

    VmHWM belongs to this process's own address space. ru_maxrss is not used on Linux: it keeps the
    high-water mark of the address space the process had before exec, i.e. its parent's at fork
    time (a benchmark started from a 1.2 GB parent reported 1.3 GB here)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if platform.system() == "Darwin" else 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / scale / 1024


def measure_screening(universe: str = "sp500", sessions: int = 550, repeats: int = 5,
                      config: TrainConfig | None = None) -> dict[str, Any]:
    """Time and memory of screening the full universe; returns a dict of measurements."""
    import sklearn

    uni = load_universe(universe)
    symbols = [*uni.constituents, uni.etf]
    histories = synthetic_histories(symbols, sessions)
    cutoff = max(d for d in (h.last_date for h in histories.values()) if d is not None)
    cfg = config or TrainConfig(max_iter=100, n_folds=3, steps=5)
    t0 = time.perf_counter()
    screener = train_screener(histories, universe=uni.name, etf=uni.etf, cutoff=cutoff, forward_days=5, config=cfg)
    train_s = time.perf_counter() - t0
    screener.rank(histories, uni.etf)  # warm-up: imports, first-call allocations
    runs, feats, preds = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ranked = screener.rank(histories, uni.etf)
        runs.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        rows = [latest_features(histories[s], histories[uni.etf]) for s in uni.constituents]
        feats.append(time.perf_counter() - t0)
        X = np.vstack([r for r in rows if r is not None])
        t0 = time.perf_counter()
        screener.predict(X)
        preds.append(time.perf_counter() - t0)
    # Memory separately: tracemalloc slows every allocation, so it must not be in the timed runs.
    tracemalloc.start()
    screener.rank(histories, uni.etf)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "universe": uni.name, "symbols_ranked": len(ranked), "constituents": len(uni.constituents),
        "sessions_per_symbol": sessions, "repeats": repeats,
        "screen_s_median": round(statistics.median(runs), 4), "screen_s_min": round(min(runs), 4),
        "features_s_median": round(statistics.median(feats), 4), "predict_s_median": round(statistics.median(preds), 4),
        "screen_peak_alloc_mb": round(peak / 2**20, 2), "process_peak_rss_mb": round(_rss_mb(), 1),
        "train_s": round(train_s, 2), "train_rows": screener.meta["rows"],
        "validation_auc": screener.meta["validation"]["mean"]["auc"],
        "model": {"max_iter": cfg.max_iter, "n_folds": cfg.n_folds},
        "python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__,
        "cpus": os.cpu_count(),
    }


if __name__ == "__main__":  # pragma: no cover - manual benchmark entry point
    print(json.dumps(measure_screening(), indent=2))
