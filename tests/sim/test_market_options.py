"""Option listing and pricing of the sim: expirations, strike grid, parity, greeks, smile, IV."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from stockbot.domain import OptionRight
from stockbot.options.occ import occ_symbol
from stockbot.sim.clock import SimClock, is_trading_day
from stockbot.sim.greeks_omit import DEEP_ITM_DELTA
from stockbot.sim.market import Market
from stockbot.sim.market_options import RATE, SECONDS_PER_YEAR, expirations, third_friday

UTC = timezone.utc
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> Market:
    return Market(SimClock(frozen_at=T0), seed=0)


@pytest.fixture(scope="module")
def spy_chain(market):
    chain = defaultdict(dict)  # expiration -> (strike, right) -> snapshot
    for c in market.option_contracts("SPY"):
        chain[c.expiration][(c.strike, c.right)] = market.options.snapshot_of(c, T0)
    return chain


def test_expirations_weekly_monthly_and_holiday_thursdays():
    today = date(2026, 11, 18)
    exps = expirations("SPY", today)
    fridays = [e for e in exps if e.weekday() == 4]
    assert len([e for e in exps if e <= today + timedelta(weeks=8)]) >= 8
    for month in range(1, 6):  # monthly third Fridays ~6 months out
        y, m = (2026 + (10 + month) // 12, (10 + month) % 12 + 1)
        assert third_friday(y, m) in exps
    assert max(exps) >= today + timedelta(days=180)
    assert all(is_trading_day(e) for e in exps) and exps == sorted(exps)
    # Daily expirations for the coming week on SPY, not on AAPL.
    assert {date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 23)} <= set(exps)
    assert date(2026, 11, 19) not in expirations("AAPL", today)
    # Good Friday 2027 (March 26): the weekly expires Thursday.
    spring = expirations("AAPL", date(2027, 3, 1))
    assert date(2027, 3, 25) in spring and date(2027, 3, 26) not in spring
    assert fridays


def test_spy_strike_grid(market):
    contracts = market.option_contracts("SPY")
    spot = float(market.price("SPY"))
    exp = sorted({c.expiration for c in contracts})[3]
    strikes = sorted({c.strike for c in contracts if c.expiration == exp})
    near = [k for k in strikes if abs(float(k) - spot) <= 0.2 * spot]
    assert all(b - a == 1 for a, b in zip(near, near[1:]))  # $1 steps near the money
    far = [k for k in strikes if float(k) > spot * 1.3]
    assert far and all(k % 5 == 0 for k in far)
    assert min(strikes) <= Decimal(spot * 0.55) and max(strikes) >= Decimal(spot * 1.45)
    assert {c.right for c in contracts} == {OptionRight.CALL, OptionRight.PUT}
    assert [c.symbol for c in contracts] == sorted(c.symbol for c in contracts)
    stock = market.option_contracts("AAPL")
    assert 100 < len(stock) < len(contracts)


def test_listing_is_stable_from_day_to_day():
    m1 = Market(SimClock(frozen_at=T0), seed=0)
    m2 = Market(SimClock(frozen_at=T0 + timedelta(days=1)), seed=0)
    today = {c.symbol for c in m1.option_contracts("SPY") if c.expiration > date(2026, 11, 19)}
    tomorrow = {c.symbol for c in m2.option_contracts("SPY")}
    assert today <= tomorrow
    some = sorted(today)[len(today) // 2]
    assert m1.is_listed_option(some) and m2.is_listed_option(some)
    assert not m1.is_listed_option("SPY261218C00600500")  # half-dollar strike: not on the grid
    assert not m1.is_listed_option("SPY261120C09990000")
    assert not m1.is_listed_option("garbage")
    with pytest.raises(KeyError):
        m1.option_quote("SPY261120C09990000")
    # Expired today after the close: no longer listed, status inactive.
    expiring = [c.symbol for c in m1.option_contracts("SPY") if c.expiration == date(2026, 11, 18)][0]
    after = Market(SimClock(frozen_at=datetime(2026, 11, 18, 21, 0, 1, tzinfo=UTC)), seed=0)
    assert not after.is_listed_option(expiring)
    assert after.options.status(expiring, after.clock.now()) == "inactive"


def test_quotes_are_sane(spy_chain):
    for exp, rows in spy_chain.items():
        for (strike, right), s in rows.items():
            assert 0 <= s.bid < s.ask and s.ask >= 0.01
            assert s.bid <= s.theo + 1e-9 and s.theo <= s.ask + 1e-9
            assert round(s.bid * 100) == pytest.approx(s.bid * 100) and round(s.ask * 100) == pytest.approx(s.ask * 100)


def test_put_call_parity(spy_chain, market):
    """American contracts on a stock without dividends: S - K <= C - P <= S - K e^(-rT) (the
    European equality becomes this band, because the put may be exercised early)."""
    spot = market.mid_at("SPY", T0.timestamp())
    checked = 0
    for exp, rows in spy_chain.items():
        from stockbot.sim.clock import session_close_utc

        t = (session_close_utc(exp).timestamp() - T0.timestamp()) / SECONDS_PER_YEAR
        for (strike, right), call in rows.items():
            if right is not OptionRight.CALL:
                continue
            put = rows[(strike, OptionRight.PUT)]
            k = float(strike)
            lower, upper = spot - k, spot - k * math.exp(-RATE * t)
            assert lower - 1e-6 <= call.theo - put.theo <= upper + 1e-6
            if call.bid > 0 and put.bid > 0:  # quoted mids: inside the band within the spreads
                mid_diff = (call.bid + call.ask) / 2 - (put.bid + put.ask) / 2
                width = (call.ask - call.bid + put.ask - put.bid) / 2
                assert lower - width - 0.011 <= mid_diff <= upper + width + 0.011
                checked += 1
    assert checked > 500


def test_delta_monotone_and_skew(spy_chain, market):
    spot = market.mid_at("SPY", T0.timestamp())
    for exp, rows in spy_chain.items():
        for right in OptionRight:
            ks = sorted(k for k, r in rows if r is right)
            deltas = [rows[(k, right)].greeks.delta for k in ks]
            assert all(b <= a + 1e-6 for a, b in zip(deltas, deltas[1:])), (exp, right)
            assert all((0 <= d <= 1) if right is OptionRight.CALL else (-1 <= d <= 0) for d in deltas)
        # Skew: a 10% OTM put carries more vol than a 10% OTM call.
        ks = sorted({k for k, _ in rows})
        low = min(ks, key=lambda k: abs(float(k) - 0.9 * spot))
        high = min(ks, key=lambda k: abs(float(k) - 1.1 * spot))
        assert rows[(low, OptionRight.PUT)].vol > rows[(high, OptionRight.CALL)].vol
    thirty = min(spy_chain, key=lambda e: abs((e - date(2026, 11, 18)).days - 30))
    atm = min({k for k, _ in spy_chain[thirty]}, key=lambda k: abs(float(k) - spot))
    g = spy_chain[thirty][(atm, OptionRight.CALL)].greeks
    assert 0.4 < g.delta < 0.65 and g.gamma > 0 and g.theta < 0 and g.vega > 0 and g.rho > 0


def test_iv_is_implied_by_the_quoted_mid(spy_chain, market):
    """The served IV reprices the quoted mid under the sim's own American model."""
    spot = market.mid_at("SPY", T0.timestamp())
    model = market.options.model
    from stockbot.sim.clock import session_close_utc

    checked = 0
    for exp, rows in spy_chain.items():
        t = (session_close_utc(exp).timestamp() - T0.timestamp()) / SECONDS_PER_YEAR
        for (strike, right), s in rows.items():
            mid = (s.bid + s.ask) / 2
            if s.iv is None:  # no bid, deep in the money (never served), or a mid at intrinsic value
                assert (s.bid == 0 or abs(s.greeks.delta) > DEEP_ITM_DELTA
                        or model.implied_vol(mid, spot, float(strike), t, RATE, right) is None)
                continue
            if mid < 0.5:
                continue
            # within half a cent (the brief asks a cent; the worst contract measured is 0.2 cent off)
            assert model.price(spot, float(strike), t, s.iv, RATE, right) == pytest.approx(mid, abs=0.005)
            if 0.05 < abs(s.greeks.delta) < 0.95:  # where the price says something about vol
                assert s.iv == pytest.approx(s.vol, abs=0.02)  # and close to the smile
                checked += 1
    assert checked > 1000


def test_option_quote_domain_type(market):
    exp = sorted({c.expiration for c in market.option_contracts("QQQ")})[5]
    spot = market.price("QQQ")
    strike = Decimal(round(float(spot)))
    occ = occ_symbol("QQQ", exp, OptionRight.PUT, strike)
    assert market.is_listed_option(occ)
    q = market.option_quote(occ)
    assert q.contract.symbol == occ and q.bid < q.ask and q.ts == T0
    assert -0.7 < q.delta < -0.3 and q.iv and 0.05 < q.iv < 1.0
    as_quote = market.quote(occ)  # quote() accepts listed OCC symbols too
    assert (as_quote.bid, as_quote.ask) == (q.bid, q.ask)
