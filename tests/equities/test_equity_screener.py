"""Screener: walk-forward training without look-ahead, learning a planted signal, and persistence."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from equity_helpers import END, histories
from stockbot.config import account_paths
from stockbot.strategies.equity.dataset import build_dataset
from stockbot.strategies.equity.history import PriceHistory
from stockbot.strategies.equity.screener import (ScreenerError, TrainConfig, load_screener, model_paths, save_screener,
                                        train_screener)

SYMBOLS = [f"S{a}{b}" for a in "AB" for b in "ABCDEFGHIJ"] + ["SPY"]
FAST = TrainConfig(max_iter=20, steps=4, n_folds=3, min_rows=100)
CUTOFF = date(2026, 9, 30)


def poison_after(data: dict[str, PriceHistory], cutoff: date) -> dict[str, PriceHistory]:
    """The same histories, with every bar after ``cutoff`` replaced by absurd values."""
    out = {}
    for s, h in data.items():
        late = h.dates > np.datetime64(cutoff)
        bad = lambda a: np.where(late, a * 1000.0 + 12345.0, a)  # noqa: E731
        out[s] = replace(h, open=bad(h.open), high=bad(h.high), low=bad(h.low), close=bad(h.close),
                         volume=bad(h.volume))
    return out


def train(data, **kw):
    args = dict(universe="sp500", etf="SPY", cutoff=CUTOFF, forward_days=5, config=FAST)
    return train_screener(data, **{**args, **kw})


def test_dataset_reads_no_bar_after_the_cutoff():
    data = histories(SYMBOLS, 320)
    ds = build_dataset(data, "SPY", CUTOFF, 5)
    assert len(ds) > 1000
    assert ds.max_bar_date <= CUTOFF and ds.label_dates.max() <= np.datetime64(CUTOFF)
    poisoned = build_dataset(poison_after(data, CUTOFF), "SPY", CUTOFF, 5)
    np.testing.assert_array_equal(ds.X, poisoned.X)
    np.testing.assert_array_equal(ds.y, poisoned.y)
    np.testing.assert_array_equal(ds.label_dates, poisoned.label_dates)
    assert "SPY" not in set(ds.symbols)  # the ETF is context, never a candidate


def test_training_is_identical_whatever_happens_after_the_cutoff():
    data = histories(SYMBOLS, 320)
    clean = train(data)
    poisoned = train(poison_after(data, CUTOFF))
    truncated = train({s: h.until(CUTOFF) for s, h in data.items()})
    probe = build_dataset(data, "SPY", CUTOFF, 5).X[:200]
    for other in (poisoned, truncated):
        np.testing.assert_array_equal(clean.predict(probe), other.predict(probe))
        assert other.meta["validation"] == clean.meta["validation"]
        assert other.meta["training_window"] == clean.meta["training_window"]
    assert date.fromisoformat(clean.meta["training_window"]["max_bar_date"]) <= CUTOFF


def test_walk_forward_folds_are_purged():
    s = train(histories(SYMBOLS, 320))
    folds = s.meta["validation"]["folds"]
    assert len(folds) == 3
    for f in folds:
        # Every training label was known before the validation block began.
        assert f["train_label_end"] < f["valid_start"] <= f["valid_end"]
    assert [f["valid_start"] for f in folds] == sorted(f["valid_start"] for f in folds)


def test_the_model_learns_a_planted_signal():
    noisy = train(histories(SYMBOLS, 400, momentum=0.0), cutoff=END)
    signal = train(histories(SYMBOLS, 400, momentum=1.0), cutoff=END)
    assert signal.meta["validation"]["mean"]["auc"] > 0.55
    assert signal.meta["validation"]["mean"]["long_short_spread"] > 0
    assert signal.meta["validation"]["mean"]["auc"] > noisy.meta["validation"]["mean"]["auc"]


def test_progress_reaches_the_total_in_order():
    seen = []
    train(histories(SYMBOLS, 320), progress=lambda done, total, stage: seen.append((done, total, stage)))
    dones = [d for d, _, _ in seen]
    assert dones == sorted(dones) and dones[-1] == seen[-1][1] and seen[-1][2] == "final model"


def test_too_little_data_is_refused():
    with pytest.raises(ScreenerError, match="not enough"):
        train(histories(["SAA", "SPY"], 80))


def test_rank_orders_by_probability_and_skips_stale_symbols():
    data = histories(SYMBOLS, 320)
    s = train(data, cutoff=END)
    data["SAB"] = data["SAB"].until(date(2026, 10, 1))  # stopped trading weeks ago
    ranked = s.rank(data, "SPY")
    assert [r.symbol for r in ranked if r.symbol in ("SAB", "SPY")] == []
    assert len(ranked) == len(SYMBOLS) - 2
    assert [r.prob for r in ranked] == sorted((r.prob for r in ranked), reverse=True)
    assert all(r.score == pytest.approx(r.prob - 0.5, abs=1e-6) for r in ranked)


def test_save_and_load_round_trip_with_checks():
    data = histories(SYMBOLS, 320)
    s = train(data, cutoff=END)
    path = save_screener(s, "acct")
    assert path.parent == account_paths("acct")["models"]
    loaded = load_screener("acct", "sp500")
    probe = build_dataset(data, "SPY", END, 5).X[:50]
    np.testing.assert_array_equal(loaded.predict(probe), s.predict(probe))
    meta = loaded.meta
    for key in ("feature_schema_version", "features", "training_window", "validation", "cutoff", "sha256"):
        assert key in meta
    with pytest.raises(ScreenerError, match="not 'nasdaq100'|no screener"):
        load_screener("acct", "nasdaq100")
    with pytest.raises(ScreenerError, match="no screener"):
        load_screener("other", "sp500")  # another account never sees this model
    model_file, meta_file = model_paths("acct", "sp500")
    model_file.write_bytes(model_file.read_bytes() + b"x")
    with pytest.raises(ScreenerError, match="does not match"):
        load_screener("acct", "sp500")
    save_screener(s, "acct")
    bad = json.loads(meta_file.read_text())
    bad["feature_schema_version"] = 0
    meta_file.write_text(json.dumps(bad))
    with pytest.raises(ScreenerError, match="schema"):
        load_screener("acct", "sp500")
