"""Table tests for the iron condor builder, its parameters, structure checks and order intent."""

from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stockbot.config import CondorSettings
from stockbot.domain import AssetClass, Leg, OptionQuote, OptionRight, OrderClass, PositionIntent, Side
from stockbot.options.condor import (CondorParams, CondorRefusal, IronCondor, build_condor, clamp_params,
                                     closing_legs, condor_from_symbols, condor_intent, days_to_expiration,
                                     validate_condor_legs, with_fill)
from stockbot.options.occ import occ_symbol, parse_occ
from stockbot.options.pricing import bs_greeks, bs_price

NOW = datetime(2025, 11, 3, 15, 0, tzinfo=timezone.utc)  # Monday 10:00 New York
TODAY = date(2025, 11, 3)
SPOT = 600.0
C, P = OptionRight.CALL, OptionRight.PUT
D = Decimal


def make_chain(exps=(date(2025, 12, 12),), spot=SPOT, vol=0.18, spread_pct=0.04, strikes=range(500, 701, 5),
               underlying="SPY"):
    """A Black-Scholes chain with cent quotes: mid +/- half the spread (at least a cent each side)."""
    out = []
    for e in exps:
        t = (e - TODAY).days / 365
        for k in strikes:
            for r in (C, P):
                mid = max(D(repr(round(bs_price(spot, k, t, vol, 0.04, r), 2))), D("0.05"))
                half = max((mid * D(repr(spread_pct)) / 2).quantize(D("0.01")), D("0.01"))
                g = bs_greeks(spot, k, t, vol, 0.04, r)
                c = parse_occ(occ_symbol(underlying, e, r, D(k)))
                out.append(OptionQuote(c, mid - half, mid + half, NOW, g.delta, g.gamma, g.theta, g.vega, vol))
    return out


def patch(chain, right, strike, **changes):
    """The chain with one quote changed (expiration: all of them)."""
    return [replace(q, **changes) if (q.contract.right, q.contract.strike) == (right, D(strike)) else q for q in chain]


def find(chain, right, strike, exp=date(2025, 12, 12)):
    return next(q for q in chain if (q.contract.right, q.contract.strike, q.contract.expiration) == (right, D(strike), exp))


def test_build_default_condor():
    chain = make_chain(exps=(date(2025, 11, 21), date(2025, 12, 12), date(2025, 12, 19), date(2026, 1, 16)))
    ic = build_condor(chain, SPOT, NOW, settings=CondorSettings())
    assert isinstance(ic, IronCondor) and ic.ok
    assert ic.expiration == date(2025, 12, 12) and ic.dte == 39  # 30-45 window; 46 DTE is outside
    assert (ic.long_put_strike, ic.short_put_strike, ic.short_call_strike, ic.long_call_strike) == (565, 570, 640, 645)
    assert abs(ic.short_call_delta - 0.16) < 0.02 and abs(abs(ic.short_put_delta) - 0.16) < 0.02
    sc, lc, sp, lp = (find(chain, C, 640), find(chain, C, 645), find(chain, P, 570), find(chain, P, 565))
    assert ic.legs == (
        Leg(sc.contract.symbol, Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
        Leg(lc.contract.symbol, Side.BUY, 1, PositionIntent.BUY_TO_OPEN),
        Leg(sp.contract.symbol, Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
        Leg(lp.contract.symbol, Side.BUY, 1, PositionIntent.BUY_TO_OPEN),
    )
    mid = (sc.mid + sp.mid - lc.mid - lp.mid).quantize(D("0.01"), rounding="ROUND_FLOOR")
    assert ic.credit_mid == mid
    assert ic.credit_natural == sc.bid + sp.bid - lc.ask - lp.ask
    assert ic.credit_natural < ic.credit_mid
    assert ic.width == D(5)
    assert ic.max_loss == (D(5) - mid) * 100
    assert ic.max_profit == mid * 100
    assert ic.breakevens == (D(570) - mid, D(640) + mid)
    assert ic.credit == ic.credit_mid and ic.entry_credit is None
    assert validate_condor_legs(ic.legs, closing=False) is None


def test_days_to_expiration_uses_new_york_date():
    late = datetime(2025, 11, 4, 3, 0, tzinfo=timezone.utc)  # still Nov 3 in New York
    assert days_to_expiration(date(2025, 11, 4), late) == 1
    with pytest.raises(ValueError):
        days_to_expiration(date(2025, 11, 4), datetime(2025, 11, 4))  # naive refused


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda ch: [], "empty_chain"),
        (lambda ch: make_chain(underlying="QQQ"), "empty_chain"),
        (lambda ch: make_chain(exps=(date(2025, 11, 21), date(2026, 2, 20))), "no_expiration"),
        (lambda ch: patch(ch, C, 640, bid=D("1.50"), ask=D("1.40")), "crossed_quote"),
        (lambda ch: patch(ch, P, 565, bid=D("0"), ask=D("1.00")), "empty_quote"),
        (lambda ch: patch(ch, P, 570, bid=D("1.00"), ask=D("1.50")), "wide_spread"),
        (lambda ch: [q for q in ch if not (q.contract.right is C and q.contract.strike > 640)], "missing_wing"),
        (lambda ch: [q for q in ch if not (q.contract.right is P and q.contract.strike < 570)], "missing_wing"),
        (lambda ch: [replace(q, delta=None, iv=None, bid=D("0")) for q in ch], "no_short_strike"),  # no IV from a one-sided mid
        (lambda ch: [q for q in ch if q.contract.right is P or q.contract.strike <= 600], "no_short_strike"),
        (lambda ch: [q for q in ch if q.contract.right is C or q.contract.strike in (500, 505, 595, 600)], "no_short_strike"),
    ],
)
def test_build_refusals(mutate, code):
    got = build_condor(mutate(make_chain()), SPOT, NOW, settings=CondorSettings())
    assert isinstance(got, CondorRefusal) and not got.ok
    assert got.code == code, got.reason
    assert got.reason


@pytest.mark.parametrize("spot", [0, -5, float("nan"), None, "x"])
def test_bad_spot(spot):
    got = build_condor(make_chain(), spot, NOW)
    assert isinstance(got, CondorRefusal) and got.code == "bad_spot"


@pytest.mark.parametrize("min_credit_pct, ok", [(0.15, True), (0.50, False), (0.0, True)])
def test_low_credit(min_credit_pct, ok):
    got = build_condor(make_chain(), SPOT, NOW, settings=CondorSettings(min_credit_pct=min_credit_pct))
    assert isinstance(got, IronCondor) is ok
    if not ok:
        assert got.code == "low_credit"


@pytest.mark.parametrize("bid, ask, ok", [(D("0.95"), D("1.05"), True), (D("0.949"), D("1.051"), False)])
def test_spread_boundary_is_inclusive(bid, ask, ok):
    chain = patch(make_chain(), P, 565, bid=bid, ask=ask)  # mid 1.00: spread 10.0% passes, 10.2% refused
    got = build_condor(chain, SPOT, NOW, settings=CondorSettings(max_spread_pct=0.10))
    assert isinstance(got, IronCondor) is ok, got


def test_credit_not_below_width():
    chain = patch(make_chain(), C, 640, bid=D("9.00"), ask=D("9.10"))
    got = build_condor(chain, SPOT, NOW)
    assert isinstance(got, CondorRefusal) and got.code == "bad_quotes"


def test_falls_back_to_next_expiration():
    exps = (date(2025, 12, 12), date(2025, 12, 5))  # 39 DTE preferred (middle 37.5), then 32
    chain = [q for q in make_chain(exps=exps)
             if not (q.contract.expiration == date(2025, 12, 12) and q.contract.right is C and q.contract.strike == 645)]
    ic = build_condor(chain, SPOT, NOW)
    assert isinstance(ic, IronCondor) and ic.expiration == date(2025, 12, 5)
    only_bad = [q for q in chain if q.contract.expiration == date(2025, 12, 12)]
    got = build_condor(only_bad, SPOT, NOW)  # no other expiration: the nearest listed width (10)
    assert isinstance(got, IronCondor) and got.width == 10 and got.long_call_strike == 650
    no_wings = [q for q in only_bad if not (q.contract.right is C and q.contract.strike > 640)]
    assert build_condor(no_wings, SPOT, NOW).code == "missing_wing"


def test_all_expirations_refused_reports_preferred():
    exps = (date(2025, 12, 12), date(2025, 12, 5))
    got = build_condor(make_chain(exps=exps, spread_pct=0.5), SPOT, NOW)
    assert got.code == "wide_spread" and "251212" in got.reason and "1 other" in got.reason


def test_delta_from_iv_when_feed_has_none():
    chain = make_chain()
    a = build_condor(chain, SPOT, NOW, rate=0.04)
    b = build_condor([replace(q, delta=None) for q in chain], SPOT, NOW, rate=0.04)
    assert isinstance(b, IronCondor) and a.legs == b.legs


def test_delta_tolerance():
    chain = [q for q in make_chain() if q.contract.strike % 50 == 0 or q.contract.strike in (645, 545)]
    got = build_condor(chain, SPOT, NOW, delta_tolerance=0.01)
    assert got.code == "no_short_strike"


@pytest.mark.parametrize(
    "params, expect",
    [
        (CondorParams(0.10, D(5), 30, 45), (650, 655, 560, 555)),
        (CondorParams(0.16, D(10), 30, 45), (640, 650, 570, 560)),
        (CondorParams(0.30, D(5), 30, 45), (620, 625, 585, 580)),
    ],
)
def test_params_drive_strikes(params, expect):
    ic = build_condor(make_chain(spread_pct=0.02), SPOT, NOW, params)
    assert isinstance(ic, IronCondor), ic
    got = (ic.short_call_strike, ic.long_call_strike, ic.short_put_strike, ic.long_put_strike)
    assert abs(ic.short_call_delta - params.short_delta) < 0.03
    assert got[1] - got[0] == params.wing_width and got[2] - got[3] == params.wing_width


S = CondorSettings()


@pytest.mark.parametrize(
    "proposed, delta, width, dte, n_notes",
    [
        ({}, 0.16, D("5.00"), (30, 45), 0),
        (None, 0.16, D("5.00"), (30, 45), 0),
        ({"short_delta": 0.2, "wing_width": 10, "dte_min": 35, "dte_max": 40}, 0.2, D("10.00"), (35, 40), 0),
        ({"delta": -0.12, "width": "7.5"}, 0.12, D("7.50"), (30, 45), 0),
        ({"delta": 0.5}, 0.30, D("5.00"), (30, 45), 1),
        ({"delta": 0.01}, 0.05, D("5.00"), (30, 45), 1),
        ({"delta": "abc", "width": None}, 0.16, D("5.00"), (30, 45), 0),
        ({"delta": float("nan"), "width": float("inf")}, 0.16, D("5.00"), (30, 45), 0),
        ({"width": 50}, 0.16, D("20.00"), (30, 45), 1),
        ({"width": 0.5}, 0.16, D("1.00"), (30, 45), 1),
        ({"width": 2.555}, 0.16, D("2.55"), (30, 45), 0),
        ({"dte": 35}, 0.16, D("5.00"), (27, 43), 0),
        ({"dte": 58}, 0.16, D("5.00"), (50, 60), 1),
        ({"dte_min": 100, "dte_max": 2}, 0.16, D("5.00"), (7, 60), 3),
        ({"dte_min": 40, "dte_max": 30}, 0.16, D("5.00"), (30, 40), 1),
        ({"dte_min": 40}, 0.16, D("5.00"), (40, 45), 0),
    ],
)
def test_clamp_params(proposed, delta, width, dte, n_notes):
    p = clamp_params(proposed, S)
    assert p.short_delta == pytest.approx(delta)
    assert p.wing_width == width
    assert (p.dte_min, p.dte_max) == dte
    assert len(p.clamped) == n_notes, p.clamped


def _ic():
    return build_condor(make_chain(), SPOT, NOW)


def test_closing_legs_mirror_opening():
    ic = _ic()
    legs = closing_legs(ic)
    assert [l.symbol for l in legs] == list(ic.symbols)
    assert [(l.side, l.position_intent) for l in legs] == [
        (Side.BUY, PositionIntent.BUY_TO_CLOSE), (Side.SELL, PositionIntent.SELL_TO_CLOSE),
        (Side.BUY, PositionIntent.BUY_TO_CLOSE), (Side.SELL, PositionIntent.SELL_TO_CLOSE)]
    assert validate_condor_legs(legs) is None
    assert validate_condor_legs(legs, closing=True) is None
    assert validate_condor_legs(legs, closing=False) is not None
    assert validate_condor_legs(ic.legs, closing=True) is not None


def _broken():
    ic = _ic()
    sc, lc, sp, lp = ic.legs
    other_exp = occ_symbol("SPY", date(2025, 12, 19), C, D(645))
    return [
        ("three legs", (sc, lc, sp)),
        ("five legs", (sc, lc, sp, lp, lp)),
        ("duplicate", (sc, lc, sp, sp)),
        ("stock leg", (sc, lc, sp, Leg("SPY", Side.BUY))),
        ("mixed expiration", (sc, replace(lc, symbol=other_exp), sp, lp)),
        ("ratio", (sc, replace(lc, ratio_qty=2), sp, lp)),
        ("three calls", (sc, lc, replace(sp, symbol=occ_symbol("SPY", ic.expiration, C, D(630))), lp)),
        ("wings inside", (replace(sc, symbol=lc.symbol), replace(lc, symbol=sc.symbol), sp, lp)),
        ("buy short call", (replace(sc, side=Side.BUY), lc, sp, lp)),
        ("wrong intent", (replace(sc, position_intent=PositionIntent.SELL_TO_CLOSE), lc, sp, lp)),
        ("half closing", (sc, lc) + closing_legs(ic)[2:]),
    ]


@pytest.mark.parametrize("name, legs", _broken(), ids=[n for n, _ in _broken()])
def test_validate_condor_legs_rejects(name, legs):
    assert validate_condor_legs(legs) is not None


def test_validate_allows_missing_intents():
    ic = _ic()
    assert validate_condor_legs(tuple(replace(l, position_intent=None) for l in ic.legs)) is None


def test_condor_intent():
    ic = _ic()
    oi = condor_intent(ic, 2, D("-1.20"), "cid-1", decision_id="d1")
    assert oi.order_class is OrderClass.MLEG and oi.asset_class is AssetClass.OPTION
    assert oi.legs == ic.legs and oi.symbol is None and oi.side is None
    assert oi.qty == D(2) and oi.limit_price == D("-1.20") and oi.order_type == "limit"
    assert oi.option_leg_count == 4 and oi.purpose == "condor_open" and oi.decision_id == "d1"
    close = condor_intent(ic, 2, D("0.55"), "cid-2", closing=True)
    assert close.legs == closing_legs(ic) and close.purpose == "condor_close"
    assert condor_intent(ic, 1, None, "cid-3", closing=True).order_type == "market"


@pytest.mark.parametrize("qty, limit", [(0, D("-1")), (D("1.5"), D("-1")), (1, D("1.00")), (1, D("0")), (1, None)])
def test_condor_intent_rejects(qty, limit):
    with pytest.raises(ValueError):
        condor_intent(_ic(), qty, limit, "cid")


def test_with_fill_and_rebuild_from_symbols():
    ic = _ic()
    filled = with_fill(ic, D("1.10"))
    assert filled.credit == D("1.10") and filled.credit_mid == ic.credit_mid
    assert filled.max_loss == D("390.00")
    assert filled.breakevens == (ic.short_put_strike - D("1.10"), ic.short_call_strike + D("1.10"))
    again = condor_from_symbols(list(reversed(ic.symbols)), D("1.10"))
    assert isinstance(again, IronCondor)
    assert again.legs == ic.legs and again.width == D(5) and again.max_loss == D("390.00")
    assert again.expiration == ic.expiration and again.credit == D("1.10")


@pytest.mark.parametrize(
    "symbols",
    [["SPY"], ["SPY251212C00640000"] * 4,
     ["SPY251212C00640000", "SPY251212C00645000", "SPY251212C00570000", "SPY251212P00565000"]],
)
def test_condor_from_symbols_refuses(symbols):
    assert isinstance(condor_from_symbols(symbols, D(1)), CondorRefusal)
