"""Building agents from settings, and the checks every set of agents must pass.

``Agent`` and ``Ballot`` live in ``ballot`` (re-exported here), beside each other, so that the LLM
agent can use them without importing this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from stockbot.config import AgentSettings, ConfigError, agent_count_problem
from stockbot.consensus.ballot import Agent, Ballot
from stockbot.consensus.ports import CallBudget
from stockbot.consensus.rules import RULES, RuleAgent, RuleDefaults
from stockbot.consensus.schema import ParamBounds


def check_agent_count(n: int, allow_fewer_than_three: bool) -> None:
    """Raise ConfigError when ``n`` agents break the agent-count rule (``config.agent_count_problem``)."""
    problem = agent_count_problem(n, allow_fewer_than_three)
    if problem:
        raise ConfigError(problem)


def check_unique_names(agents: Sequence[Agent]) -> None:
    """Raise ConfigError when two agents share a name (their votes could not be told apart)."""
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate agent names: {names}")


def build_agents(settings: AgentSettings, *, bounds: ParamBounds | None = None,
                 rule_defaults: RuleDefaults | None = None, secrets: Iterable[str] = (),
                 budget: CallBudget | None = None, local_api_base: str | None = None) -> list[Agent]:
    """Build the agents listed in ``settings`` (refuses fewer than three unless allowed).

    ``kind="rule"`` specs name a rule in ``model`` (iv_rank, trend, range); ``kind="llm"`` specs go
    through litellm; ``kind="local"`` specs reach a llama.cpp server (``api_base`` or else
    ``local_api_base``) through litellm. ``budget`` (an ``LLMBudget``) is shared by every LLM agent.
    ``secrets`` (e.g. ``Settings.secrets()``) are redacted from every prompt.
    """
    check_agent_count(len(settings.agents), settings.allow_fewer_than_three)
    bounds = bounds or ParamBounds()
    defaults = rule_defaults or RuleDefaults(bounds=bounds)
    all_secrets = {*secrets, *(s.api_key.get_secret_value() for s in settings.agents if s.api_key)}
    agents: list[Agent] = []
    for spec in settings.agents:
        if spec.kind == "rule":
            if spec.model not in RULES:
                raise ConfigError(f"agent {spec.name!r}: unknown rule {spec.model!r} "
                                  f"(known: {', '.join(sorted(RULES))})")
            agents.append(RuleAgent(spec.name, spec.model, defaults, timeout_s=spec.timeout_s))
        else:
            from stockbot.consensus.llm import LLMAgent  # litellm only when an LLM is configured

            api_base = spec.api_base or (local_api_base if spec.kind == "local" else None)
            agents.append(LLMAgent(
                spec.name, spec.model, bounds, api_base=api_base,
                api_key=spec.api_key.get_secret_value() if spec.api_key else None,
                timeout_s=spec.timeout_s, temperature=spec.temperature, max_tokens=spec.max_tokens,
                secrets=all_secrets, kind=spec.kind, budget=budget,
            ))
    check_unique_names(agents)
    return agents


__all__ = ["Agent", "Ballot", "build_agents", "check_agent_count", "check_unique_names"]
