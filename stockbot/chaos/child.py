"""The daemon as a process the reliability suite may SIGKILL at any instant.

``python -m stockbot.chaos.child --account ID --report-fd FD [--decision-every S]`` runs the real
``stockbot.daemon.Daemon`` exactly as ``stockbot run --account ID`` does (settings from the env
file, logging, keys required, ``serve()`` with its signal handlers), with demo-speed jobs: the
first decision right after READY and then one every ``--decision-every`` seconds, because the
production cron cannot fire more often than once a minute.

Evidence for the "nothing lost" check: every durable write of the state store is reported on
file descriptor ``FD`` *after* it returned (so after its commit): ``E <seq> <kind>`` for an event,
``I <client_order_id>`` for an order intent, ``U <client_order_id> <status>`` for an order update,
``T <structure_id> <status>`` for a trade. The reporting wraps the ``Store`` class of this process
only and changes nothing it does; one ``os.write`` per line keeps lines whole on a pipe.

``--die-on REGEX --die-at N``: right after the N-th reported write (counted from READY on) whose
line (order lines with their purpose appended: ``U <cid> filled condor_close``) matches
``REGEX``, the process sends itself SIGKILL. That puts a kill exactly on a chosen boundary of
the order path (after the intent is durable but before the POST, after the broker answered but
before the fill is booked...), which a kill timed from outside only hits by luck.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import signal
import sys
from typing import Any, Callable


def _report(fd: int | None, die_on: str | None = None, die_at: int = 1) -> Callable[..., None]:
    pattern = re.compile(die_on) if die_on else None
    seen = [0]
    armed = [False]  # writes count once READY was reported: the order path, not start-up

    def write(line: str, note: str = "") -> None:
        if fd is not None:
            try:
                os.write(fd, (line.replace("\n", " ")[:512] + "\n").encode())
            except OSError:  # the parent went away: the daemon itself must not care
                pass
        if line.endswith(" daemon_ready"):
            armed[0] = True
        # the note (an order's purpose: client ids may be hashed) is matched, never reported
        if pattern is not None and armed[0] and pattern.search(f"{line} {note}" if note else line):
            seen[0] += 1
            if seen[0] == die_at:
                os.kill(os.getpid(), signal.SIGKILL)
    return write


def instrument_store(write: Callable[..., None]) -> None:
    """Report each committed store write through ``write`` (see the module docstring). Order
    lines carry the order's purpose as a note for ``--die-on`` (``I <cid>`` + ``condor_close``)."""
    from stockbot.store import Store

    purposes: dict[str, str] = {}  # client id -> purpose, from the intents this process wrote

    def after(method: Callable[..., Any], line: Callable[..., str],
              note: Callable[..., str] = lambda *_a, **_k: "") -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
            result = method(self, *args, **kwargs)
            if not self.readonly:
                write(line(result, *args, **kwargs), note(*args, **kwargs))
            return result
        return wrapper

    def intent_note(intent: Any, *_a: Any, **_k: Any) -> str:
        purposes[intent.client_order_id] = intent.purpose or ""
        return purposes[intent.client_order_id]

    Store.append_event = after(Store.append_event, lambda seq, kind, *_a, **_k: f"E {seq} {kind}")
    Store.record_order_intent = after(Store.record_order_intent,
                                      lambda _r, intent, *_a, **_k: f"I {intent.client_order_id}", intent_note)
    Store.update_order = after(Store.update_order,
                               lambda _r, cid, **f: f"U {cid} {f.get('status') or '-'}",
                               lambda cid, **_f: purposes.get(cid, ""))
    Store.record_trade = after(Store.record_trade,
                               lambda _r, **f: f"T {f['structure_id']} {f.get('status') or '-'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m stockbot.chaos.child", description=__doc__.splitlines()[0])
    p.add_argument("--account", required=True)
    p.add_argument("--report-fd", type=int, default=None, help="file descriptor for the write reports")
    p.add_argument("--decision-every", type=float, default=2.0)
    p.add_argument("--first-after", type=float, default=0.2)
    p.add_argument("--manage-every", type=float, default=5.0)
    p.add_argument("--reconcile-every", type=float, default=10.0)
    p.add_argument("--die-on", default=None, metavar="REGEX", help="SIGKILL itself after a matching write")
    p.add_argument("--die-at", type=int, default=1, metavar="N", help="... the N-th matching one")
    args = p.parse_args(argv)

    from stockbot import log as slog
    from stockbot.config import ConfigError, load_settings, require_broker_keys
    from stockbot.daemon import EXIT_CONFIG, Daemon, serve
    from stockbot.daemon.jobs import Timings

    if args.report_fd is not None or args.die_on:
        instrument_store(_report(args.report_fd, args.die_on, args.die_at))
    try:
        settings = load_settings(args.account)
        slog.configure(args.account, level=settings.log_level, secrets=settings.secrets())
        os.environ["STOCKBOT_ACCOUNT"] = args.account
        require_broker_keys(settings)
    except ConfigError as exc:
        print(f"stockbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    timings = Timings.from_settings(settings.schedule, decision_cron=None, decision_every_s=args.decision_every,
                                    first_run_after_s=args.first_after, eod_cron=None, eod_every_s=3600,
                                    manage_every_s=args.manage_every, reconcile_every_s=args.reconcile_every,
                                    stream_silence_s=30, stop_timeout_s=30)
    return asyncio.run(serve(Daemon(settings, timings=timings)))


if __name__ == "__main__":  # pragma: no cover - run as a process by the suite
    sys.exit(main())
