"""``stockbot run``: one account's daemon in the foreground, until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import os
import sys

from stockbot import log as slog
from stockbot.config import ConfigError, load_settings, require_broker_keys
from stockbot.daemon.lifecycle import Daemon
from stockbot.daemon.refusal import EXIT_CONFIG, StartupRefused, record_refusal


async def serve(daemon: Daemon) -> int:
    """Start ``daemon`` and run it until SIGTERM/SIGINT; returns the process exit code."""
    daemon.install_signal_handlers()
    try:
        try:
            await daemon.start()
        except StartupRefused as exc:
            print(f"stockbot: refusing to start account {daemon.account or 'default'}: {exc.reason}",
                  file=sys.stderr)
            return exc.exit_code
        return await daemon.run_until_stopped()
    finally:
        daemon.remove_signal_handlers()


def run_daemon(account: str | None) -> int:
    """``stockbot run``: one account's daemon in the foreground; returns the exit code.

    ConfigError (bad settings, missing keys) propagates: the CLI prints it and exits 2, after the
    account's lessons recorded it."""
    try:
        settings = load_settings(account)
    except ConfigError as exc:
        record_refusal(account, f"configuration error: {exc}", EXIT_CONFIG)
        raise
    slog.configure(account, level=settings.log_level, secrets=settings.secrets())
    if account:
        os.environ["STOCKBOT_ACCOUNT"] = account
    try:
        require_broker_keys(settings)
    except ConfigError as exc:
        record_refusal(account, f"configuration error: {exc}", EXIT_CONFIG, settings=settings.lessons)
        raise
    return asyncio.run(serve(Daemon(settings)))
