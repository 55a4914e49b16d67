"""The agent protocol and one agent's result (``Ballot``), side by side.

Both the agent builder (``agents``) and the LLM agent (``llm``) need these two; keeping them in
a module that imports neither is what keeps ``agents`` and ``llm`` out of an import circle
(``tests/consensus/test_import_graph.py`` holds the package to that).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from stockbot.consensus.context import MarketContext
from stockbot.consensus.schema import Vote
from stockbot.store_llm import LLMCall


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
    call: LLMCall | None = None  # an LLM agent's call (raw answer, tokens, cost), stored by the runner

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


__all__ = ["Agent", "Ballot"]
