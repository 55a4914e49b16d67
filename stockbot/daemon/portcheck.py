"""mypy holds the real collaborators to the trading core's ports (``stockbot.trading.port``).

Nothing runs here: the check is a function mypy reads under ``TYPE_CHECKING``. It lives in the
daemon because the composition root is where the real ones meet the ports, and the core must not
import them (they sit above it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockbot.alerts import Alerter
    from stockbot.broker.alpaca import AlpacaBroker
    from stockbot.consensus.runner import ConsensusRunner
    from stockbot.daemon.timings import Timings
    from stockbot.lessons.service import LessonService
    from stockbot.trading.port import AlertSender, Broker, Consensus, JobTimes, Lessons

    def _real_ones_fit(broker: AlpacaBroker, runner: ConsensusRunner, lessons: LessonService, alerter: Alerter,
                       timings: Timings) -> tuple[Broker, Consensus, Lessons, AlertSender, JobTimes]:
        return broker, runner, lessons, alerter, timings
