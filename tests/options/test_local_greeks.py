"""Chains whose greeks and IV the feed left out (as Alpaca does): the daemon computes them locally.

The table chain is priced with Black-Scholes at a known vol, quoted to the cent; stripping every
delta / IV must change neither the condor the builder picks, nor the agents' strike candidates,
nor the recorded ATM IV (beyond the cent rounding of the quotes).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stockbot.config import CondorSettings
from stockbot.domain import OptionQuote, OptionRight
from stockbot.strategies.condor.snapshot import strike_candidates
from stockbot.options.condor import IronCondor, build_condor
from stockbot.options.ivrank import atm_iv
from stockbot.options.local_greeks import quote_delta, quote_iv, with_local_greeks
from stockbot.options.occ import occ_symbol, parse_occ
from stockbot.options.pricing import bs_greeks, bs_price

NOW = datetime(2025, 11, 3, 15, 0, tzinfo=timezone.utc)  # Monday 10:00 New York
TODAY = date(2025, 11, 3)
SPOT, VOL, RATE = 600.0, 0.18, 0.0
C, P = OptionRight.CALL, OptionRight.PUT
D = Decimal
EXPS = (date(2025, 11, 21), date(2025, 12, 12), date(2025, 12, 19), date(2026, 1, 16))


def chain_with_greeks(exps=EXPS, spread_pct=0.04):
    out = []
    for e in exps:
        t = (e - TODAY).days / 365
        for k in range(450, 751, 5):
            for r in (C, P):
                mid = max(D(repr(round(bs_price(SPOT, k, t, VOL, RATE, r), 2))), D("0.05"))
                half = max((mid * D(repr(spread_pct)) / 2).quantize(D("0.01")), D("0.01"))
                g = bs_greeks(SPOT, k, t, VOL, RATE, r)
                c = parse_occ(occ_symbol("SPY", e, r, D(k)))
                out.append(OptionQuote(c, mid - half, mid + half, NOW, g.delta, g.gamma, g.theta, g.vega, VOL))
    return out


def bare(chain):
    return [replace(q, delta=None, gamma=None, theta=None, vega=None, iv=None) for q in chain]


@pytest.mark.parametrize("settings", [
    CondorSettings(),
    CondorSettings(short_delta=0.10),
    CondorSettings(short_delta=0.25, wing_width=10.0),
    CondorSettings(dte_min=14, dte_max=21),
])
def test_the_builder_builds_the_same_condor_without_greeks_or_iv(settings):
    full = chain_with_greeks()
    a = build_condor(full, SPOT, NOW, settings=settings)
    b = build_condor(bare(full), SPOT, NOW, settings=settings)
    assert isinstance(a, IronCondor) and isinstance(b, IronCondor), (a, b)
    assert b.legs == a.legs and b.credit_mid == a.credit_mid
    assert abs(b.short_call_delta - a.short_call_delta) < 0.01
    assert abs(b.short_put_delta - a.short_put_delta) < 0.01


def test_the_builder_refuses_when_quotes_imply_nothing():
    one_sided = [replace(q, bid=D("0")) for q in bare(chain_with_greeks())]
    got = build_condor(one_sided, SPOT, NOW)
    assert not got.ok and got.code == "no_short_strike"


def test_strike_candidates_without_greeks_match_the_ones_with():
    full = chain_with_greeks()
    a = strike_candidates(full, D(SPOT), NOW, 0.16)
    b = strike_candidates(bare(full), D(SPOT), NOW, 0.16)
    assert a and [(s.right, s.strike, s.dte, s.symbol) for s in b] == [(s.right, s.strike, s.dte, s.symbol) for s in a]
    assert max(abs(x.delta - y.delta) for x, y in zip(a, b)) < 0.02


def test_atm_iv_is_implied_from_the_mid_when_the_feed_has_none():
    full = chain_with_greeks()
    assert atm_iv(full, SPOT, TODAY) == pytest.approx(VOL)
    assert atm_iv(bare(full), SPOT, TODAY) == pytest.approx(VOL, abs=0.005)
    assert atm_iv([replace(q, bid=D("0")) for q in bare(full)], SPOT, TODAY) is None


@pytest.mark.parametrize("strike, right, feed_delta, feed_iv, bid, expect_delta", [
    (640, C, 0.2, 0.3, "1.00", 0.2),  # the feed's delta wins
    (640, C, None, VOL, "1.00", "bs"),  # delta from the feed's IV
    (640, C, None, None, "mid", "bs"),  # IV from the mid, then delta
    (640, C, float("nan"), float("nan"), "mid", "bs"),  # non-finite feed values count as missing
    (640, C, None, None, "0", None),  # one-sided: nothing implied
])
def test_fallback_order(strike, right, feed_delta, feed_iv, bid, expect_delta):
    q = next(q for q in chain_with_greeks(exps=(date(2025, 12, 12),))
             if q.contract.strike == strike and q.contract.right is right)
    q = replace(q, delta=feed_delta, iv=feed_iv, bid=q.bid if bid == "mid" else D(bid))
    t = (date(2025, 12, 12) - TODAY).days / 365
    got = quote_delta(q, SPOT, t)
    if expect_delta is None:
        assert got is None and quote_iv(q, SPOT, t) is None
    elif expect_delta == "bs":
        assert got == pytest.approx(bs_greeks(SPOT, strike, t, VOL, RATE, right).delta, abs=0.01)
    else:
        assert got == expect_delta
    assert quote_delta(q, SPOT, 0.0) in (None, feed_delta)  # no time left: no IV to imply


def test_with_local_greeks_keeps_complete_quotes_and_fills_the_rest():
    full = chain_with_greeks(exps=(date(2025, 12, 12),))
    mixed = full[:10] + bare(full[10:])
    got = with_local_greeks(mixed, SPOT, NOW)
    assert got[:10] == tuple(full[:10])
    near = [q for q in got[10:] if 550 <= q.contract.strike <= 650]  # far out, cent quotes imply little
    assert near and all(q.delta is not None and q.iv == pytest.approx(VOL, abs=0.01) for q in near)
