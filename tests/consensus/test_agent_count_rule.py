"""One rule for "at least three agents": the loader, build_agents and the runner say the same."""

from __future__ import annotations

import pytest

from stockbot.config import MIN_AGENTS, AgentSettings, ConfigError, DEFAULT_AGENTS, agent_count_problem
from stockbot.consensus import ConsensusRunner, RuleAgent, RuleDefaults, build_agents


@pytest.mark.parametrize("n, allow, refused", [
    (0, False, True), (0, True, True), (1, False, True), (2, False, True),
    (1, True, False), (2, True, False), (3, False, False), (7, False, False),
])
def test_agent_count_rule(n, allow, refused):
    assert (agent_count_problem(n, allow) is not None) is refused


def test_min_agents_is_three():
    assert MIN_AGENTS == 3 and agent_count_problem(MIN_AGENTS - 1, False) is not None


def test_builder_and_runner_refuse_with_the_rule_s_own_words():
    two = DEFAULT_AGENTS[:2]
    expected = agent_count_problem(2, False)
    settings = AgentSettings.model_construct(agents=two, threshold=2 / 3, deadline_s=10, allow_fewer_than_three=False)
    with pytest.raises(ConfigError) as built:
        build_agents(settings)
    d = RuleDefaults()
    with pytest.raises(ConfigError) as ran:
        ConsensusRunner([RuleAgent("a", "iv_rank", d), RuleAgent("b", "trend", d)])
    assert str(built.value) == str(ran.value) == expected


def test_bounds_from_condor_settings_alone_keep_the_default_slate():
    # Found by mypy: with slots=True, ``cls.max_slate`` was the slot descriptor, not 5.
    from stockbot.config import CondorSettings
    from stockbot.consensus.schema import DEFAULT_MAX_SLATE, ParamBounds

    bounds = ParamBounds.from_settings(CondorSettings())
    assert bounds.max_slate == DEFAULT_MAX_SLATE == ParamBounds().max_slate == 5
    assert bounds.as_dict()["max_slate"] == 5
