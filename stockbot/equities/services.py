"""Wiring helpers for equity/index accounts: the engine from settings, and the scheduled jobs.

``build_engine`` is what the CLI uses (and what the daemon may use) to assemble one account's
``EquityEngine`` from its settings: the real ``AlpacaBroker``, ``OrderExecutor``, ``RiskGate`` and a
``ConsensusRunner`` whose slate limit fits the profile. ``EquityJobs`` holds the four scheduled
jobs of such an account; the daemon runs each through its ``Jobs.guarded`` wrapper.

Suggested schedule (America/New_York):

=========  ======================  ===========================================================
job        when                    what
=========  ======================  ===========================================================
decision   45 10 * * mon-fri       screen -> vote -> gate -> rebalance (SCHEDULE_DECISION_CRON)
advise     0 9 * * mon-fri         advisor picks file (+ e-mail) before the open
grade      30 16 * * mon-fri       grade matured picks, rewrite learnings, after the close
train      0 6 * * sat             weekly retrain on the week's completed sessions
=========  ======================  ===========================================================
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any, Callable

import structlog

from stockbot.config import Settings
from stockbot.equities.engine import EquityEngine, EquityOutcome
from stockbot.equities.grading import GradeReport, Grader
from stockbot.equities.history import NY
from stockbot.equities.picks import Advisor, PicksReport
from stockbot.equities.screener import ScreenerError, TrainedScreener, load_meta, model_age_days
from stockbot.store import Store

log = structlog.get_logger(__name__)
RETRAIN_AFTER_DAYS = 7


def build_engine(settings: Settings, store: Store, *, broker: Any = None, lessons: Any = None, guards: Any = (),
                 capture: Callable[[Any], Any] | None = None, alerter: Any = None, timing: Any = None,
                 lock: asyncio.Lock | None = None, **engine_kwargs: Any) -> EquityEngine:
    """One account's EquityEngine from its settings (``broker`` defaults to the real AlpacaBroker)."""
    from stockbot.broker.alpaca import AlpacaBroker
    from stockbot.broker.orders import OrderExecutor
    from stockbot.equities.context import consensus_for
    from stockbot.risk.gate import RiskGate

    broker = broker or AlpacaBroker(settings.alpaca)
    executor = OrderExecutor(broker, store)
    return EquityEngine(settings.account, settings, broker, store, executor, RiskGate(settings.risk, guards),
                        consensus_for(settings, store=store, alerter=alerter), lessons=lessons, capture=capture, alerter=alerter,
                        timing=timing, lock=lock, **engine_kwargs)


class EquityJobs:
    """decision / advise / grade / train for one equity or index account."""

    def __init__(self, engine: EquityEngine, settings: Settings, *, retrain_after_days: int = RETRAIN_AFTER_DAYS):
        self.engine = engine
        self.settings = settings
        self.retrain_after_days = retrain_after_days
        self.advisor = Advisor(engine, settings.alerts)
        self.grader = Grader(engine.deps.account, engine.deps.broker, engine.universe, loader=engine.loader)

    async def _market_date(self) -> date:
        return (await self.engine.deps.broker.clock()).ts.astimezone(NY).date()

    async def ensure_model(self) -> TrainedScreener | None:
        """Train now if the account has no model or it is older than ``retrain_after_days``
        (run once after start-up, so a fresh account can decide on its first day)."""
        meta = load_meta(self.engine.deps.account, self.engine.universe.name)
        age = model_age_days(meta, await self._market_date())
        if age is not None and age <= self.retrain_after_days:
            return None
        log.info("equities.training_needed", age_days=age)
        return await self.engine.train()

    async def decision(self) -> EquityOutcome:
        return await self.engine.decide()

    async def advise(self) -> PicksReport | None:
        try:
            return await self.advisor.run()
        except ScreenerError as exc:
            self.engine.deps.store.append_event("advisor_skipped", {"reason": str(exc)})
            return None

    async def grade(self) -> GradeReport:
        return await self.grader.run(await self._market_date())

    async def train(self) -> TrainedScreener:
        return await self.engine.train()
