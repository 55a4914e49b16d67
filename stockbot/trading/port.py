"""The ports of the trading core: what the core needs from a broker, and what a strategy offers.

``Broker`` is the surface of ``stockbot.broker.alpaca.AlpacaBroker`` that services use, so a
service's collaborator is typed without importing alpaca-py. ``Strategy`` is what the daemon
runs: ``compose()`` picks one from the registry (``stockbot.strategies``) and nothing else in the
daemon asks which strategy it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Protocol, Sequence

from stockbot.domain import (AccountSnapshot, Bar, BrokerOrder, Clock, OptionContract, OptionQuote, OrderIntent,
                             Position, Quote, TradeContext)
from stockbot.store_rows import OrderRow

if TYPE_CHECKING:
    from stockbot.consensus.runner import ConsensusResult
    from stockbot.consensus.context import MarketContext
    from stockbot.lessons.failure import Failure
    from stockbot.lessons.service import RetrievedLesson
    from stockbot.risk.gate import GuardLike, RiskGate


class Broker(Protocol):
    """One account at the broker (the Alpaca adapter; the sim speaks the same wire)."""

    auth_rejected: str | None

    async def account(self) -> AccountSnapshot: ...
    async def configuration(self) -> dict[str, Any]: ...
    async def clock(self) -> Clock: ...
    async def calendar(self, start: date, end: date) -> list[dict[str, Any]]: ...
    async def positions(self) -> list[Position]: ...
    async def position(self, symbol: str) -> Position | None: ...
    async def orders(self, *, status: str = "open", limit: int = 500,
                     after: datetime | None = None) -> list[BrokerOrder]: ...
    async def order_by_id(self, order_id: str) -> BrokerOrder | None: ...
    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...
    async def submit(self, intent: OrderIntent) -> BrokerOrder: ...
    async def cancel(self, order_id: str) -> None: ...
    async def close_position(self, symbol: str, *, qty: Decimal | None = None,
                             percentage: Decimal | None = None) -> BrokerOrder: ...
    async def latest_quotes(self, symbols: Sequence[str]) -> dict[str, Quote]: ...
    async def daily_bars(self, symbols: Sequence[str], start: datetime,
                         end: datetime | None = None) -> dict[str, list[Bar]]: ...
    async def option_contracts(self, underlying: str, *, expiration_gte: date | None = None,
                               expiration_lte: date | None = None) -> list[OptionContract]: ...
    async def option_chain(self, underlying: str, *, expiration_gte: date | None = None,
                           expiration_lte: date | None = None, strike_gte: Decimal | None = None,
                           strike_lte: Decimal | None = None) -> list[OptionQuote]: ...
    async def option_quotes(self, symbols: Sequence[str]) -> dict[str, OptionQuote]: ...


class Consensus(Protocol):
    """What a strategy asks of the agents (``stockbot.consensus.runner.ConsensusRunner``)."""

    async def decide(self, context: MarketContext, *, decision_id: str | None = None) -> ConsensusResult: ...


class Lessons(Protocol):
    """What the trading core asks of the lessons (``stockbot.lessons.service.LessonService``)."""

    def for_context(self, ctx: TradeContext, k: int | None = None) -> Sequence[RetrievedLesson]: ...
    def guards(self, now: datetime | None = None) -> Sequence[GuardLike]: ...


class AlertSender(Protocol):
    """Operator alerts of a kind (``stockbot.alerts.Alerter``; it rate-limits per kind, never raises)."""

    async def send(self, kind: str, message: str) -> object: ...


# Hands a failure to the lesson capture; may return an awaitable (the daemon's is async), which
# the ``Notifier`` awaits.
Capture = Callable[["Failure"], object]


class Outcome(Protocol):
    """The end of one decision cycle, whatever the strategy."""

    @property
    def status(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def decision_id(self) -> str | None: ...
    @property
    def consensus(self) -> ConsensusResult | None: ...


class ManageResult(Protocol):
    """What management did to one open structure."""

    @property
    def structure_id(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def debit(self) -> Decimal | None: ...
    @property
    def pnl(self) -> Decimal | None: ...


class JobTimes(Protocol):
    """The daemon's schedule as a strategy's extra jobs read it (``stockbot.daemon.jobs.Timings``)."""

    @property
    def advise_cron(self) -> str | None: ...
    @property
    def grade_cron(self) -> str | None: ...
    @property
    def train_cron(self) -> str | None: ...


@dataclass(frozen=True)
class ExtraJob:
    """A scheduled job only one strategy has (the equity advisor, grading, training).

    ``cron`` (America/New_York) or ``once``: run once right after READY. ``trading_days_only``: the
    daemon skips it on days the broker's calendar has no session."""

    name: str
    body: Callable[[], Awaitable[object]]
    cron: str | None = None
    once: bool = False
    trading_days_only: bool = False


class FillBooker(Protocol):
    """How a strategy books fills the reconciler finds late (after a crash or a restart)."""

    def book_late_fill(self, row: OrderRow, order: BrokerOrder) -> str | None:
        """Book the effect of one resolved order; returns what was done (``opened``...) or None."""
        ...

    async def book_unbooked(self) -> list[tuple[str, str]]:
        """Sweep the store for fills acknowledged but never booked; ``(decision or order id, effect)``."""
        ...


class StrategyDeps(Protocol):
    """What the daemon sets or reads on a strategy's collaborators (``trading.deps.EngineDeps``)."""

    gate: RiskGate
    # Why new entries must wait (the daemon's health), or None; set by the composition root.
    entry_block: Callable[[], str | None] | None
    # The freshest streamed quote of a symbol (None when the stream is stale); set by the composition root.
    streamed_quote: Callable[[str], Quote | None] | None


class Strategy(FillBooker, Protocol):
    """One account's strategy, as the daemon runs it."""

    name: str
    deps: StrategyDeps
    lock: asyncio.Lock

    def stream_symbols(self) -> list[str]:
        """The symbols whose quote stream proves market data is flowing for this strategy."""
        ...

    def describe(self) -> str:
        """What the account trades, for READY and status lines (``SPY condors``)."""
        ...

    async def decide(self) -> Outcome: ...

    async def manage(self) -> Sequence[ManageResult]:
        """Take profit / stop / time exits of open structures (may be none for a strategy)."""
        ...

    def extra_jobs(self, timings: JobTimes) -> Sequence[ExtraJob]:
        """Jobs only this strategy has, on the daemon's ``Timings``."""
        ...

    def on_quote(self, quote: Quote) -> bool:
        """A streamed quote arrived: True when it should start a management pass now."""
        ...
