"""The one composition root of an account's daemon.

Every collaborator of a running account is chosen here and nowhere else: the clock (real in
production, virtual in a replay), the state store, the broker adapter (Alpaca paper, live or the
local exchange: one adapter, the URLs decide), the lessons, the agents and the strategy from the
registry. ``lifecycle.Daemon`` calls these in start-up order (each step may refuse start-up);
``compose`` ties the opened pieces into a typed :class:`AccountRuntime`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from stockbot.clock import REAL_CLOCK, Clock
from stockbot.config import Settings
from stockbot.daemon.health import HealthState, MarketHours, StreamMonitor
from stockbot.daemon.timings import Timings
from stockbot.store import Store
from stockbot.strategies import bounds_for, build_strategy
from stockbot.trading.deps import Notifier
from stockbot.trading.executor import OrderExecutor
from stockbot.trading.ladder import LadderTiming
from stockbot.trading.port import Broker, Strategy
from stockbot.trading.reconciler import Reconciler
from stockbot.trading.rejections import with_rejections
from stockbot.trading.services import StrategyServices

if TYPE_CHECKING:
    from stockbot.alerts import Alerter
    from stockbot.lessons.capture import LessonCapture
    from stockbot.lessons.failure import Failure
    from stockbot.lessons.service import LessonService


@dataclass
class AccountRuntime:
    """One account's collaborators, typed, as the jobs use them."""

    settings: Settings
    clock: Clock
    timings: Timings
    store: Store
    broker: Broker
    alerter: Alerter
    notifier: Notifier
    lessons: LessonService
    strategy: Strategy
    reconciler: Reconciler
    hours: MarketHours
    stream: StreamMonitor
    health: HealthState

    @property
    def account(self) -> str | None:
        return self.settings.account


def open_store(account: str | None) -> Store:
    """The account's SQLite state store (raises StoreLocked / StoreError)."""
    return Store.for_account(account)


def open_broker(settings: Settings, **broker_kwargs: Any) -> Broker:
    """The account's broker: Alpaca's paper or live API, or the local exchange, by URL."""
    from stockbot.broker.alpaca import AlpacaBroker

    return AlpacaBroker(settings.alpaca, **broker_kwargs)


def open_alerter(settings: Settings) -> Alerter:
    from stockbot.alerts import Alerter

    return Alerter(settings.alerts, settings.account)


def open_lessons(settings: Settings) -> LessonService:
    """The account's lessons (files, guards, vector index); blocking, run in a worker thread."""
    from stockbot.lessons.service import LessonService

    return LessonService.open(settings.account, settings.lessons)


def open_capture(settings: Settings, store: Store, lessons: LessonService) -> LessonCapture:
    from stockbot.lessons.capture import LessonCapture

    return LessonCapture(settings.account, store=store, index=lessons.index, settings=settings.lessons)


def strategy_services(settings: Settings, *, store: Store, broker: Broker, lessons: LessonService | None,
                      capture: Callable[[Failure], Awaitable[object]] | None, alerter: Alerter | None,
                      clock: Clock = REAL_CLOCK) -> StrategyServices:
    """The collaborators every strategy gets: the idempotent executor, the risk gate with the
    lessons' guards, the account's agents (bounded by the strategy's parameter range)."""
    from stockbot.consensus.runner import ConsensusRunner
    from stockbot.risk.gate import RiskGate

    guards = lessons.guards() if lessons is not None else ()
    consensus = ConsensusRunner.from_settings(settings, store=store, alerter=alerter, bounds=bounds_for(settings))
    return StrategyServices(settings.account, settings, clock, broker, store, OrderExecutor(broker, store),
                            RiskGate(settings.risk, guards), consensus, lessons, capture, alerter,
                            LadderTiming.from_settings(settings.condor))


def compose(settings: Settings, *, timings: Timings, store: Store, broker: Broker, lessons: LessonService,
            capture: Callable[[Failure], Awaitable[object]], alerter: Alerter, notifier: Notifier,
            health: HealthState, clock: Clock = REAL_CLOCK) -> AccountRuntime:
    """Tie the opened pieces into the running account: strategy, reconciler, market hours, stream monitor."""
    services = strategy_services(settings, store=store, broker=broker, lessons=lessons, capture=capture,
                                 alerter=alerter, clock=clock)
    strategy = build_strategy(services)
    stream = StreamMonitor(strategy.stream_symbols(), store, notifier, silence_s=timings.stream_silence_s,
                           monotonic=clock.monotonic)
    # a degraded daemon, or a broker refusal the next order cannot escape, blocks entries, not the process
    strategy.deps.entry_block = with_rejections(health.entry_block, store)
    max_age = settings.risk.max_quote_age_s
    strategy.deps.streamed_quote = lambda symbol: stream.tracker.fresh(symbol, max_age)
    reconciler = Reconciler(settings.account, broker, store, services.executor, booker=strategy, capture=capture,
                            alerter=alerter, now=clock.now, timing=services.timing, lock=strategy.lock)
    hours = MarketHours(broker, ttl_s=timings.clock_ttl_s, monotonic=clock.monotonic)
    return AccountRuntime(settings, clock, timings, store, broker, alerter, notifier, lessons, strategy, reconciler,
                          hours, stream, health)
