"""Composition root of one account's daemon.

Start-up order: settings -> logging -> store -> broker check -> reconciliation -> lesson index ->
scheduler and stream -> READY. This module wires adapters together; nothing else builds clients.
"""

from __future__ import annotations

import os

from stockbot import log
from stockbot.config import load_settings, require_broker_keys
from stockbot.store import Store

EXIT_NOT_READY = 3


def run_daemon(account: str | None) -> int:
    """Run one account's daemon in the foreground; returns the process exit code."""
    settings = load_settings(account)
    log.configure(account, level=settings.log_level, secrets=settings.secrets())
    logger = log.get_logger("daemon")
    if account:
        os.environ["STOCKBOT_ACCOUNT"] = account
    require_broker_keys(settings)
    with Store.for_account(account) as store:
        seq = store.append_event("daemon_start", {"strategy": settings.strategy, "paper": settings.alpaca.paper})
        logger.info("daemon.start", strategy=settings.strategy, paper=settings.alpaca.paper, event_seq=seq)
        # The trading loop (broker, reconciliation, scheduler, stream) is wired by the daemon issue;
        # until it lands, refuse to pretend: exit non-zero so systemd does not report a healthy unit.
        logger.error("daemon.not_ready", reason="trading loop not built yet in this version")
        store.append_event("daemon_refused", {"reason": "trading loop not built yet"})
    return EXIT_NOT_READY
