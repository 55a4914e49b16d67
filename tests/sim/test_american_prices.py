"""American option prices on the sim (stockbot.sim.market_american): never below intrinsic value,
sane against the European price and put-call bounds, greeks with the right signs, a served IV
that reprices the quoted mid, and quotes that never cross intrinsic on the wire."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
import QuantLib as ql
from alpaca.data.historical import OptionHistoricalDataClient, StockHistoricalDataClient
from alpaca.data.requests import OptionChainRequest, StockLatestQuoteRequest
from simfixtures import DEMO_KEY, DEMO_SECRET

from stockbot.domain import OptionRight
from stockbot.options.occ import parse_occ
from stockbot.options.pricing import bs_greeks, bs_price
from stockbot.sim.app import run_in_thread
from stockbot.sim.clock import SimClock, session_close_utc
from stockbot.sim.market import Market
from stockbot.sim.market_american import AmericanModel
from stockbot.sim.market_options import RATE, SECONDS_PER_YEAR, intrinsic

UTC = timezone.utc
PUT, CALL = OptionRight.PUT, OptionRight.CALL
SPOT = 100.0
STRIKES = [60, 80, 90, 95, 98, 100, 102, 105, 110, 120, 140]
DTES = [0, 0.25, 1, 3, 7, 14, 30, 45, 60]  # calendar days; 0.25 = the last hours of an expiry day
VOLS = [0.10, 0.20, 0.35, 0.50, 0.80]
T0 = datetime(2026, 11, 18, 15, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def model() -> AmericanModel:
    return AmericanModel()


def _table():
    for k in STRIKES:
        for dte in DTES:
            for vol in VOLS:
                yield float(k), dte / 365.0, vol


def test_never_below_intrinsic_and_never_below_european(model):
    for k, t, vol in _table():
        for right in (PUT, CALL):
            am = model.price(SPOT, k, t, vol, RATE, right)
            eu = bs_price(SPOT, k, t, vol, RATE, right)
            assert am >= intrinsic(right, SPOT, k) - 1e-12, (right, k, t, vol)
            assert am >= eu - 2e-3, (right, k, t, vol)  # early exercise is a right, never a cost
    # Calls on a stock without dividends are never exercised early: the very Black-Scholes price.
    assert model.price(SPOT, 95.0, 30 / 365, 0.3, RATE, CALL) == bs_price(SPOT, 95.0, 30 / 365, 0.3, RATE, CALL)


def test_deep_itm_puts_are_worth_intrinsic_where_europeans_are_not(model):
    t = 45 / 365
    eu = bs_price(SPOT, 140.0, t, 0.2, RATE, PUT)
    assert eu < 40.0 - 0.3  # the European put quotes well under intrinsic: the old bug
    assert model.price(SPOT, 140.0, t, 0.2, RATE, PUT) == pytest.approx(40.0, abs=1e-3)
    # At the money the early-exercise premium is small but real.
    premium = model.price(SPOT, 100.0, t, 0.2, RATE, PUT) - bs_price(SPOT, 100.0, t, 0.2, RATE, PUT)
    assert 0.005 < premium < 0.2


def test_agrees_with_quantlib_dated_tree(model):
    """The time-rescaled unit option equals a plainly dated QuantLib option (1201-step tree)."""
    today = ql.Date(2, 3, 2026)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    for k, days, vol in [(90.0, 7, 0.3), (100.0, 30, 0.2), (110.0, 30, 0.2), (120.0, 60, 0.5), (105.0, 1, 0.8)]:
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(SPOT)), ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, RATE, dc)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, dc)))
        opt = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put, k), ql.AmericanExercise(today, today + days))
        opt.setPricingEngine(ql.BinomialVanillaEngine(process, "lr", 1201))
        assert model.price(SPOT, k, days / 365.0, vol, RATE, PUT) == pytest.approx(opt.NPV(), abs=0.002)


def test_prices_monotone_and_convex_in_the_strike(model):
    for dte in DTES[1:]:
        for vol in VOLS:
            ks = [70.0 + i for i in range(61)]
            for right in (PUT, CALL):
                p = [model.price(SPOT, k, dte / 365.0, vol, RATE, right) for k in ks]
                steps = [b - a for a, b in zip(p, p[1:])]
                if right is PUT:
                    assert all(-1e-6 <= s <= 1.0 + 1e-6 for s in steps), (dte, vol)
                else:
                    assert all(-1.0 - 1e-6 <= s <= 1e-6 for s in steps), (dte, vol)
                assert all(b - a >= -2e-4 for a, b in zip(steps, steps[1:])), (right, dte, vol)  # butterflies >= 0


def test_put_call_bounds(model):
    """No dividends: S - K <= C - P <= S - K e^(-rT) for American contracts."""
    for k, t, vol in _table():
        diff = model.price(SPOT, k, t, vol, RATE, CALL) - model.price(SPOT, k, t, vol, RATE, PUT)
        assert SPOT - k - 1e-6 <= diff <= SPOT - k * math.exp(-RATE * t) + 1e-6, (k, t, vol)


def test_greeks_signs_and_ranges(model):
    for k, t, vol in _table():
        for right in (PUT, CALL):
            price, g = model.price_and_greeks(SPOT, k, t, vol, RATE, right)
            assert price == pytest.approx(model.price(SPOT, k, t, vol, RATE, right), abs=1e-12)
            if right is PUT:
                assert -1.0 <= g.delta <= 0.0 and g.rho <= 0.0
            else:
                assert 0.0 <= g.delta <= 1.0 and g.rho >= 0.0
            assert g.gamma >= 0.0 and g.vega >= 0.0 and g.theta <= 1e-12, (right, k, t, vol, g)
    # Where early exercise hardly matters (an OTM put, short-dated), the greeks are Black-Scholes'.
    _, g = model.price_and_greeks(SPOT, 95.0, 14 / 365, 0.25, RATE, PUT)
    e = bs_greeks(SPOT, 95.0, 14 / 365, 0.25, RATE, PUT)
    assert g.delta == pytest.approx(e.delta, abs=0.01) and g.gamma == pytest.approx(e.gamma, rel=0.05)
    assert g.vega == pytest.approx(e.vega, rel=0.05) and g.theta == pytest.approx(e.theta, rel=0.1)
    # Deep in the money the put is exercised now: delta -1, nothing else moves it.
    _, g = model.price_and_greeks(SPOT, 140.0, 30 / 365, 0.2, RATE, PUT)
    assert (g.delta, g.gamma, g.vega, g.theta) == (-1.0, 0.0, 0.0, 0.0)


def test_delta_matches_a_finite_difference_of_the_price(model):
    for k, dte, vol in [(95.0, 30, 0.2), (105.0, 30, 0.2), (100.0, 7, 0.5), (110.0, 60, 0.35)]:
        t = dte / 365.0
        _, g = model.price_and_greeks(SPOT, k, t, vol, RATE, PUT)
        h = 0.05
        fd = (model.price(SPOT + h, k, t, vol, RATE, PUT) - model.price(SPOT - h, k, t, vol, RATE, PUT)) / (2 * h)
        assert g.delta == pytest.approx(fd, abs=2e-3)
        fv = (model.price(SPOT, k, t, vol + 0.005, RATE, PUT) - model.price(SPOT, k, t, vol - 0.005, RATE, PUT)) / 1.0
        assert g.vega == pytest.approx(fv, rel=0.03)


def test_implied_vol_round_trips(model):
    for k, t, vol in _table():
        if t == 0:
            continue
        for right in (PUT, CALL):
            price = model.price(SPOT, k, t, vol, RATE, right)
            iv = model.implied_vol(price, SPOT, k, t, RATE, right)
            if iv is None:  # priced at intrinsic (exercise now) or worth nothing: no vol says more
                assert price - intrinsic(right, SPOT, k) < 1e-3
                continue
            assert model.price(SPOT, k, t, iv, RATE, right) == pytest.approx(price, abs=1e-6)
    assert model.implied_vol(39.99, SPOT, 140.0, 0.1, RATE, PUT) is None  # below intrinsic


@pytest.mark.parametrize("underlying", ["SPY", "TSLA"])
def test_the_books_quotes_never_cross_intrinsic(underlying):
    """Every listed contract at several instants (0-60 DTE, a 16% and a 55% vol underlying): the ask
    is at least intrinsic, the bid at most one cent under it, the served IV reprices the mid."""
    checked = 0
    for hours in (0, 5.4, 24 * 9):
        now = T0 + timedelta(hours=hours)
        market = Market(SimClock(frozen_at=now), seed=0)
        book = market.options
        for c in market.option_contracts(underlying):
            if (c.expiration - now.date()).days > 60:
                continue
            s = book.snapshot_of(c, now)
            value = intrinsic(c.right, s.spot, float(c.strike))
            assert s.ask >= value - 1e-9 and s.bid >= value - 0.01 - 1e-9, (c.symbol, s.bid, s.ask, value)
            assert s.bid < s.ask and s.theo >= value - 1e-9
            if s.iv is not None and s.bid > 0:
                t = (session_close_utc(c.expiration).timestamp() - now.timestamp()) / SECONDS_PER_YEAR
                mid = (s.bid + s.ask) / 2
                assert book.model.price(s.spot, float(c.strike), t, s.iv, RATE, c.right) == pytest.approx(mid, abs=0.01)
            checked += 1
    assert checked > 3000


def test_itm_puts_on_the_wire_quote_at_least_intrinsic():
    """Through alpaca-py's real data clients: the chain's ITM puts against the stock's own quote."""
    with run_in_thread(seed=0, start_at=T0, freeze=True) as sim:
        stocks = StockHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)
        q = stocks.get_stock_latest_quote(StockLatestQuoteRequest(symbol_or_symbols="SPY"))["SPY"]
        spot = (q.bid_price + q.ask_price) / 2
        options = OptionHistoricalDataClient(DEMO_KEY, DEMO_SECRET, url_override=sim.url)
        chain = options.get_option_chain(OptionChainRequest(
            underlying_symbol="SPY", type="put", expiration_date_gte=T0.date() + timedelta(days=20),
            expiration_date_lte=T0.date() + timedelta(days=40), strike_price_gte=spot, strike_price_lte=spot * 1.2))
        assert len(chain) > 100
        deep = 0
        for sym, snap in chain.items():
            value = float(parse_occ(sym).strike) - spot
            assert snap.latest_quote.ask_price >= value - 0.01  # the stock's mid vs the sim's mid: a cent
            assert snap.latest_quote.bid_price >= value - 0.02
            if value > 0.1 * spot:
                deep += 1
                assert snap.greeks is None and snap.implied_volatility is None  # as Alpaca omits them
        assert deep > 10
