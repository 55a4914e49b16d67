"""Property tests: implied vol inverts the price; the price ladder stays between mid and natural."""

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from stockbot.domain import OptionRight
from stockbot.options.condor_manage import price_ladder
from stockbot.options.pricing import bs_price, implied_vol, price_bounds


@settings(max_examples=300, deadline=None)
@given(spot=st.floats(10, 2000), moneyness=st.floats(0.7, 1.3), days=st.integers(1, 730),
       vol=st.floats(0.02, 3.0), rate=st.floats(0.0, 0.08), q=st.floats(0.0, 0.04),
       right=st.sampled_from(list(OptionRight)))
def test_implied_vol_inverts_price(spot, moneyness, days, vol, rate, q, right):
    strike, t = spot * moneyness, days / 365
    price = bs_price(spot, strike, t, vol, rate, right, q)
    lower, upper = price_bounds(spot, strike, t, rate, right, q)
    assert lower - 1e-9 <= price <= upper + 1e-9
    iv = implied_vol(price, spot, strike, t, rate, right, q)
    if iv is not None:
        assert abs(bs_price(spot, strike, t, iv, rate, right, q) - price) <= 1e-7 * max(1.0, price)
    else:  # only when the price carries no recoverable time value
        assert price - lower <= 1e-9 * max(1.0, spot) or upper - price <= 1e-9 * max(1.0, spot)


cents = st.integers(-500, 2000).map(lambda c: Decimal(c) / 100)


@settings(max_examples=300, deadline=None)
@given(mid=cents, below=st.integers(0, 300), step=st.integers(1, 50), steps=st.integers(0, 12))
def test_ladder_bounded(mid, below, step, steps):
    nat = mid - Decimal(below) / 100
    ladder = price_ladder(mid, nat, Decimal(step) / 100, steps)
    credits = [-p for p in ladder]
    assert 1 <= len(ladder) <= steps + 1
    assert credits[0] == mid
    assert all(nat <= c <= mid for c in credits)
    assert credits == sorted(credits, reverse=True) and len(set(credits)) == len(credits)
