"""Training rows for the screener and the walk-forward validation scheme. No look-ahead, by design.

``build_dataset`` cuts every history at the training cut-off *before* computing anything, so no
bar after the cut-off can reach a feature or a label. A row at session ``t`` is kept only if its
label is known by the cut-off (the bar ``t + N`` exists), and it records that label's date.

Label: 1 if the symbol's forward N-session return beats the median forward return of the universe
on the same date (it outperformed its index peers), else 0. Ranking the universe is what the
strategy needs (long the top, short the bottom), and a cross-sectional label is neutral to the
market's direction. A date with a single symbol falls back to "forward return > 0".

Walk-forward: the later half of the dates is split into consecutive validation blocks. For each
block the model is trained only on rows whose *label date* is before the block starts (a purge:
no training label overlaps the validation period) and scored on the block. The final model is
then trained on every row; the validation numbers describe how this recipe did out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Mapping, TypeVar

import numpy as np

from stockbot.strategies.equity.features import FEATURES, MIN_HISTORY, feature_matrix, forward_returns
from stockbot.strategies.equity.history import PriceHistory

CORE = np.array([not name.startswith("rel_") for name in FEATURES])


@dataclass(frozen=True)
class Dataset:
    """Rows of (symbol, date): features ``X``, class ``y``, forward return, and the label's date."""

    X: np.ndarray
    y: np.ndarray
    fwd: np.ndarray
    dates: np.ndarray  # datetime64[D]
    label_dates: np.ndarray  # datetime64[D]: the session whose close the label reads
    symbols: np.ndarray
    cutoff: date

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def rows(self, mask: np.ndarray) -> "Dataset":
        return Dataset(self.X[mask], self.y[mask], self.fwd[mask], self.dates[mask], self.label_dates[mask],
                       self.symbols[mask], self.cutoff)

    @property
    def max_bar_date(self) -> date | None:
        """The latest session any row reads (a feature or a label); never after the cut-off."""
        if len(self) == 0:
            return None
        last: date = max(self.dates.max(), self.label_dates.max()).astype(date)
        return last


def cross_sectional_labels(fwd: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """1 where the forward return beats its date's median (single-symbol dates: beats zero)."""
    y = np.zeros(fwd.shape[0], dtype=np.int8)
    if fwd.shape[0] == 0:
        return y
    order = np.argsort(dates, kind="stable")
    _, starts = np.unique(dates[order], return_index=True)
    for group in np.split(order, starts[1:]):
        ref = np.median(fwd[group]) if group.shape[0] > 1 else 0.0
        y[group] = fwd[group] > ref
    return y


def build_dataset(histories: Mapping[str, PriceHistory], etf: str, cutoff: date, forward_days: int) -> Dataset:
    """Every labelled row available at ``cutoff`` (the ETF itself is context, not a candidate)."""
    cut = {s: h.until(cutoff) for s, h in histories.items()}
    etf_hist = cut.get(etf)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("X", "fwd", "dates", "label_dates", "symbols")}
    for sym in sorted(cut):
        h = cut[sym]
        if sym == etf or len(h) < MIN_HISTORY + forward_days:
            continue
        feats = feature_matrix(h, etf_hist)
        fwd = forward_returns(h.close, forward_days)
        ok = ~np.isnan(feats[:, CORE]).any(axis=1) & np.isfinite(fwd)
        idx = np.nonzero(ok)[0]
        parts["X"].append(feats[idx])
        parts["fwd"].append(fwd[idx])
        parts["dates"].append(h.dates[idx])
        parts["label_dates"].append(h.dates[idx + forward_days])
        parts["symbols"].append(np.full(idx.shape[0], sym, dtype="U16"))
    if not parts["X"]:
        empty_d = np.array([], dtype="datetime64[D]")
        return Dataset(np.empty((0, len(FEATURES))), np.array([], dtype=np.int8), np.array([]), empty_d, empty_d,
                       np.array([], dtype="U16"), cutoff)
    X = np.vstack(parts["X"])
    fwd = np.concatenate(parts["fwd"])
    dates = np.concatenate(parts["dates"])
    return Dataset(X, cross_sectional_labels(fwd, dates), fwd, dates, np.concatenate(parts["label_dates"]),
                   np.concatenate(parts["symbols"]), cutoff)


# --------------------------------------------------------------------------- validation metrics


def long_short_spread(prob: np.ndarray, fwd: np.ndarray, dates: np.ndarray, share: float = 0.1) -> float | None:
    """Mean over dates of (forward return of the top ``share`` by probability - the bottom's)."""
    spreads = []
    order = np.argsort(dates, kind="stable")
    _, starts = np.unique(dates[order], return_index=True)
    for group in np.split(order, starts[1:]):
        if group.shape[0] < 2:
            continue
        k = max(1, int(round(group.shape[0] * share)))
        ranked = group[np.argsort(-prob[group], kind="stable")]
        spreads.append(float(fwd[ranked[:k]].mean() - fwd[ranked[-k:]].mean()))
    return float(np.mean(spreads)) if spreads else None


def fold_metrics(prob: np.ndarray, data: Dataset) -> dict[str, Any]:
    """AUC, accuracy, top-decile hit rate and long/short spread of predictions on ``data``."""
    from sklearn.metrics import roc_auc_score

    out: dict[str, Any] = {"rows": len(data), "dates": int(np.unique(data.dates).shape[0])}
    out["auc"] = float(roc_auc_score(data.y, prob)) if np.unique(data.y).shape[0] == 2 else None
    out["accuracy"] = float(np.mean((prob >= 0.5) == (data.y == 1))) if len(data) else None
    top = prob >= np.quantile(prob, 0.9) if len(data) else np.zeros(0, dtype=bool)
    out["top_decile_hit_rate"] = float(data.y[top].mean()) if top.any() else None
    out["long_short_spread"] = long_short_spread(prob, data.fwd, data.dates)
    return out


def summarize(folds: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean of each metric over the folds that have it."""
    keys = ("auc", "accuracy", "top_decile_hit_rate", "long_short_spread")
    return {k: (float(np.mean(vals)) if (vals := [f[k] for f in folds if f.get(k) is not None]) else None)
            for k in keys}


def validation_blocks(data: Dataset, n_folds: int, min_train_dates: int = 40) -> list[tuple[date, date]]:
    """Consecutive (first, last) date blocks covering the later half of the dates."""
    udates = np.unique(data.dates)
    start = max(udates.shape[0] // 2, min_train_dates)
    if udates.shape[0] - start < n_folds:
        return []
    return [(b[0].astype(date), b[-1].astype(date)) for b in np.array_split(udates[start:], n_folds) if b.shape[0]]


Model = TypeVar("Model")  # whatever ``fit`` returns and ``predict`` takes


def walk_forward(data: Dataset, fit: Callable[[Dataset, str], Model], predict: Callable[[Model, np.ndarray], np.ndarray],
                 n_folds: int = 4) -> list[dict[str, Any]]:
    """Train on rows whose label date precedes each block, score the block; one dict per fold."""
    folds = []
    for i, (first, last) in enumerate(validation_blocks(data, n_folds)):
        f0, f1 = np.datetime64(first, "D"), np.datetime64(last, "D")
        train = data.rows(data.label_dates < f0)
        val = data.rows((data.dates >= f0) & (data.dates <= f1))
        if len(train) == 0 or len(val) == 0 or np.unique(train.y).shape[0] < 2:
            continue
        model = fit(train, f"fold {i + 1}/{n_folds}")
        metrics = fold_metrics(predict(model, val.X), val)
        folds.append({"fold": i + 1, "train_rows": len(train), "train_end": str(train.dates.max()),
                      "train_label_end": str(train.label_dates.max()), "valid_start": first.isoformat(),
                      "valid_end": last.isoformat(), **metrics})
    return folds
