"""The per-account daily LLM budget: dollars (``LLM_DAILY_BUDGET_USD``) and tokens (``LLM_DAILY_TOKEN_CAP``).

Spend is read from the account's ``llm_calls`` rows of the current UTC day (``store_llm``), so it
survives restarts and counts every call, usable or not; timed-out calls are rows too, charged an
estimate (the prompt's size plus the full ``max_tokens``), so a storm of timeouts cannot slip past
the budget. Once either limit is reached every LLM agent votes HOLD with the reason (no call is
made), one ``llm_budget`` alert goes out for the day and an ``llm_budget`` event is stored, which is
also how a restarted daemon knows the alert already went out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import structlog

from stockbot.config import LLMSettings
from stockbot.consensus.ports import Alerter, ConsensusStore
from stockbot.domain import utcnow
from stockbot.store_llm import LLMCall, Spend, day_bounds, spend_on

log = structlog.get_logger(__name__)

ALERT_KIND = "llm_budget"
# Rough characters per token, for charging a call that never reported its usage (a timeout).
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """Spend vs budget for one day (what ``stockbot llm spend`` and the dashboard show)."""

    day: str
    calls: int
    spent_usd: float
    budget_usd: float
    tokens: int
    token_cap: int

    @property
    def exhausted_reason(self) -> str | None:
        if self.budget_usd > 0 and self.spent_usd >= self.budget_usd:
            return (f"budget: LLM spend ${self.spent_usd:.4f} reached LLM_DAILY_BUDGET_USD "
                    f"${self.budget_usd:g} for {self.day} (UTC)")
        if self.token_cap > 0 and self.tokens >= self.token_cap:
            return f"budget: {self.tokens} LLM tokens reached LLM_DAILY_TOKEN_CAP {self.token_cap} for {self.day} (UTC)"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, "calls": self.calls, "spent_usd": round(self.spent_usd, 6),
                "budget_usd": self.budget_usd, "tokens": self.tokens, "token_cap": self.token_cap,
                "exhausted": self.exhausted_reason is not None, "reason": self.exhausted_reason}


def status_from(spend: Spend, settings: LLMSettings) -> BudgetStatus:
    return BudgetStatus(day=spend.day, calls=spend.calls, spent_usd=spend.cost_usd,
                        budget_usd=float(settings.daily_budget_usd), tokens=spend.tokens,
                        token_cap=int(settings.daily_token_cap))


def budget_status(store: ConsensusStore, settings: LLMSettings, now: datetime | None = None) -> BudgetStatus:
    """Today's spend vs budget from an account's store."""
    return status_from(spend_on(store, now or utcnow()), settings)


def estimate_call(litellm: ModuleType, model: str, prompt_text: str, max_tokens: int) -> tuple[int, int, float | None]:
    """(prompt tokens, completion tokens, dollars) a call could have cost: the whole ``max_tokens``."""
    p_tok = max(1, len(prompt_text) // CHARS_PER_TOKEN)
    try:
        p_cost, c_cost = litellm.cost_per_token(model=model, prompt_tokens=p_tok, completion_tokens=max_tokens)
        cost = float(p_cost) + float(c_cost)
    except Exception:  # noqa: BLE001 - no price known: the token cap is what limits such models
        cost = None
    return p_tok, max_tokens, (cost if cost else None)


class LLMBudget:
    """Checks the day's spend before every LLM call; alerts once per day when it is spent.

    ``store`` None (benchmarks, unit tests of agents) keeps the ledger in memory: ``charge`` adds to it.
    """

    def __init__(self, settings: LLMSettings, store: ConsensusStore | None = None, *, alerter: Alerter | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.store = store
        self.alerter = alerter
        self.clock = clock
        self._memory: dict[str, list[float]] = {}  # day -> [calls, dollars, tokens], store-less mode
        self._alerted: set[str] = set()
        self._lock = asyncio.Lock()

    def status(self) -> BudgetStatus:
        now = self.clock()
        if self.store is not None:
            return budget_status(self.store, self.settings, now)
        day = day_bounds(now)[0]
        n, cost, tokens = self._memory.get(day, [0, 0.0, 0])
        return status_from(Spend(day=day, calls=int(n), cost_usd=float(cost), tokens=int(tokens)), self.settings)

    def charge(self, call: LLMCall) -> None:
        """Store-less mode only: add a call to today's in-memory ledger (with a store, the row is the charge)."""
        if self.store is None:
            day = day_bounds(self.clock())[0]
            entry = self._memory.setdefault(day, [0, 0.0, 0])
            entry[0] += 1
            entry[1] += float(call.cost_usd or 0.0)
            entry[2] += call.tokens

    async def check(self) -> str | None:
        """The reason LLM agents must HOLD now (budget spent), or None. Never raises: an unreadable
        ledger is treated as a spent budget (fail closed)."""
        try:
            status = await asyncio.to_thread(self.status)
        except Exception as exc:  # noqa: BLE001
            return f"budget: LLM spend unreadable ({type(exc).__name__}); holding"
        reason = status.exhausted_reason
        if reason is not None:
            await self._alert_once(status, reason)
        return reason

    async def _alert_once(self, status: BudgetStatus, reason: str) -> None:
        async with self._lock:  # concurrent agents of one round: one alert
            if status.day in self._alerted:
                return
            self._alerted.add(status.day)
            try:
                if self.store is not None:
                    seen = await asyncio.to_thread(self.store.events, kind=ALERT_KIND)
                    if any(e.payload.get("day") == status.day for e in seen):
                        return  # a previous run of this daemon already alerted today
                    await asyncio.to_thread(self.store.append_event, ALERT_KIND, status.as_dict())
                log.warning("llm.budget_spent", **status.as_dict())
                if self.alerter is not None:
                    await self.alerter.send(ALERT_KIND, f"{reason}; LLM agents vote HOLD until the next UTC day")
            except Exception as exc:  # noqa: BLE001 - an alert must not break the vote
                log.error("llm.budget_alert_failed", error=f"{type(exc).__name__}: {exc}")
