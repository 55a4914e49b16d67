"""The equity / index strategy behind the port: ``EquityEngine`` plus its four own jobs.

``build`` makes it from the composition root's collaborators; ``EquityStrategy`` holds the
jobs only such an account has (the daemon runs each through its guarded job wrapper).

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

from datetime import date
from typing import Any, Sequence

import structlog

from stockbot.config import Settings
from stockbot.consensus.schema import ParamBounds
from stockbot.domain import AccountSnapshot, BrokerOrder, Quote
from stockbot.store_rows import OrderRow
from stockbot.strategies.equity.book import recover_fills
from stockbot.strategies.equity.engine import EquityEngine, EquityOutcome
from stockbot.strategies.equity.grading import GradeReport, Grader
from stockbot.strategies.equity.history import NY
from stockbot.strategies.equity.picks import Advisor, PicksReport
from stockbot.strategies.equity.screener import ScreenerError, TrainedScreener, load_meta, model_age_days
from stockbot.trading.port import ExtraJob, JobTimes, ManageResult
from stockbot.trading.services import StrategyServices

log = structlog.get_logger(__name__)
RETRAIN_AFTER_DAYS = 7
JOBS = ("advise", "grade", "train", "train_if_needed")  # this strategy's own jobs (``extra_jobs``)


def account_refusal(settings: Settings, account: AccountSnapshot) -> str | None:
    """Stock trading needs nothing beyond an unblocked account (checked for every strategy)."""
    return None


def account_requirement(settings: Settings, account: AccountSnapshot) -> tuple[str, str, str] | None:
    return None


def bounds(settings: Settings) -> ParamBounds:
    """The profile's parameter bounds: a slate of 2K picks must not be refused as too long."""
    from stockbot.strategies.equity.context import bounds_for

    return bounds_for(settings)


def build(services: StrategyServices, **engine_kwargs: Any) -> "EquityStrategy":
    """The equity/index strategy from the composition root's collaborators."""
    s = services
    engine = EquityEngine(s.account, s.settings, s.broker, s.store, s.executor, s.gate, s.consensus,
                          lessons=s.lessons, capture=s.capture, alerter=s.alerter, timing=s.timing,
                          now=s.clock.now, **engine_kwargs)
    return EquityStrategy(engine, s.settings)


class EquityStrategy:
    """An equity or index account: the screened long/short slate, rebalanced by each decision;
    advisor picks, grading and training as its own jobs."""

    def __init__(self, engine: EquityEngine, settings: Settings, *, retrain_after_days: int = RETRAIN_AFTER_DAYS):
        self.engine = engine
        self.settings = settings
        self.retrain_after_days = retrain_after_days
        self.advisor = Advisor(engine, settings.alerts)
        self.grader = Grader(engine.deps.account, engine.deps.broker, engine.universe, loader=engine.loader)
        self.name = settings.strategy
        self.deps = engine.deps
        self.lock = engine.lock

    # ------------------------------------------------------------------ the port

    def stream_symbols(self) -> list[str]:
        return [self.engine.universe.etf]  # slates use bars: the index ETF is the freshness probe

    def describe(self) -> str:
        return f"the {self.settings.equity.universe} slate"

    async def manage(self) -> Sequence[ManageResult]:
        return ()  # an equity slate is managed by the next rebalance

    def on_quote(self, quote: Quote) -> bool:
        return False  # nothing to manage between rebalances

    def extra_jobs(self, timings: JobTimes) -> Sequence[ExtraJob]:
        advise, grade, train, train_if_needed = JOBS
        return (ExtraJob(advise, self._advise_job, cron=timings.advise_cron, trading_days_only=True),
                ExtraJob(grade, self._grade_job, cron=timings.grade_cron, trading_days_only=True),
                ExtraJob(train, self._train_job, cron=timings.train_cron),
                # a fresh account needs a model before its first decision; minutes of work, so after READY
                ExtraJob(train_if_needed, self._train_if_needed_job, once=True))

    def book_late_fill(self, row: OrderRow, order: BrokerOrder) -> str | None:
        return None  # the sweep below books every filled quantity the book has not seen

    async def book_unbooked(self) -> list[tuple[str, str]]:
        """Fills the book missed (a crash between a fill and its booking), idempotently."""
        done = recover_fills(self.deps.store, self.name, version="recovered", now=self.deps.now())
        return [(cid, "recovered") for cid in done]

    async def _advise_job(self) -> None:
        report = await self.advise()
        self.deps.store.append_event("advise_done", {"written": report is not None})

    async def _grade_job(self) -> None:
        await self.grade()
        self.deps.store.append_event("grade_done", {})

    async def _train_job(self) -> None:
        model = await self.train()
        self.deps.store.append_event("train_done", {"model": str(getattr(model, "meta", ""))[:300]})

    async def _train_if_needed_job(self) -> None:
        model = await self.ensure_model()
        self.deps.store.append_event("train_checked", {"trained": model is not None})

    # ------------------------------------------------------------------ the jobs

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

    async def decide(self) -> EquityOutcome:
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
