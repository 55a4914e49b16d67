"""One account's daemon: ``runtime`` (the typed AccountRuntime and ``compose()``, the only
composition root), ``lifecycle`` (start, refuse, stop), ``jobs`` (the scheduled work) and
``health`` (market hours, stream monitor, loop watch)."""

from stockbot.daemon.lifecycle import (EXIT_CONFIG, EXIT_OK, EXIT_REFUSED, Daemon, StartupRefused, record_refusal,
                                       run_daemon, serve)

__all__ = ["EXIT_CONFIG", "EXIT_OK", "EXIT_REFUSED", "Daemon", "StartupRefused", "record_refusal", "run_daemon",
           "serve"]
