"""What the consensus package needs from its collaborators, as Protocols (no ``Any`` for them).

The real implementations are ``stockbot.store.Store``, ``stockbot.alerts.Alerter`` and
``stockbot.consensus.budget.LLMBudget``; the daemon passes them in. The store's raw LLM answers go
through ``stockbot.store_llm`` (which writes the store's ``llm_calls`` table), so a store given
here must be a real ``Store`` for that part; everything consensus calls itself is listed below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from stockbot.store_llm import LLMCall


class StoredEvent(Protocol):
    """One row of the store's event log, as far as consensus reads it."""

    @property
    def payload(self) -> Mapping[str, Any]: ...


class ConsensusStore(Protocol):
    """The account's state store: votes, and the event log the LLM budget's alert is kept in."""

    def record_vote(self, decision_id: str, *, agent: str, model: str, action: str, confidence: float | None,
                    latency_s: float, prompt_tokens: int | None, completion_tokens: int | None,
                    cost_usd: float | None, vote: dict[str, Any] | None, raw_sha256: str | None,
                    error: str | None) -> None: ...

    def append_event(self, kind: str, payload: dict[str, Any] | None = None) -> int: ...

    def events(self, *, since: int = 0, kind: str | None = None,
               limit: int | None = None) -> Sequence[StoredEvent]: ...


class Alerter(Protocol):
    """Sends one operator alert of a kind (rate limits and channels are the alerter's business)."""

    async def send(self, kind: str, message: str) -> object: ...


class CallBudget(Protocol):
    """The daily LLM budget an LLM agent asks before each call and charges after it."""

    async def check(self) -> str | None: ...

    def charge(self, call: LLMCall) -> None: ...


if TYPE_CHECKING:  # mypy holds the real collaborators to these ports (no runtime import)
    from stockbot.alerts import Alerter as _AppriseAlerter
    from stockbot.store import Store

    def _real_ones_fit(store: Store, alerter: _AppriseAlerter) -> tuple[ConsensusStore, Alerter]:
        return store, alerter


__all__ = ["Alerter", "CallBudget", "ConsensusStore", "StoredEvent"]
