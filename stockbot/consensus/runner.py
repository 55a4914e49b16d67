"""Run every agent at once and decide: wall time is the slowest agent's, never the sum.

Each agent gets its own task and its own timeout; the whole vote has a deadline. Whatever does
not come back in time, raises, or answers garbage is a HOLD with the reason recorded. Every
ballot is stored (``store.record_vote``) before the result is returned; if the votes cannot be
stored, the decision is HOLD: an unauditable trade is not taken.
"""

from __future__ import annotations

import asyncio
import secrets as _secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog

from stockbot.config import Settings
from stockbot.consensus.agents import build_agents, check_agent_count, check_unique_names
from stockbot.consensus.aggregate import tally
from stockbot.consensus.ballot import Agent, Ballot
from stockbot.consensus.context import MarketContext
from stockbot.consensus.ports import Alerter, ConsensusStore
from stockbot.consensus.prompt import build_prompt, context_payload, redact
from stockbot.consensus.rules import RuleDefaults
from stockbot.consensus.schema import ParamBounds, Vote, check_bounds, hold_vote
from stockbot.domain import Action, Decision, utcnow

log = structlog.get_logger(__name__)

# Extra time the runner allows beyond an agent's own timeout before it cuts the agent off itself
# (LLM agents enforce their timeout internally; this catches agents that do not).
TIMEOUT_GRACE_S = 0.25


@dataclass(frozen=True, slots=True)
class ConsensusResult:
    """Everything the caller needs to record and act on one decision."""

    decision_id: str
    strategy: str
    action: Action
    params: dict[str, Any]
    reason: str
    ballots: tuple[Ballot, ...]
    enter_votes: int
    required_votes: int
    n_agents: int
    wall_s: float
    confidence: float | None
    lessons_used: tuple[str, ...]
    dropped: tuple[str, ...]
    prompt: str
    context: dict[str, Any]
    votes_stored: bool

    @property
    def slowest_agent_s(self) -> float:
        return max((b.latency_s for b in self.ballots), default=0.0)

    def to_decision(self, ts: datetime | None = None) -> Decision:
        return Decision(decision_id=self.decision_id, ts=ts or utcnow(), strategy=self.strategy,
                        action=self.action, params=dict(self.params), reason=self.reason)

    def record_decision_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Store.record_decision`` (the engine records the decision)."""
        return dict(decision_id=self.decision_id, strategy=self.strategy, action=self.action.value,
                    params=self.params, reason=self.reason, context=self.context,
                    lessons=[{"id": i} for i in self.lessons_used], prompt=self.prompt)


def new_decision_id(strategy: str) -> str:
    return f"{strategy}-{utcnow():%Y%m%dT%H%M%S}-{_secrets.token_hex(4)}"


class ConsensusRunner:
    """Runs the configured agents concurrently and applies the supermajority rule."""

    def __init__(self, agents: Sequence[Agent], *, threshold: float = 2 / 3, deadline_s: float = 60.0,
                 bounds: ParamBounds | None = None, store: ConsensusStore | None = None, allow_fewer_than_three: bool = False,
                 secrets: Iterable[str] = ()):
        check_agent_count(len(agents), allow_fewer_than_three)
        check_unique_names(agents)
        if not 0.5 < threshold <= 1:
            raise ValueError("threshold must be in (0.5, 1]: a simple majority or less is not consensus")
        self.agents = tuple(agents)
        self.threshold = threshold
        self.deadline_s = deadline_s
        self.bounds = bounds or ParamBounds()
        self.store = store
        self._secrets = tuple(secrets)

    @classmethod
    def from_settings(cls, settings: Settings, *, store: ConsensusStore | None = None, alerter: Alerter | None = None,
                      bounds: ParamBounds | None = None) -> ConsensusRunner:
        """Build agents and runner from one account's settings (bounds from its condor/equity slices).

        LLM agents share one daily budget read from ``store`` (``LLM_DAILY_BUDGET_USD``,
        ``LLM_DAILY_TOKEN_CAP``); ``alerter`` gets the one ``llm_budget`` alert of a spent day."""
        from stockbot.consensus.budget import LLMBudget
        from stockbot.llm_server import local_api_base

        bounds = bounds or ParamBounds.from_settings(settings.condor, settings.equity)
        defaults = RuleDefaults.from_settings(settings.condor, bounds)
        budget = LLMBudget(settings.llm, store, alerter=alerter)
        agents = build_agents(settings.agents, bounds=bounds, rule_defaults=defaults, secrets=settings.secrets(),
                              budget=budget, local_api_base=local_api_base(settings.llm))
        a = settings.agents
        return cls(agents, threshold=a.threshold, deadline_s=a.deadline_s, bounds=bounds, store=store,
                   allow_fewer_than_three=a.allow_fewer_than_three, secrets=settings.secrets())

    async def _one(self, agent: Agent, context: MarketContext, deadline_s: float) -> Ballot:
        kind = getattr(agent, "kind", "custom")
        timeout = min(float(getattr(agent, "timeout_s", deadline_s)) + TIMEOUT_GRACE_S, deadline_s)
        t0 = time.monotonic()

        def failed(reason: str) -> Ballot:
            reason = redact(reason, self._secrets)[:300]
            return Ballot(agent=agent.name, model=agent.model, kind=kind, vote=hold_vote(reason),
                          latency_s=time.monotonic() - t0, error=reason)

        strategy = "condor" if context.is_condor else "equity"
        try:
            ballot_fn = getattr(agent, "ballot", None)
            if ballot_fn is not None:
                ballot = await asyncio.wait_for(ballot_fn(context), timeout)
                if not isinstance(ballot, Ballot):
                    return failed(f"error: agent returned {type(ballot).__name__}, not a Ballot")
            else:
                vote = await asyncio.wait_for(agent.vote(context), timeout)
                if not isinstance(vote, Vote):
                    return failed(f"error: agent returned {type(vote).__name__}, not a Vote")
                ballot = Ballot(agent=agent.name, model=agent.model, kind=kind, vote=vote, latency_s=0.0)
        except TimeoutError:
            return self._charged(agent, context, failed(f"timeout: no vote within {timeout:g}s"))
        except Exception as exc:  # noqa: BLE001 - a crashing agent is a HOLD, never a crash of the cycle
            first = (str(exc).strip().splitlines() or [""])[0]
            return failed(f"error: {type(exc).__name__}: {first}")
        if ballot.error is None:
            # Whatever the agent is, its vote passes the same bounds as a parsed LLM answer.
            problem = check_bounds(ballot.vote, strategy, self.bounds)
            if problem:
                return failed(problem)
        return replace(ballot, agent=agent.name, latency_s=time.monotonic() - t0)

    @staticmethod
    def _charged(agent: Agent, context: MarketContext, ballot: Ballot) -> Ballot:
        """An LLM agent cut off by the runner still made a call: charge its estimate (budget, audit)."""
        estimate = getattr(agent, "estimated_call", None)
        if estimate is None:
            return ballot
        try:
            call = estimate(context, ballot.error or "cut off", ballot.latency_s)
            budget = getattr(agent, "budget", None)
            if budget is not None:
                budget.charge(call)
        except Exception:  # noqa: BLE001 - the HOLD stands whatever the estimate does
            return ballot
        return replace(ballot, call=call, prompt_tokens=call.prompt_tokens,
                       completion_tokens=call.completion_tokens, cost_usd=call.cost_usd)

    async def _collect(self, context: MarketContext) -> list[Ballot]:
        tasks = [asyncio.create_task(self._one(a, context, self.deadline_s), name=f"vote:{a.name}")
                 for a in self.agents]
        try:
            done, pending = await asyncio.wait(tasks, timeout=self.deadline_s)
        finally:
            for t in tasks:
                if not t.done():
                    t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        ballots = []
        for agent, task in zip(self.agents, tasks):
            if task in done and not task.cancelled() and task.exception() is None:
                ballots.append(task.result())
            else:
                reason = f"deadline: no vote within the overall deadline of {self.deadline_s:g}s"
                ballots.append(self._charged(agent, context, Ballot(
                    agent=agent.name, model=agent.model, kind=getattr(agent, "kind", "custom"),
                    vote=hold_vote(reason), latency_s=self.deadline_s, error=reason)))
        return ballots

    @staticmethod
    def _store_votes(store: ConsensusStore, decision_id: str, ballots: Sequence[Ballot]) -> None:
        from stockbot.store_llm import record_call

        for b in ballots:
            store.record_vote(decision_id, **b.record_kwargs())
            if b.call is not None:  # the raw answer beside the vote: audit, replay, budget
                record_call(store, b.call, decision_id=decision_id, ts=utcnow())

    async def decide(self, context: MarketContext, *, decision_id: str | None = None) -> ConsensusResult:
        """Ask every agent at once, count, aggregate, store every vote; HOLD on any fault."""
        decision_id = decision_id or new_decision_id(context.strategy)
        prompt = build_prompt(context, self.bounds, secrets=self._secrets)
        t0 = time.monotonic()
        ballots = await self._collect(context)
        wall = time.monotonic() - t0
        strategy = "condor" if context.is_condor else "equity"
        try:
            t = tally([None if b.error else b.vote for b in ballots], n_agents=len(self.agents),
                      threshold=self.threshold, strategy=strategy, bounds=self.bounds,
                      allowed_symbols=context.allowed_symbols)
            action, params, reason = t.action, t.params, t.reason
            enter, need, conf, dropped = t.enter_votes, t.required, t.confidence, t.dropped
        except Exception as exc:  # noqa: BLE001 - fail closed
            action, params, reason = Action.HOLD, {}, f"consensus error: {type(exc).__name__}: {exc}"[:300]
            enter, need, conf, dropped = 0, len(self.agents), None, ()
        stored = self.store is None
        if self.store is not None:
            try:
                await asyncio.to_thread(self._store_votes, self.store, decision_id, ballots)
                stored = True
            except Exception as exc:  # noqa: BLE001 - unauditable means no trade
                action, params = Action.HOLD, {}
                reason = f"votes could not be stored ({type(exc).__name__}): {reason}"[:300]
        result = ConsensusResult(
            decision_id=decision_id, strategy=context.strategy, action=action, params=params, reason=reason,
            ballots=tuple(ballots), enter_votes=enter, required_votes=need, n_agents=len(self.agents),
            wall_s=wall, confidence=conf, lessons_used=prompt.lessons_used, dropped=dropped,
            prompt=prompt.text(), context=context_payload(context, self.bounds), votes_stored=stored,
        )
        log.info("consensus.decided", decision_id=decision_id, action=action.value, reason=reason,
                 wall_s=round(wall, 3), votes=[{"agent": b.agent, "action": b.action, "error": b.error,
                                                "latency_s": round(b.latency_s, 3)} for b in ballots])
        return result
