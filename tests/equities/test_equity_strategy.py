"""Profiles, the slate, sizing and the rebalance plan: pure tables."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from stockbot.config import EquitySettings, Settings
from stockbot.domain import Position, Quote
from stockbot.strategies.equity.profiles import effective_params, strategy_version
from stockbot.strategies.equity.screener import Ranked
from stockbot.strategies.equity.strategy import (Candidate, Target, agreed_picks, propose_slate, rebalance_plan,
                                        target_positions)

TS = datetime(2026, 11, 18, 15, 30, tzinfo=timezone.utc)


def settings(profile="conservative", **equity) -> Settings:
    return Settings(account="acct", strategy="equity", equity=EquitySettings(profile=profile, **equity))


def ranked(scores: dict[str, float]) -> list[Ranked]:
    rows = [Ranked(s, 0.5 + v, {}, 100.0, "2026-11-17") for s, v in scores.items()]
    return sorted(rows, key=lambda r: -r.prob)


def quote(sym, bid, ask):
    return Quote(sym, Decimal(bid), Decimal(ask), TS)


# ------------------------------------------------------------------ profiles

@pytest.mark.parametrize("profile,kw,expect", [
    ("conservative", {}, dict(shorting=False, leverage=Decimal(1), gross=Decimal(1), top_k=5, position=0.05,
                              daily=0.03, weekly=0.06, open_positions=8)),
    ("conservative", {"leverage": Decimal(3), "max_gross_exposure": Decimal(2), "max_position_pct": 0.04},
     dict(shorting=False, leverage=Decimal(1), gross=Decimal(1), top_k=5, position=0.04, daily=0.03,
          weekly=0.06, open_positions=8)),
    ("max_aggro", {}, dict(shorting=True, leverage=Decimal(2), gross=Decimal(2), top_k=10, position=0.10,
                           daily=1.0, weekly=1.0, open_positions=20)),
    ("max_aggro", {"top_k": 15, "max_position_pct": 0.2},
     dict(shorting=True, leverage=Decimal(2), gross=Decimal(2), top_k=15, position=0.2, daily=1.0,
          weekly=1.0, open_positions=30)),
])
def test_profiles_map_settings_to_parameters(profile, kw, expect):
    p = effective_params(settings(profile, **kw))
    assert (p.shorting, p.leverage, p.max_gross_exposure, p.top_k) == (expect["shorting"], expect["leverage"],
                                                                       expect["gross"], expect["top_k"])
    assert p.max_position_pct == pytest.approx(expect["position"])
    assert p.risk.daily_loss_limit == expect["daily"] and p.risk.weekly_loss_limit == expect["weekly"]
    assert p.risk.max_open_positions == expect["open_positions"]
    # sizing never proposes a position the gate's per-trade risk would refuse
    assert p.risk.max_risk_per_trade >= p.max_position_pct


def test_max_aggro_raises_fire_counters_for_a_full_rebalance():
    p = effective_params(settings("max_aggro"))
    assert p.max_slate == 20
    assert p.risk.max_orders_per_hour >= 2 * p.max_slate  # close + open of every name fits in an hour


@pytest.mark.parametrize("mult,expect", [(Decimal(1), Decimal(1)), (Decimal(2), Decimal(2)), (Decimal(4), Decimal(2))])
def test_leverage_never_exceeds_the_broker_multiplier(mult, expect):
    assert effective_params(settings("max_aggro")).effective_leverage(mult) == expect


def test_strategy_version_label():
    assert strategy_version("sp500", "max_aggro", date(2026, 11, 18)) == "sp500-max_aggro-2026-11-18"
    assert strategy_version(None, "conservative", date(2026, 1, 2)) == "default-conservative-2026-01-02"


# ------------------------------------------------------------------ slate

def test_conservative_slate_is_long_only_and_positive():
    r = ranked({"A": 0.2, "B": 0.1, "C": 0.05, "D": -0.1, "E": -0.2})
    slate = propose_slate(r, effective_params(settings(top_k=2)), shorting_allowed=True)
    assert [(c.symbol, c.side, c.rank) for c in slate] == [("A", "long", 1), ("B", "long", 2)]


def test_aggro_slate_shorts_the_bottom_unless_the_broker_forbids():
    r = ranked({f"L{i}": 0.3 - i * 0.01 for i in range(12)} | {f"S{i}": -0.3 + i * 0.01 for i in range(12)})
    p = effective_params(settings("max_aggro"))
    slate = propose_slate(r, p, shorting_allowed=True)
    assert [c.symbol for c in slate if c.side == "long"] == [f"L{i}" for i in range(10)]
    assert [c.symbol for c in slate if c.side == "short"] == [f"S{i}" for i in range(10)]
    assert all(c.side == "long" for c in propose_slate(r, p, shorting_allowed=False))


def test_agents_can_veto_and_reweight_but_never_add():
    proposed = [Candidate("A", "long", 0.2, 1), Candidate("B", "long", 0.1, 2), Candidate("Z", "short", -0.2, 1)]
    slate = [{"symbol": "A", "side": "long", "weight": 0.7}, {"symbol": "JPM", "side": "long", "weight": 1},
             {"symbol": "Z", "side": "long", "weight": 0.5}]
    assert [(c.symbol, w) for c, w in agreed_picks(slate, proposed)] == [("A", 0.7)]


# ------------------------------------------------------------------ sizing

def test_targets_split_gross_by_weight_with_caps_and_whole_shares():
    p = effective_params(settings("max_aggro"))  # gross 2x, 10% cap
    picks = [(Candidate("A", "long", 0.2, 1), 0.5), (Candidate("B", "short", -0.2, 1), 0.5)]
    quotes = {"A": quote("A", "99.9", "100.1"), "B": quote("B", "49.9", "50.1")}
    t = target_positions(picks, equity=Decimal(100000), multiplier=Decimal(2), params=p, quotes=quotes)
    # 2 x 100k / 2 = 100k each, capped at 10% = 10k; longs at the ask, shorts at the bid
    assert t["A"].qty == Decimal(99) and t["A"].price == Decimal("100.1")
    assert t["B"].qty == Decimal(-200) and t["B"].price == Decimal("49.9")
    assert all(x.notional <= Decimal(10000) for x in t.values())


def test_targets_respect_the_multiplier_and_skip_unpriced():
    p = effective_params(settings("max_aggro", max_position_pct=1.0))
    picks = [(Candidate(s, "long", 0.1, i), 1.0) for i, s in enumerate("ABCD")]
    quotes = {s: quote(s, "10", "10") for s in "ABC"}  # D has no quote
    t = target_positions(picks, equity=Decimal(1000), multiplier=Decimal(1), params=p, quotes=quotes)
    assert set(t) == {"A", "B", "C"}
    assert sum(x.notional for x in t.values()) <= Decimal(1000)  # 1x: the broker allows no margin


# ------------------------------------------------------------------ rebalance

def pos(sym, qty):
    return Position(sym, Decimal(qty), Decimal(100))


def tgt(sym, qty):
    return Target(sym, "long" if qty > 0 else "short", Decimal(qty), Decimal(100), 0.1)


def test_rebalance_plan_table():
    positions = [pos("KEEP", 100), pos("DROP", 50), pos("FLIP", 30), pos("TRIM", 200), pos("ADD", 10),
                 pos("MANUAL", 5)]
    targets = {"KEEP": tgt("KEEP", 110), "FLIP": tgt("FLIP", -40), "TRIM": tgt("TRIM", 100), "ADD": tgt("ADD", 100),
               "NEW": tgt("NEW", -20), "MANUAL": tgt("MANUAL", 50)}
    plan = rebalance_plan(positions, targets, ours={"KEEP", "DROP", "FLIP", "TRIM", "ADD"})
    assert [(c.symbol, c.qty, c.full) for c in plan.closes] == [
        ("DROP", Decimal(50), True), ("FLIP", Decimal(30), True), ("TRIM", Decimal(100), False)]
    assert [(o.symbol, o.side, o.qty) for o in plan.opens] == [
        ("ADD", "long", Decimal(90)), ("FLIP", "short", Decimal(40)), ("NEW", "short", Decimal(20))]
    assert plan.keeps == ("KEEP",) and plan.untouched == ("MANUAL",)


def test_an_empty_target_closes_everything_we_own_and_nothing_else():
    plan = rebalance_plan([pos("A", 10), pos("B", -5), pos("X", 1)], {}, ours={"A", "B"})
    assert [(c.symbol, c.full) for c in plan.closes] == [("A", True), ("B", True)]
    assert not plan.opens and plan.untouched == ("X",)
