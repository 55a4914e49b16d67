"""The gradient-boosting screener: train (walk-forward validated), save per account, rank a universe.

Model: scikit-learn ``HistGradientBoostingClassifier`` over the features of ``features.py``,
predicting whether a symbol outperforms its universe over the next N sessions (``dataset.py``).
Its score for a symbol is ``P(outperform) - 0.5``: positive = long candidate, negative = short.

Training grows the trees in steps (``warm_start``) so the CLI can show a real progress bar, runs
the walk-forward folds, then fits the final model on every row known at the cut-off. The model is
saved under the account's ``models`` directory as ``screener-<universe>.joblib`` with a JSON
sidecar (schema version, features, training window, validation metrics, sha256 of the model
file). Both are written atomically; loading checks the hash, the schema and the universe, so a
torn write, a model from another schema or another account's universe is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from stockbot.errors import StockbotError
from stockbot.config import account_paths
from stockbot.strategies.equity.dataset import Dataset, build_dataset, summarize, walk_forward
from stockbot.strategies.equity.features import FEATURE_SCHEMA_VERSION, FEATURES, latest_features
from stockbot.strategies.equity.history import PriceHistory
from stockbot.fsutil import atomic_write_bytes, atomic_write_text

Progress = Callable[[int, int, str], None]  # (steps done, steps total, stage)
STALE_SESSIONS = 5  # a symbol whose last bar is this many sessions behind the ETF's is not ranked


class ScreenerError(StockbotError):
    """No usable model (missing, mismatched, not enough data): the caller holds, never guesses.

    Caller: skip (HOLD this cycle; an operator fix if the model stays missing).
    """


@dataclass(frozen=True)
class TrainConfig:
    """Model and training knobs. Defaults suit the S&P 500 over ~2 years of sessions."""

    max_iter: int = 200
    learning_rate: float = 0.05
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    steps: int = 10  # warm-start steps per fit (progress granularity)
    n_folds: int = 4
    min_rows: int = 200
    random_state: int = 0

    def model_params(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate, "max_leaf_nodes": self.max_leaf_nodes,
                "min_samples_leaf": self.min_samples_leaf, "l2_regularization": self.l2_regularization,
                "random_state": self.random_state, "early_stopping": False}


@dataclass(frozen=True)
class Ranked:
    """One screened symbol: its model probability and the signed score derived from it."""

    symbol: str
    prob: float
    features: dict[str, float]
    last_close: float
    last_date: str

    @property
    def score(self) -> float:
        return round(self.prob - 0.5, 6)


class Classifier(Protocol):
    """The fitted model a screener holds (scikit-learn's gradient boosting, which ships no types)."""

    def predict_proba(self, X: np.ndarray) -> np.ndarray: ...


@dataclass
class TrainedScreener:
    model: Classifier
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(X)[:, 1]

    def rank(self, histories: Mapping[str, PriceHistory], etf: str) -> list[Ranked]:
        """Score every constituent with a complete, current history; best first.

        Symbols are scored on their last completed session; one that trails the ETF by
        ``STALE_SESSIONS`` or more (halted, delisted) is left out rather than scored on old bars."""
        etf_hist = histories.get(etf)
        ref = etf_hist.dates[-STALE_SESSIONS:] if etf_hist is not None and len(etf_hist) else None
        rows, names = [], []
        for sym in sorted(histories):
            h = histories[sym]
            if sym == etf or len(h) == 0 or (ref is not None and ref.shape[0] and h.dates[-1] < ref[0]):
                continue
            feats = latest_features(h, etf_hist)
            if feats is not None:
                rows.append(feats)
                names.append(sym)
        if not rows:
            return []
        probs = self.predict(np.vstack(rows))
        out = [Ranked(sym, float(p), {k: round(float(v), 6) for k, v in zip(FEATURES, row) if np.isfinite(v)},
                      float(histories[sym].close[-1]), str(histories[sym].dates[-1]))
               for sym, p, row in zip(names, probs, rows)]
        return sorted(out, key=lambda r: (-r.prob, r.symbol))


def _fit(data: Dataset, cfg: TrainConfig, progress: Progress | None, stage: str, done: list[int],
         total: int) -> Classifier:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=1, warm_start=True, **cfg.model_params())
    per_step = max(1, cfg.max_iter // cfg.steps)
    n = 0
    while n < cfg.max_iter:
        n = min(cfg.max_iter, n + per_step)
        model.set_params(max_iter=n)
        model.fit(data.X, data.y)
        done[0] += 1
        if progress is not None:
            progress(min(done[0], total), total, stage)
    fitted: Classifier = model  # sklearn ships no types: this is where its model gets one
    return fitted


def train_screener(histories: Mapping[str, PriceHistory], *, universe: str, etf: str, cutoff: date,
                   forward_days: int, account: str | None = None, config: TrainConfig | None = None,
                   progress: Progress | None = None) -> TrainedScreener:
    """Walk-forward validate and fit a screener on everything known at ``cutoff``.

    Raises ScreenerError if there are too few rows or a single class."""
    import sklearn

    cfg = config or TrainConfig()
    data = build_dataset(histories, etf, cutoff, forward_days)
    if len(data) < cfg.min_rows or np.unique(data.y).shape[0] < 2:
        raise ScreenerError(f"not enough training data at {cutoff}: {len(data)} rows (need {cfg.min_rows}, "
                            "both classes)")
    steps_per_fit = -(-cfg.max_iter // max(1, cfg.max_iter // cfg.steps))
    total = steps_per_fit * (cfg.n_folds + 1)
    done = [0]
    folds = walk_forward(data, lambda d, stage: _fit(d, cfg, progress, stage, done, total),
                         lambda m, X: m.predict_proba(X)[:, 1], cfg.n_folds)
    done[0] = steps_per_fit * cfg.n_folds  # folds skipped for lack of data still count as done
    model = _fit(data, cfg, progress, "final model", done, total)
    meta = {
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "features": list(FEATURES),
        "universe": universe,
        "etf": etf,
        "account": account,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cutoff": cutoff.isoformat(),
        "training_window": {"first_row": str(data.dates.min()), "last_row": str(data.dates.max()),
                            "last_label": str(data.label_dates.max()), "max_bar_date": str(data.max_bar_date)},
        "forward_days": forward_days,
        "label": f"forward {forward_days}-session return above the universe median on the same date",
        "rows": len(data),
        "symbols": int(np.unique(data.symbols).shape[0]),
        "positive_share": round(float(data.y.mean()), 4),
        "model": "sklearn.ensemble.HistGradientBoostingClassifier",
        "params": {**cfg.model_params(), "max_iter": cfg.max_iter},
        "sklearn_version": sklearn.__version__,
        "validation": {"scheme": "walk-forward, purged by label date", "folds": folds, "mean": summarize(folds)},
    }
    return TrainedScreener(model, meta)


# --------------------------------------------------------------------------- persistence


def model_paths(account: str | None, universe: str) -> tuple[Path, Path]:
    """(model file, metadata file) of an account's screener for ``universe``."""
    base = account_paths(account)["models"]
    return base / f"screener-{universe}.joblib", base / f"screener-{universe}.json"


def save_screener(screener: TrainedScreener, account: str | None) -> Path:
    """Write the model, then its metadata (with the model's sha256); both atomic."""
    import joblib

    path, meta_path = model_paths(account, screener.meta["universe"])
    buf = io.BytesIO()
    joblib.dump(screener.model, buf)
    blob = buf.getvalue()
    atomic_write_bytes(path, blob)
    meta = {**screener.meta, "account": account, "model_file": path.name,
            "sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write_text(meta_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    screener.meta = meta
    return path


def load_meta(account: str | None, universe: str) -> dict[str, Any] | None:
    """The saved metadata (None if no model was saved)."""
    _, meta_path = model_paths(account, universe)
    if not meta_path.exists():
        return None
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta


def load_screener(account: str | None, universe: str) -> TrainedScreener:
    """Load and verify an account's screener; raises ScreenerError when it cannot be trusted."""
    import joblib

    path, _ = model_paths(account, universe)
    meta = load_meta(account, universe)
    if meta is None or not path.exists():
        raise ScreenerError(f"no screener trained for {universe} (run: stockbot train --account {account})")
    if meta.get("feature_schema_version") != FEATURE_SCHEMA_VERSION or meta.get("features") != list(FEATURES):
        raise ScreenerError(f"saved screener uses feature schema {meta.get('feature_schema_version')}, "
                            f"this version computes {FEATURE_SCHEMA_VERSION}: retrain")
    if meta.get("universe") != universe:
        raise ScreenerError(f"saved screener is for {meta.get('universe')!r}, not {universe!r}")
    blob = path.read_bytes()
    if hashlib.sha256(blob).hexdigest() != meta.get("sha256"):
        raise ScreenerError(f"{path.name} does not match its metadata (torn or replaced file): retrain")
    # joblib is pickle: only ever load our own account's file, whose hash we wrote ourselves.
    return TrainedScreener(joblib.load(io.BytesIO(blob)), meta)


def model_age_days(meta: Mapping[str, Any] | None, today: date) -> int | None:
    """Days since the saved model's cut-off (None without a model)."""
    if not meta or not meta.get("cutoff"):
        return None
    return (today - date.fromisoformat(meta["cutoff"])).days
