"""Table tests for IV rank (implied, bootstrapped from realized volatility) and the ATM IV pick."""

import math
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stockbot.domain import OptionQuote, OptionRight
from stockbot.options.ivrank import (IVRankMethod, atm_iv, iv_rank, rank_in_range, realized_vol,
                                     rolling_realized_vol)
from stockbot.options.occ import occ_symbol, parse_occ
from stockbot.options.pricing import implied_vol


@pytest.mark.parametrize(
    "current, window, expected",
    [(0.20, [0.10, 0.20, 0.30], 0.5), (0.10, [0.10, 0.30], 0.0), (0.30, [0.10, 0.30], 1.0),
     (0.15, [0.15, 0.15, 0.15], 0.5), (0.40, [0.10, 0.30], 1.0), (0.05, [0.10, 0.30], 0.0),
     (0.25, [0.10, 0.30, 0.25], 0.75)],
)
def test_rank_in_range(current, window, expected):
    assert rank_in_range(current, window) == pytest.approx(expected)


def test_iv_rank_implied_uses_lookback_window():
    # 300 points: an old spike at 0.90 falls outside the 252-session lookback.
    history = [0.90] + [0.10 + 0.001 * (i % 100) for i in range(298)] + [0.15]
    r = iv_rank(history, lookback=252, min_history=60)
    assert r.method is IVRankMethod.IMPLIED
    assert r.samples == 252
    assert r.high < 0.90 and r.low == pytest.approx(0.10)
    assert r.value == pytest.approx((0.15 - r.low) / (r.high - r.low))
    assert r.percent == pytest.approx(100 * r.value)


@pytest.mark.parametrize(
    "n_iv, min_history, expected",
    [(59, 60, IVRankMethod.REALIZED), (60, 60, IVRankMethod.IMPLIED), (5, 5, IVRankMethod.IMPLIED),
     (0, 60, IVRankMethod.REALIZED)],
)
def test_iv_rank_bootstrap_boundary(n_iv, min_history, expected):
    ivs = [0.1 + 0.01 * i for i in range(n_iv)]
    closes = [100 * math.exp(0.01 * math.sin(i)) for i in range(80)]
    r = iv_rank(ivs, closes, min_history=min_history)
    assert r.method is expected
    assert 0.0 <= r.value <= 1.0
    if expected is IVRankMethod.IMPLIED:
        assert r.value == 1.0  # increasing series: today is the max


def test_iv_rank_skips_missing_points():
    ivs = [0.1, None, float("nan"), 0.0, 0.3, 0.2]
    r = iv_rank(ivs, min_history=3)
    assert r.method is IVRankMethod.IMPLIED and r.samples == 3 and r.value == pytest.approx(0.5)


@pytest.mark.parametrize("closes", [[], [100.0] * 21, [100 + i for i in range(21)]])
def test_iv_rank_none_without_data(closes):
    r = iv_rank([0.2] * 3, closes, min_history=60, rv_window=20)
    assert r.method is IVRankMethod.NONE and r.value is None and r.percent is None and r.reason


def test_iv_rank_bad_closes_is_none():
    r = iv_rank([], [100, 0, 101] * 10)
    assert r.method is IVRankMethod.NONE and "bad closes" in r.reason


def test_realized_rank_high_after_volatile_tail():
    calm = [100 * (1 + 0.001 * ((-1) ** i)) for i in range(100)]
    wild = [calm[-1] * (1 + 0.03 * ((-1) ** i)) for i in range(21)]
    r = iv_rank([], calm + wild)
    assert r.method is IVRankMethod.REALIZED and r.value == pytest.approx(1.0)
    assert r.current > 0.3


def test_realized_vol_known_value():
    # alternating +/- r log returns: sample stdev = r * sqrt(n/(n-1)), annualised by sqrt(252)
    r = 0.01
    closes = [100.0]
    for i in range(20):
        closes.append(closes[-1] * math.exp(r if i % 2 == 0 else -r))
    expected = r * math.sqrt(20 / 19) * math.sqrt(252)
    assert realized_vol(closes, window=20) == pytest.approx(expected, rel=1e-12)
    assert len(rolling_realized_vol(closes, window=20)) == 1
    assert realized_vol(closes[:20], window=20) is None
    assert realized_vol([Decimal("100")] * 21, window=20) == 0.0


@pytest.mark.parametrize("bad", [[100, -1, 100], [100, float("inf"), 100]])
def test_rolling_realized_vol_rejects_bad(bad):
    with pytest.raises(ValueError):
        rolling_realized_vol(bad * 10, window=5)


def test_invalid_parameters():
    with pytest.raises(ValueError):
        iv_rank([0.2], lookback=1)
    with pytest.raises(ValueError):
        rolling_realized_vol([100.0] * 10, window=1)


def _q(exp, right, strike, iv):
    c = parse_occ(occ_symbol("SPY", exp, right, Decimal(strike)))
    return OptionQuote(c, Decimal("1"), Decimal("1.1"), datetime(2025, 1, 2, tzinfo=timezone.utc), iv=iv)


def test_atm_iv_picks_nearest_expiration_and_strike():
    today = date(2025, 1, 2)
    near, target, far = date(2025, 1, 10), date(2025, 1, 31), date(2025, 3, 21)
    chain = [
        _q(near, OptionRight.CALL, 600, 0.50),
        _q(target, OptionRight.CALL, 595, 0.30), _q(target, OptionRight.CALL, 600, 0.20),
        _q(target, OptionRight.PUT, 600, 0.24), _q(target, OptionRight.PUT, 605, 0.40),
        _q(far, OptionRight.CALL, 600, 0.10),
    ]
    assert atm_iv(chain, 601, today) == pytest.approx(0.22)
    assert atm_iv(chain, Decimal("601"), today, target_dte=7) == pytest.approx(0.50)


@pytest.mark.parametrize("iv", [None, 0.0, float("nan")])
def test_atm_iv_without_feed_ivs(iv):
    today = date(2025, 1, 2)
    q = _q(date(2025, 1, 31), OptionRight.CALL, 600, iv)
    # No usable feed IV: implied from the two-sided mid (local_greeks), nothing from a one-sided one.
    assert atm_iv([q], 600, today) == pytest.approx(implied_vol(1.05, 600, 600, 29 / 365, 0.0, OptionRight.CALL))
    assert atm_iv([replace(q, bid=Decimal(0))], 600, today) is None
    assert atm_iv([], 600, today) is None


def test_atm_iv_ignores_expired():
    today = date(2025, 1, 31)
    assert atm_iv([_q(date(2025, 1, 31), OptionRight.CALL, 600, 0.2)], 600, today) is None
