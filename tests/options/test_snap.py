"""Production-defaults defect 3: aggregated parameters snapped to what the chain lists.

The median of wing widths 5 and 10 is 7.5, which no SPY chain lists; before this the builder
refused ("no wing strike"). Table tests over real-looking chains: SPY's $1 grid near the money and
$5 further out, a $5-only grid (an index ETF with wide strikes), $2.50 grids, weekly and monthly
expirations."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal as D

import pytest

from stockbot.config import CondorSettings
from stockbot.consensus.aggregate import condor_params
from stockbot.consensus.schema import ParamBounds, Vote
from stockbot.domain import OptionQuote, OptionRight
from stockbot.options.condor import IronCondor, build_condor, clamp_params
from stockbot.options.occ import occ_symbol, parse_occ
from stockbot.options.pricing import bs_greeks, bs_price
from stockbot.options.snap import listed_widths, snap_params

NOW = datetime(2025, 11, 3, 15, 0, tzinfo=timezone.utc)  # Monday 10:00 New York
SPOT = 600.0


def spy_strikes(spot=600, fine=30, fine_step=1, coarse_step=5, reach=150):
    """$1 strikes within ``fine`` of spot, $5 beyond (how SPY's chain is listed)."""
    ks = set(range(spot - fine, spot + fine + 1, fine_step))
    ks |= set(range(spot - reach, spot + reach + 1, coarse_step))
    return sorted(ks)


def chain(strikes, exps, spot=SPOT, vol=0.18):
    out = []
    for e in exps:
        t = (e - NOW.date()).days / 365
        for k in strikes:
            for r in (OptionRight.CALL, OptionRight.PUT):
                mid = max(D(repr(round(bs_price(spot, float(k), t, vol, 0.04, r), 2))), D("0.05"))
                half = max((mid * D("0.02")).quantize(D("0.01")), D("0.01"))
                g = bs_greeks(spot, float(k), t, vol, 0.04, r)
                out.append(OptionQuote(parse_occ(occ_symbol("SPY", e, r, D(str(k)))), mid - half, mid + half, NOW,
                                       g.delta, g.gamma, g.theta, g.vega, vol))
    return out


FRIDAYS = tuple(date(2025, 11, 7) + timedelta(weeks=i) for i in range(10))  # 4 .. 67 DTE
MONTHLIES = (date(2025, 11, 21), date(2025, 12, 19), date(2026, 1, 16))  # 18, 46, 74 DTE


@pytest.mark.parametrize("strikes, proposed, expected", [
    (spy_strikes(), 7.5, D(7)),                                   # $1 grid: 7 and 8 tie -> the narrower
    (list(range(450, 751, 5)), 7.5, D(5)),                         # $5 grid: 5 and 10 tie -> 5
    (list(range(450, 751, 5)), 8, D(10)),                          # nearest listed
    ([D(450) + D("2.5") * i for i in range(121)], 6, D("5.0")),   # $2.50 grid: 5 nearer than 7.5
    (spy_strikes(), 5, D(5)),                                      # listed: untouched
])
def test_width_snaps_to_the_strike_grid(strikes, proposed, expected):
    s = CondorSettings()
    p = snap_params(clamp_params({"wing_width": proposed}, s), chain(strikes, FRIDAYS), D(600), NOW, s)
    assert p.wing_width == expected
    assert bool(p.clamped) is (D(str(proposed)) != expected)


def test_dte_window_without_an_expiration_snaps_to_the_nearest_listed():
    s = CondorSettings()  # window 30-45: the monthlies list 18, 46 and 74 DTE
    p = snap_params(clamp_params({}, s), chain(spy_strikes(), MONTHLIES), D(600), NOW, s)
    assert (p.dte_min, p.dte_max) == (46, 46) and "snapped to 46 DTE" in p.clamped[-1]
    ic = build_condor(chain(spy_strikes(), MONTHLIES), SPOT, NOW, p, s)
    assert isinstance(ic, IronCondor) and ic.expiration == date(2025, 12, 19)
    # An expiration outside CONDOR_DTE_BOUNDS is never picked.
    far = snap_params(clamp_params({}, s), chain(spy_strikes(), (date(2026, 3, 20),)), D(600), NOW, s)
    assert (far.dte_min, far.dte_max) == (30, 45)


def test_median_of_five_and_ten_builds_on_a_real_looking_chain():
    """The reproduction: two agents ENTER with wings 5 and 10; the median is 7.5, not listed."""
    s = CondorSettings()
    votes = [Vote(action="ENTER", confidence=0.8, rationale="r",
                  condor={"short_delta": 0.16, "wing_width": w, "dte": 37}) for w in (5, 10)]
    merged = condor_params(votes, ParamBounds.from_settings(s))
    assert merged["wing_width"] == D("7.5")
    ch = chain(list(range(450, 751, 5)), FRIDAYS)
    raw = clamp_params(merged, s)
    assert raw.wing_width == D("7.50")  # no $5-grid chain lists a 7.50 wing: the builder used to refuse
    snapped = snap_params(raw, ch, D(600), NOW, s)
    ic = build_condor(ch, SPOT, NOW, snapped, s)
    assert isinstance(ic, IronCondor) and ic.width == 5 and snapped.wing_width == 5


def test_coarse_wings_far_out_use_the_nearest_width_listed_on_both_sides():
    """$1 strikes only near the money: a 16-delta short sits on the $5 grid, where width 7 has no
    wing; the builder takes the nearest width listed on both sides (5)."""
    s = CondorSettings()
    ch = chain(spy_strikes(fine=10), FRIDAYS)
    ic = build_condor(ch, SPOT, NOW, clamp_params({"wing_width": 7}, s), s)
    assert isinstance(ic, IronCondor) and ic.width == 5
    assert ic.long_call_strike - ic.short_call_strike == ic.short_put_strike - ic.long_put_strike == 5


def test_listed_widths_of_a_five_dollar_grid():
    ws = listed_widths(chain(list(range(550, 651, 5)), FRIDAYS[:1]), "SPY", D(600), NOW, (0, 60))
    assert ws[:4] == [5, 10, 15, 20]
