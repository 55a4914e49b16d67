"""The collaborators the composition root hands a strategy (``stockbot.daemon.runtime.compose``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Awaitable, Callable

from stockbot.clock import Clock
from stockbot.config import Settings
from stockbot.risk.gate import RiskGate
from stockbot.store import Store
from stockbot.trading.executor import OrderExecutor
from stockbot.trading.ladder import LadderTiming
from stockbot.trading.port import Broker

if TYPE_CHECKING:
    from stockbot.alerts import Alerter
    from stockbot.consensus.runner import ConsensusRunner
    from stockbot.lessons.failure import Failure
    from stockbot.lessons.service import LessonService


@dataclass(frozen=True)
class StrategyServices:
    """Everything a strategy may use; built once per account, never by the strategy itself."""

    account: str | None
    settings: Settings
    clock: Clock
    broker: Broker
    store: Store
    executor: OrderExecutor
    gate: RiskGate
    consensus: ConsensusRunner
    lessons: LessonService | None
    capture: Callable[[Failure], Awaitable[object]] | None
    alerter: Alerter | None
    timing: LadderTiming
