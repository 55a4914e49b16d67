"""The condor strategy behind the port: ``CondorEngine`` plus how its fills are booked late."""

from __future__ import annotations

from typing import Any, Sequence

from stockbot.config import Settings
from stockbot.consensus.schema import ParamBounds
from stockbot.domain import BrokerOrder
from stockbot.store_rows import OrderRow
from stockbot.strategies.condor.engine import CondorEngine, DecisionOutcome
from stockbot.strategies.condor.manage import ManageOutcome
from stockbot.strategies.condor.recovery import CondorBooker
from stockbot.trading.port import ExtraJob
from stockbot.trading.services import StrategyServices


def bounds(settings: Settings) -> ParamBounds:
    """The range of parameters an agent may propose for this account's condors."""
    return ParamBounds.from_settings(settings.condor, settings.equity)


class CondorStrategy:
    """SPY (``CONDOR_UNDERLYING``) iron condors: one decision a day, management every interval."""

    name = "condor"

    def __init__(self, engine: CondorEngine):
        self.engine = engine
        self.deps = engine.deps
        self.lock = engine.lock
        self._booker = CondorBooker(engine.deps.store, engine.deps.broker)

    def stream_symbols(self) -> list[str]:
        return [self.deps.settings.condor.underlying]  # condors price off the underlying

    def describe(self) -> str:
        return f"{self.deps.settings.condor.underlying} condors"

    async def decide(self) -> DecisionOutcome:
        return await self.engine.decide()

    async def manage(self) -> Sequence[ManageOutcome]:
        return await self.engine.manage()

    def extra_jobs(self, timings: Any) -> Sequence[ExtraJob]:
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
    return CondorStrategy(engine)
