"""The agent protocol, the per-agent result (``Ballot``) and building agents from settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

from stockbot.config import AgentSettings, ConfigError
from stockbot.consensus.context import MarketContext
from stockbot.consensus.rules import RULES, RuleAgent, RuleDefaults
from stockbot.consensus.schema import ParamBounds, Vote


@runtime_checkable
class Agent(Protocol):
    """Anything that votes. ``name`` is unique per account; ``model`` is what gets recorded."""

    name: str
    model: str

    async def vote(self, context: MarketContext) -> Vote: ...


@dataclass(frozen=True, slots=True)
class Ballot:
    """One agent's outcome in one decision. ``error`` set = a failure that counts as HOLD."""

    agent: str
    model: str
    kind: str
    vote: Vote
    latency_s: float
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    raw_sha256: str | None = None
    call: Any = None  # the LLMCall of an LLM agent (raw answer, tokens, cost), stored by the runner

    @property
    def action(self) -> str:
        return "HOLD" if self.error else self.vote.action

    def record_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Store.record_vote`` (after the decision id)."""
        return dict(agent=self.agent, model=self.model, action=self.action,
                    confidence=None if self.error else self.vote.confidence, latency_s=round(self.latency_s, 6),
                    prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
                    cost_usd=self.cost_usd, vote=None if self.error else self.vote.model_dump(mode="json"),
                    raw_sha256=self.raw_sha256, error=self.error)


def check_agent_count(n: int, allow_fewer_than_three: bool) -> None:
    """Refuse fewer than three agents (a 'supermajority' of one or two is a single point of failure)."""
    if n == 0:
        raise ConfigError("no agents configured: consensus needs at least one (three by default)")
    if n < 3 and not allow_fewer_than_three:
        raise ConfigError(f"{n} agent(s) configured; at least 3 are required for a supermajority "
                          "(set AGENT_ALLOW_FEWER_THAN_THREE=true to allow fewer)")


def check_unique_names(agents: Sequence[Any]) -> None:
    names = [a.name for a in agents]
    if len(set(names)) != len(names):
        raise ConfigError(f"duplicate agent names: {names}")


def build_agents(settings: AgentSettings, *, bounds: ParamBounds | None = None,
                 rule_defaults: RuleDefaults | None = None, secrets: Iterable[str] = (),
                 budget: Any = None, local_api_base: str | None = None) -> list[Agent]:
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
