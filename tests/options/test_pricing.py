"""Table tests for Black-Scholes prices, greeks and implied volatility."""

import math

import pytest

from stockbot.domain import OptionRight
from stockbot.options.pricing import Greeks, bs_greeks, bs_price, implied_vol, norm_cdf, price_bounds

C, P = OptionRight.CALL, OptionRight.PUT


@pytest.mark.parametrize(
    "spot, strike, t, vol, rate, q, right, expected",
    [
        # Textbook values (Hull; the classic ATM 1y 20% 5% case).
        (100, 100, 1.0, 0.20, 0.05, 0.0, C, 10.450583572185565),
        (100, 100, 1.0, 0.20, 0.05, 0.0, P, 5.573526022256971),
        (42, 40, 0.5, 0.20, 0.10, 0.0, C, 4.759422392871535),
        (42, 40, 0.5, 0.20, 0.10, 0.0, P, 0.8085993729000975),
        # Merton with a dividend yield (Hull example 17.? index option: S=930,K=900,r=8%,q=3%,T=2/12,vol=20%)
        (930, 900, 2 / 12, 0.20, 0.08, 0.03, C, 51.83),
    ],
)
def test_bs_price_reference(spot, strike, t, vol, rate, q, right, expected):
    tol = 1e-9 if expected != 51.83 else 0.01
    assert bs_price(spot, strike, t, vol, rate, right, q) == pytest.approx(expected, abs=tol)


@pytest.mark.parametrize("spot, strike", [(100, 80), (100, 100), (100, 120), (600, 640), (600, 560)])
@pytest.mark.parametrize("t, vol, rate, q", [(1.0, 0.2, 0.05, 0.0), (30 / 365, 0.15, 0.04, 0.013), (2 / 365, 0.6, 0.0, 0.0)])
def test_put_call_parity(spot, strike, t, vol, rate, q):
    c = bs_price(spot, strike, t, vol, rate, C, q)
    p = bs_price(spot, strike, t, vol, rate, P, q)
    assert c - p == pytest.approx(spot * math.exp(-q * t) - strike * math.exp(-rate * t), abs=1e-9)


@pytest.mark.parametrize(
    "spot, strike, right, expected",
    [(100, 90, C, 10.0), (100, 110, C, 0.0), (100, 110, P, 10.0), (100, 90, P, 0.0), (100, 100, C, 0.0)],
)
@pytest.mark.parametrize("t", [0.0, -0.01])
def test_expired_is_intrinsic(spot, strike, right, expected, t):
    assert bs_price(spot, strike, t, 0.3, 0.05, right) == expected


@pytest.mark.parametrize(
    "spot, strike, right, delta",
    [(100, 90, C, 1.0), (100, 110, C, 0.0), (100, 100, C, 0.5), (100, 110, P, -1.0), (100, 90, P, 0.0), (100, 100, P, -0.5)],
)
def test_expired_greeks(spot, strike, right, delta):
    assert bs_greeks(spot, strike, 0.0, 0.3, 0.05, right) == Greeks(delta, 0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "spot, strike, right, expected",
    [
        (100, 90, C, 100 - 90 * math.exp(-0.05)),  # discounted forward intrinsic
        (100, 110, C, 0.0),
        (100, 110, P, 110 * math.exp(-0.05) - 100),
        (100, 90, P, 0.0),
    ],
)
def test_zero_vol_limit(spot, strike, right, expected):
    assert bs_price(spot, strike, 1.0, 0.0, 0.05, right) == pytest.approx(expected, abs=1e-12)
    # a tiny but positive vol converges to the same limit
    assert bs_price(spot, strike, 1.0, 1e-9, 0.05, right) == pytest.approx(expected, abs=1e-9)
    g = bs_greeks(spot, strike, 1.0, 0.0, 0.05, right)
    assert g.gamma == 0.0 and g.vega == 0.0
    assert abs(g.delta) in (0.0, 1.0)


def test_price_continuous_near_expiry():
    assert bs_price(100, 90, 1e-10, 0.2, 0.05, C) == pytest.approx(10.0, abs=1e-6)
    assert bs_price(100, 110, 1e-10, 0.2, 0.05, C) == pytest.approx(0.0, abs=1e-12)


def _fd(fn, x, h):
    return (fn(x + h) - fn(x - h)) / (2 * h)


@pytest.mark.parametrize("right", [C, P])
@pytest.mark.parametrize(
    "spot, strike, t, vol, rate, q",
    [(100, 100, 1.0, 0.2, 0.05, 0.0), (600, 630, 35 / 365, 0.14, 0.043, 0.012), (600, 560, 10 / 365, 0.25, 0.04, 0.0),
     (50, 45, 0.25, 0.6, 0.01, 0.03)],
)
def test_greeks_match_finite_differences(spot, strike, t, vol, rate, q, right):
    g = bs_greeks(spot, strike, t, vol, rate, right, q)
    price = lambda **kw: bs_price(**{**dict(spot=spot, strike=strike, t_years=t, vol=vol, rate=rate, right=right, q=q), **kw})
    delta = _fd(lambda s: price(spot=s), spot, 1e-5 * spot)
    gamma = (price(spot=spot * 1.001) - 2 * price() + price(spot=spot * 0.999)) / (1e-3 * spot) ** 2
    vega = _fd(lambda v: price(vol=v), vol, 1e-5) * 0.01
    rho = _fd(lambda r: price(rate=r), rate, 1e-5) * 0.01
    theta = -_fd(lambda tt: price(t_years=tt), t, 1e-6) / 365  # per calendar day, time passing
    assert g.delta == pytest.approx(delta, rel=1e-5, abs=1e-8)
    assert g.gamma == pytest.approx(gamma, rel=1e-3, abs=1e-8)
    assert g.vega == pytest.approx(vega, rel=1e-5, abs=1e-8)
    assert g.rho == pytest.approx(rho, rel=1e-5, abs=1e-8)
    assert g.theta == pytest.approx(theta, rel=1e-4, abs=1e-8)


def test_greeks_reference_atm():
    g = bs_greeks(100, 100, 1.0, 0.2, 0.05, C)
    assert g.delta == pytest.approx(norm_cdf(0.35), abs=1e-12)
    assert g.gamma == pytest.approx(0.018762017345846895, rel=1e-12)
    assert g.vega == pytest.approx(0.3752403469169379, rel=1e-12)  # per vol point
    assert g.theta == pytest.approx(-6.414027546438197 / 365, rel=1e-9)
    assert g.theta < 0 and bs_greeks(100, 100, 1.0, 0.2, 0.05, P).delta == pytest.approx(g.delta - 1)


@pytest.mark.parametrize("right", [C, P])
@pytest.mark.parametrize("strike", [60, 90, 100, 110, 160])
@pytest.mark.parametrize("vol", [0.03, 0.15, 0.45, 1.5, 4.0])
@pytest.mark.parametrize("t", [1 / 365, 30 / 365, 2.0])
def test_implied_vol_round_trip(right, strike, vol, t):
    price = bs_price(100, strike, t, vol, 0.04, right, 0.01)
    lower, _ = price_bounds(100, strike, t, 0.04, right, 0.01)
    iv = implied_vol(price, 100, strike, t, 0.04, right, 0.01)
    if price - lower < 1e-9 * 100:  # vol not identifiable: price is the bound to machine precision
        assert iv is None or bs_price(100, strike, t, iv, 0.04, right, 0.01) == pytest.approx(price, abs=1e-8)
        return
    assert iv is not None
    assert bs_price(100, strike, t, iv, 0.04, right, 0.01) == pytest.approx(price, abs=1e-8 * max(1, price))
    if price - lower > 1e-4:  # enough time value for the vol itself to be sharp
        assert iv == pytest.approx(vol, rel=1e-5)


@pytest.mark.parametrize(
    "price, spot, strike, t, right, why",
    [
        (5.0, 100, 90, 0.5, C, "below intrinsic"),
        (-1.0, 100, 100, 0.5, C, "negative"),
        (100.0, 100, 100, 0.5, C, "at the upper bound (spot)"),
        (150.0, 100, 100, 0.5, C, "above the upper bound"),
        (2.0, 100, 100, 0.0, C, "expired"),
        (2.0, 100, 100, -1.0, P, "past expiry"),
        (float("nan"), 100, 100, 0.5, C, "nan"),
        (2.0, 0, 100, 0.5, C, "zero spot"),
        (99.0, 100, 100, 0.5, P, "put above discounted strike"),
    ],
)
def test_implied_vol_none(price, spot, strike, t, right, why):
    assert implied_vol(price, spot, strike, t, 0.05, right) is None, why


def test_implied_vol_at_lower_bound_is_zero():
    lower, _ = price_bounds(100, 90, 0.5, 0.05, C)
    assert implied_vol(lower, 100, 90, 0.5, 0.05, C) == 0.0


def test_implied_vol_beyond_vol_max_is_none():
    price = bs_price(100, 100, 1.0, 4.0, 0.0, C)
    assert implied_vol(price, 100, 100, 1.0, 0.0, C, vol_max=3.0) is None
    assert implied_vol(price, 100, 100, 1.0, 0.0, C, vol_max=5.0) == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [dict(spot=0), dict(spot=-1), dict(strike=0), dict(vol=-0.1), dict(spot=float("nan")), dict(right="straddle")],
)
def test_bad_inputs_raise(kwargs):
    args = dict(spot=100, strike=100, t_years=1.0, vol=0.2, rate=0.05, right=C) | kwargs
    with pytest.raises(ValueError):
        bs_price(**args)
    with pytest.raises(ValueError):
        bs_greeks(**args)


def test_accepts_string_rights_and_decimals():
    from decimal import Decimal

    assert bs_price(Decimal("100"), Decimal("100"), 1.0, 0.2, 0.05, "call") == pytest.approx(10.450583572185565)
