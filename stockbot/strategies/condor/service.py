"""The condor strategy behind the port: ``CondorEngine`` plus how its fills are booked late."""

from __future__ import annotations

from typing import Sequence

from stockbot.config import Settings
from stockbot.consensus.schema import ParamBounds
from stockbot.domain import AccountSnapshot, BrokerOrder, Quote
from stockbot.store_rows import OrderRow
from stockbot.strategies.condor.engine import CondorEngine, DecisionOutcome
from stockbot.strategies.condor.manage import ManageOutcome
from stockbot.strategies.condor.move_trigger import MoveTrigger
from stockbot.strategies.condor.recovery import CondorBooker
from stockbot.trading.port import ExtraJob, JobTimes
from stockbot.trading.services import StrategyServices


OPTIONS_LEVEL = 3  # Alpaca's level 3 = spreads; an iron condor is two of them


def account_refusal(settings: Settings, account: AccountSnapshot) -> str | None:
    """Why this account cannot trade condors at all (every order would be rejected), or None."""
    level = int(account.options_level or 0)
    if level < OPTIONS_LEVEL:
        return (f"STRATEGY=condor needs options approval level {OPTIONS_LEVEL} (spreads); the broker "
                f"reports level {level} for account {account.account_number}: ask Alpaca for "
                "level 3 or use STRATEGY=equity/index for this account")
    return None


def account_requirement(settings: Settings, account: AccountSnapshot) -> tuple[str, str, str] | None:
    """The preflight row of what condors need of the account: (check, expected, actual)."""
    return "options level for condors", f">= {OPTIONS_LEVEL} (STRATEGY=condor)", str(account.options_level)


def bounds(settings: Settings) -> ParamBounds:
    """The range of parameters an agent may propose for this account's condors."""
    return ParamBounds.from_settings(settings.condor, settings.equity)


class CondorStrategy:
    """SPY (``CONDOR_UNDERLYING``) iron condors: one decision a day, management every interval."""

    name = "condor"

    def __init__(self, engine: CondorEngine, trigger: MoveTrigger):
        self.engine = engine
        self.deps = engine.deps
        self.lock = engine.lock
        self.trigger = trigger
        self._booker = CondorBooker(engine.deps.store, engine.deps.broker)

    def stream_symbols(self) -> list[str]:
        return [self.deps.settings.condor.underlying]  # condors price off the underlying

    def describe(self) -> str:
        return f"{self.deps.settings.condor.underlying} condors"

    async def decide(self) -> DecisionOutcome:
        return await self.engine.decide()

    async def manage(self) -> Sequence[ManageOutcome]:
        try:
            return await self.engine.manage()
        finally:
            self.trigger.forget()  # a close (or a new fill) changes the strikes to watch

    def on_quote(self, quote: Quote) -> bool:
        return self.trigger.on_quote(quote)

    def extra_jobs(self, timings: JobTimes) -> Sequence[ExtraJob]:
        return ()

    def book_late_fill(self, row: OrderRow, order: BrokerOrder) -> str | None:
        return self._booker.book_late_fill(row, order)

    async def book_unbooked(self) -> list[tuple[str, str]]:
        return await self._booker.book_unbooked()


def build(services: StrategyServices) -> CondorStrategy:
    """The condor strategy from the composition root's collaborators."""
    s = services
    engine = CondorEngine(s.account, s.settings, s.broker, s.store, s.executor, s.gate, s.consensus,
                          lessons=s.lessons, capture=s.capture, alerter=s.alerter, timing=s.timing,
                          now=s.clock.now)
    return CondorStrategy(engine, MoveTrigger(s.store, s.settings.condor, s.clock.monotonic))
