"""The daemon's systemd integration: the notify protocol (``sd_notify``) in plain socket code (no
libsystemd binding needed), and ``stockbot alert``, the ``OnFailure=`` handler (:func:`alert_main`).

systemd passes ``NOTIFY_SOCKET`` to a ``Type=notify`` service: a path to an AF_UNIX datagram
socket, or an abstract-namespace name written with a leading ``@``. One datagram carries one or
more ``KEY=value`` lines (``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1``).
Outside systemd the variable is unset and every call is a silent no-op, so the daemon runs the
same in a terminal, under tests and under systemd.

Sending never raises: a notification that cannot be delivered is logged and reported as False
(the watchdog then restarts a daemon whose pings do not arrive, which is the point of it).
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Mapping

import structlog

log = structlog.get_logger(__name__)


def socket_address(raw: str | None) -> str | bytes | None:
    """``NOTIFY_SOCKET`` -> an address ``socket.sendto`` accepts; None when unusable.

    ``@name`` is the Linux abstract namespace (a leading NUL byte on the wire); an absolute path
    is a filesystem socket. Anything else is refused rather than guessed at.
    """
    if not raw:
        return None
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    if raw.startswith("/"):
        return raw
    return None


class SdNotifier:
    """Sends notifications to ``NOTIFY_SOCKET`` (read once, at construction)."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.raw = env.get("NOTIFY_SOCKET") or None
        self.address = socket_address(self.raw)
        if self.raw and self.address is None:
            log.warning("sdnotify.bad_socket", notify_socket=self.raw)
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        # WATCHDOG_PID names the process the watchdog is meant for; a child must not ping for it.
        self.watchdog_usec = int(usec) if usec and usec.isdigit() and (not pid or pid == str(os.getpid())) else None
        self.sent: list[str] = []  # every message delivered (status lines and pings included)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """systemd's WatchdogSec in seconds when the watchdog is on for this process."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 1_000_000

    def notify(self, *lines: str) -> bool:
        """Send ``lines`` as one datagram; True when delivered, False when off or undeliverable."""
        if self.address is None or not lines:
            return False
        message = "\n".join(lines)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the event loop: a receiver whose queue is full costs one message
                # (EAGAIN, logged below), not the daemon's responsiveness.
                sock.setblocking(False)
                sock.sendto(message.encode("utf-8", "replace"), self.address)
        except OSError as exc:
            log.warning("sdnotify.send_failed", message=message[:80], error=str(exc))
            return False
        self.sent.append(message)
        return True

    def ready(self, status: str | None = None) -> bool:
        """``READY=1``: start-up is complete (only after reconciliation)."""
        return self.notify("READY=1", *([f"STATUS={_one_line(status)}"] if status else []))

    def status(self, text: str) -> bool:
        """``STATUS=...``: the one line ``systemctl status`` shows."""
        return self.notify(f"STATUS={_one_line(text)}")

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: send only while the daemon is known to be healthy."""
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        """``STOPPING=1``: a graceful stop has begun."""
        return self.notify("STOPPING=1", *([f"STATUS={_one_line(status)}"] if status else []))


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(str(text).split())[:limit]


# ---------------------------------------------------------------------- OnFailure= alert (stockbot alert)


def account_of_unit(unit: str) -> str | None:
    """``stockbot@sp500.service`` -> ``sp500``; ``stockbot.service`` -> None (the default account)."""
    name = unit.rsplit("/", 1)[-1].removesuffix(".service")
    if "@" not in name:
        return None
    return name.split("@", 1)[1] or None


def alert_main(argv: list[str] | None = None) -> int:
    """``stockbot alert --unit stockbot@ID.service``: tell the operator a daemon unit failed.

    Run by ``stockbot-alert@.service`` (``OnFailure=``). Records a ``unit_failed`` event in the
    account's store and sends a forced alert through the account's channels; exit 0 when sent or
    recorded, 1 when neither worked (systemd then shows the alert unit failed too)."""
    import argparse

    from stockbot import log as slog
    from stockbot.alerts import Alerter
    from stockbot.config import load_settings, validate_account_id
    from stockbot.store import Store

    p = argparse.ArgumentParser(prog="stockbot alert", description="alert that a stockbot unit failed")
    p.add_argument("--unit", required=True, help="the failed unit, e.g. stockbot@sp500.service")
    p.add_argument("--message", default="", help="extra text for the alert")
    args = p.parse_args(argv)
    account = validate_account_id(account_of_unit(args.unit))
    settings = load_settings(account)
    slog.configure(account, level=settings.log_level, secrets=settings.secrets())
    text = (f"unit {args.unit} failed (systemd gave up restarting it or it exited with an error); "
            f"see: journalctl -u {args.unit} -n 200. {args.message}").strip()
    recorded = False
    try:
        with Store.for_account(account) as store:
            store.append_event("unit_failed", {"unit": args.unit, "message": args.message})
            recorded = True
    except Exception as exc:  # noqa: BLE001 - the alert matters more than the record
        log.error("alert.unrecorded", error=str(exc))
    result = asyncio.run(Alerter(settings.alerts, account).send("unit_failed", text, force=True))
    print(f"stockbot alert: {text} (channels: {', '.join(result.sent) or 'none configured'})")
    return 0 if (result.sent or recorded) and not result.errors else 1
