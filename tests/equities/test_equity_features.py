"""Feature schema: known values, and no feature ever reads a bar after its own session."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from equity_helpers import histories
from stockbot.strategies.equity.features import (FEATURES, MIN_HISTORY, feature_matrix, forward_returns,
                                        latest_features)
from stockbot.strategies.equity.history import PriceHistory


def col(name: str) -> int:
    return FEATURES.index(name)


def flat_history(closes, volume=1e6) -> PriceHistory:
    c = np.asarray(closes, dtype=float)
    n = c.shape[0]
    dates = np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-01-01") + n)
    return PriceHistory("T", dates, c, c * 1.01, c * 0.99, c, np.full(n, volume))


def test_known_values_on_a_steady_climb():
    h = flat_history(100 * 1.01 ** np.arange(80))
    row = feature_matrix(h)[-1]
    assert row[col("ret_1d")] == pytest.approx(0.01)
    assert row[col("ret_5d")] == pytest.approx(1.01 ** 5 - 1)
    assert row[col("ret_63d")] == pytest.approx(1.01 ** 63 - 1)
    assert row[col("mom_63_5")] == pytest.approx(1.01 ** 58 - 1)
    assert row[col("vol_21d")] == pytest.approx(0.0, abs=1e-9)  # constant log returns
    assert row[col("rsi_14")] == pytest.approx(1.0)  # only gains
    assert row[col("pos_63")] == pytest.approx(1.0)  # at the top of its range
    assert row[col("range_14")] == pytest.approx(0.02)
    assert row[col("volume_z_21")] == pytest.approx(0.0)  # constant volume
    assert np.isnan(row[col("rel_ret_5d")])  # no ETF given


def test_rows_without_full_lookback_are_nan():
    h = histories(["AAA"], 120)["AAA"]
    m = feature_matrix(h)
    assert np.isnan(m[: MIN_HISTORY - 1]).all()
    core = [i for i, n in enumerate(FEATURES) if not n.startswith("rel_")]
    assert not np.isnan(m[MIN_HISTORY - 1:, core]).any()
    assert latest_features(h.tail(MIN_HISTORY - 1)) is None


def test_no_feature_reads_a_later_bar():
    data = histories(["AAA", "SPY"], 200)
    h, etf = data["AAA"], data["SPY"]
    full = feature_matrix(h, etf)
    for t in (MIN_HISTORY - 1, 80, 137, 199):
        cut = h.dates[t].astype(date)
        # The same row computed from histories that END at t (ETF included) is identical.
        again = feature_matrix(h.until(cut), etf.until(cut))[t]
        np.testing.assert_allclose(again, full[t], rtol=1e-12, equal_nan=True)


def test_latest_features_needs_only_the_last_sessions():
    data = histories(["AAA", "SPY"], 400, seed=3)
    full = feature_matrix(data["AAA"], data["SPY"])[-1]
    np.testing.assert_allclose(latest_features(data["AAA"], data["SPY"]), full, rtol=1e-12, equal_nan=True)


def test_forward_returns_stop_where_the_future_is_unknown():
    c = np.array([10.0, 11.0, 12.0, 13.0])
    np.testing.assert_allclose(forward_returns(c, 2), [0.2, 13 / 11 - 1, np.nan, np.nan], equal_nan=True)
