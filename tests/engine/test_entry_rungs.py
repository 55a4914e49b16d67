"""Pricing one entry rung from fresh leg quotes (pure part of the production-defaults defect 1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal as D

from stockbot.config import CondorSettings
from stockbot.domain import OptionQuote
from stockbot.strategies.condor.entry import RungQuote, rung_quote
from stockbot.options.condor import condor_from_symbols
from stockbot.options.occ import parse_occ
from stockbot.risk.gate import Denied

T = datetime(2026, 11, 16, 15, 45, tzinfo=timezone.utc)
SYMS = ("SPY261224C00679000", "SPY261224C00684000", "SPY261224P00620000", "SPY261224P00615000")
CONDOR = condor_from_symbols(SYMS, D("1.28"))


def quotes(**bid_ask):
    base = {"sc": ("1.10", "1.14"), "lc": ("0.52", "0.55"), "sp": ("1.30", "1.34"), "lp": ("0.62", "0.65")}
    base.update(bid_ask)
    out = {}
    for i, (name, sym) in enumerate(zip(("sc", "lc", "sp", "lp"), SYMS)):
        bid, ask = base[name]
        out[sym] = OptionQuote(parse_occ(sym), D(bid), D(ask), T + timedelta(seconds=i))
    return out


def test_fresh_mid_and_natural():
    got = rung_quote(CONDOR, quotes(), CondorSettings())
    assert isinstance(got, RungQuote)
    # mid: 1.12 + 1.32 - 0.535 - 0.635 = 1.27; natural: 1.10 + 1.30 - 0.55 - 0.65 = 1.20
    assert (got.credit_mid, got.credit_natural, got.oldest) == (D("1.27"), D("1.20"), T)


def test_a_missing_or_bad_leg_denies_the_rung():
    q = quotes()
    del q[SYMS[1]]
    assert isinstance(rung_quote(CONDOR, q, CondorSettings()), Denied)
    wide = rung_quote(CONDOR, quotes(lc=("0.40", "0.70")), CondorSettings())
    assert isinstance(wide, Denied) and wide.rule == "rung_quotes" and "wide_spread" in wide.reason
    crossed = rung_quote(CONDOR, quotes(sc=("1.20", "1.10")), CondorSettings())
    assert isinstance(crossed, Denied) and "crossed" in crossed.reason
    one_sided = rung_quote(CONDOR, quotes(lp=("0", "0.65")), CondorSettings(max_spread_pct=1))
    assert isinstance(one_sided, Denied) and "empty_quote" in one_sided.reason


def test_credit_at_the_width_is_refused():
    q = quotes(sc=("4.00", "4.02"), sp=("3.00", "3.02"), lc=("0.01", "0.02"), lp=("0.01", "0.02"))
    got = rung_quote(CONDOR, q, CondorSettings(max_spread_pct=1.0))
    assert isinstance(got, Denied) and "arbitrage" in got.reason
