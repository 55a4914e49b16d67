"""Rule agents (deterministic, no network) and building agents from settings."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from stockbot.config import AgentSettings, AgentSpec, ConfigError, CondorSettings, DEFAULT_AGENTS
from stockbot.consensus.agents import build_agents
from stockbot.consensus.context import AccountConstraints, EquityCandidate, MarketContext
from stockbot.consensus.rules import RULES, RuleAgent, RuleDefaults, iv_rank_rule, range_rule, trend_rule
from stockbot.consensus.schema import ParamBounds, check_bounds

D = RuleDefaults()


@pytest.mark.parametrize("iv_rank, action", [(None, "HOLD"), (10, "HOLD"), (29.9, "HOLD"), (30, "ENTER"),
                                             (55, "ENTER"), (85, "ENTER"), (86, "HOLD"), (100, "HOLD")])
def test_iv_rank_rule(make_condor, iv_rank, action):
    ctx = make_condor(iv_rank=iv_rank)
    assert iv_rank_rule(ctx, D).action == action


@pytest.mark.parametrize("trend, action", [(0.0, "ENTER"), (0.02, "ENTER"), (0.10, "HOLD"), (-0.10, "HOLD")])
def test_trend_rule(make_condor, trend, action):
    assert trend_rule(make_condor(trend=trend), D).action == action


def test_trend_rule_needs_history(make_condor):
    ctx = make_condor().model_copy(update={"recent_closes": (500.0,) * 10})
    v = trend_rule(ctx, D)
    assert v.action == "HOLD" and "21 closes" in v.rationale


def test_range_rule(make_condor):
    quiet = make_condor()
    assert range_rule(quiet, D).action == "ENTER"
    # shorts right at the money: the 20-day range reaches them
    tight = quiet.model_copy(update={"strikes": tuple(s.model_copy(update={"strike": quiet.spot})
                                                      for s in quiet.strikes)})
    assert range_rule(tight, D).action == "HOLD"
    # realised vol far above implied: premium does not pay
    assert range_rule(quiet.model_copy(update={"iv": 0.001}), D).action == "HOLD"
    # no chain: falls back to the IV-implied one-sigma move
    assert range_rule(quiet.model_copy(update={"strikes": ()}), D).action == "ENTER"


@pytest.mark.parametrize("dtes, expected", [((28, 35, 42), 35), ((30, 40), 40), ((5, 90), None), ((), None)])
def test_rules_pick_dte_within_bounds(make_condor, dtes, expected):
    ctx = make_condor(dte_candidates=dtes).model_copy(update={"strikes": ()})
    v = iv_rank_rule(ctx, D)
    if expected is None:
        assert v.action == "HOLD"
    else:
        assert v.action == "ENTER" and v.condor.dte == expected


@pytest.mark.parametrize("rule", sorted(RULES))
def test_rule_votes_respect_bounds_and_are_deterministic(make_condor, rule):
    bounds = ParamBounds(delta=(0.1, 0.12), width=(2, 3), dte=(30, 40))
    d = RuleDefaults(bounds=bounds, short_delta=0.2, wing_width=10, dte_target=38)
    ctx = make_condor()
    a, b = RULES[rule](ctx, d), RULES[rule](ctx, d)
    assert a == b
    assert check_bounds(a, "condor", bounds) is None
    if a.action == "ENTER":
        assert a.condor.short_delta == 0.12 and a.condor.wing_width == 3


def test_rule_defaults_from_settings():
    d = RuleDefaults.from_settings(CondorSettings(), ParamBounds.from_settings(CondorSettings()))
    assert (d.short_delta, d.wing_width, d.dte_target) == (0.16, 5.0, 37)


def _equity(iv_rank=40.0, trend=0.0, shorting=True):
    closes = tuple(400.0 * (1 + trend * i / 40) + (i % 3) for i in range(41))
    return MarketContext(
        strategy="index", symbol="QQQ", spot=closes[-1], iv_rank=iv_rank, recent_closes=closes,
        candidates=(EquityCandidate(symbol="NVDA", score=0.05), EquityCandidate(symbol="TSLA", score=-0.04),
                    EquityCandidate(symbol="AAPL", score=0.02), EquityCandidate(symbol="GME", score=0.09)),
        allowed_symbols=("NVDA", "TSLA", "AAPL", "QQQ"),
        constraints=AccountConstraints(shorting_enabled=shorting, max_slate=5))


def test_equity_rules():
    v = iv_rank_rule(_equity(), D)
    assert v.action == "ENTER" and [p.symbol for p in v.equity.slate] == ["NVDA", "TSLA", "AAPL"]  # GME not allowed
    assert iv_rank_rule(_equity(iv_rank=90), D).action == "HOLD"
    assert [p.symbol for p in iv_rank_rule(_equity(shorting=False), D).equity.slate] == ["NVDA", "AAPL"]
    up = trend_rule(_equity(trend=0.05), D)
    assert {p.side for p in up.equity.slate} == {"long"}
    down = trend_rule(_equity(trend=-0.05), D)
    assert [(p.symbol, p.side) for p in down.equity.slate] == [("TSLA", "short")]
    assert range_rule(_equity(), D).action == "ENTER"


async def test_rule_agent_protocol(make_condor):
    agent = RuleAgent("iv", "iv_rank", D)
    assert agent.kind == "rule" and agent.model == "rule:iv_rank"
    assert (await agent.vote(make_condor())).action == "ENTER"
    with pytest.raises(KeyError):
        RuleAgent("x", "astrology", D)


def test_build_default_agents_are_the_three_rules():
    agents = build_agents(AgentSettings())
    assert [a.name for a in agents] == ["iv_rank", "trend", "range"] == [s.name for s in DEFAULT_AGENTS]
    assert all(isinstance(a, RuleAgent) for a in agents)


@pytest.mark.parametrize("n, allow, ok", [(0, True, False), (1, False, False), (2, False, False),
                                          (1, True, True), (2, True, True), (3, False, True)])
def test_build_agents_refuses_fewer_than_three(n, allow, ok):
    # model_construct skips the settings' own check on purpose: this is the second line of defence.
    s = AgentSettings.model_construct(agents=DEFAULT_AGENTS[:n], threshold=2 / 3, deadline_s=10,
                                      allow_fewer_than_three=allow)
    if ok:
        assert len(build_agents(s)) == n
    else:
        with pytest.raises(ConfigError):
            build_agents(s)


def test_build_agents_rejects_unknown_rule_and_duplicates():
    bad = AgentSettings(agents=(*DEFAULT_AGENTS[:2], AgentSpec(name="x", kind="rule", model="astrology")))
    with pytest.raises(ConfigError, match="unknown rule"):
        build_agents(bad)
    dup = AgentSettings.model_construct(agents=(DEFAULT_AGENTS[0],) * 3, threshold=2 / 3, deadline_s=10,
                                        allow_fewer_than_three=False)
    with pytest.raises(ConfigError, match="duplicate"):
        build_agents(dup)


def test_build_llm_agents():
    from stockbot.consensus.llm import LLMAgent

    spec = AgentSpec(name="gpt", kind="llm", model="openai/gpt-4o", api_key=SecretStr("sk-live-XYZW1234"),
                     timeout_s=7, temperature=0.2, max_tokens=300)
    agents = build_agents(AgentSettings(agents=(spec, *DEFAULT_AGENTS[:2])))
    llm = agents[0]
    assert isinstance(llm, LLMAgent)
    assert (llm.model, llm.timeout_s, llm.temperature, llm.max_tokens) == ("openai/gpt-4o", 7, 0.2, 300)
    assert "sk-live" not in repr(llm)
