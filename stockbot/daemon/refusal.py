"""How a daemon refuses to start: the exit codes systemd reads, the exception, and the lesson."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from stockbot.errors import StockbotError

if TYPE_CHECKING:
    from stockbot.config import LessonSettings
    from stockbot.lessons.capture import LessonCapture
    from stockbot.store import Store

log = structlog.get_logger("daemon")
EXIT_OK = 0
EXIT_CONFIG = 2  # the unit's RestartPreventExitStatus: an operator must fix something first
EXIT_REFUSED = 3  # could not reach a known state (broker, reconciliation): systemd may retry


class StartupRefused(StockbotError):
    """The daemon must not start trading; ``reason`` is meant for the operator.

    Caller: operator fix when ``exit_code`` is EXIT_CONFIG; retry (systemd restarts) when EXIT_REFUSED.
    """

    def __init__(self, reason: str, exit_code: int = EXIT_REFUSED):
        super().__init__(reason)
        self.reason = reason
        self.exit_code = exit_code


def record_refusal(account: str | None, reason: str, exit_code: int, *, capture: LessonCapture | None = None,
                   store: Store | None = None, settings: LessonSettings | None = None) -> None:
    """Write a refused start-up into the account's lessons (never raises).

    Used before the lessons service exists too (bad settings, damaged state file): then a plain
    LessonCapture without an index writes the lesson file; the next start indexes it."""
    from stockbot.lessons.failure import Failure

    kind = "config_error" if exit_code == EXIT_CONFIG else "startup_refused"
    failure = Failure(kind, "daemon.startup", reason, {"reason": reason, "exit_code": exit_code},
                      impact="The daemon did not start: no decisions, no management, no reconciliation for "
                             "this account until it is fixed.")
    try:
        if capture is None:
            from stockbot.lessons.capture import LessonCapture

            capture = LessonCapture(account, store=store, settings=settings)
        capture.capture(failure)
    except Exception as exc:  # noqa: BLE001 - the refusal itself must still be reported
        log.error("daemon.refusal_lesson_failed", error=f"{type(exc).__name__}: {exc}"[:300])
