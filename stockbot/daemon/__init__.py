"""One account's daemon: ``runtime`` (the typed AccountRuntime and ``compose()``, the only
composition root), ``lifecycle`` (start, refuse, stop), ``jobs`` (the scheduled work),
``health`` (market hours, stream monitor, loop watch), ``refusal`` and ``serve`` (``stockbot run``)."""

from stockbot.daemon.lifecycle import Daemon
from stockbot.daemon.refusal import EXIT_CONFIG, EXIT_OK, EXIT_REFUSED, StartupRefused, record_refusal
from stockbot.daemon.serve import run_daemon, serve

__all__ = ["EXIT_CONFIG", "EXIT_OK", "EXIT_REFUSED", "Daemon", "StartupRefused", "record_refusal", "run_daemon",
           "serve"]
