"""Alerts: a webhook (Slack/Discord/ntfy-style JSON via httpx) and e-mail (SMTP), rate-limited.

Alerts never raise into the caller: a broken webhook must not stop a reconciliation that is
closing an orphan. Every send (or suppression) is returned so callers can record it. Texts pass
through the log redactor, so a secret in an error message cannot leave the host in an alert.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Callable

import httpx

from stockbot.config import AlertSettings
from stockbot.log import get_logger, redactor

KINDS = ("halt", "floor_breach", "orphan", "out_of_capital", "preflight_failed", "job_crash",
         "startup_refused", "stream_406", "stream_stale", "live_override", "reconcile_failed", "unit_failed",
         "lessons_invalid")


@dataclass(frozen=True, slots=True)
class AlertResult:
    kind: str
    sent: tuple[str, ...]  # channels that accepted it
    suppressed: bool = False
    errors: tuple[str, ...] = ()


class Alerter:
    """Sends alerts for one account; at most one per kind per ``min_interval_s``."""

    def __init__(self, settings: AlertSettings, account: str | None, *,
                 clock: Callable[[], float] = time.monotonic, http: httpx.AsyncClient | None = None):
        self.settings = settings
        self.account = account or "default"
        self._clock = clock
        self._last: dict[str, float] = {}
        self._http = http
        self.log = get_logger("alerts")

    def _due(self, kind: str) -> bool:
        last = self._last.get(kind)
        return last is None or self._clock() - last >= self.settings.min_interval_s

    async def send(self, kind: str, message: str, *, force: bool = False) -> AlertResult:
        """Send one alert through every configured channel (never raises)."""
        if not force and not self._due(kind):
            return AlertResult(kind, (), suppressed=True)
        self._last[kind] = self._clock()
        text = redactor().scrub(f"[stockbot {self.account}] {kind}: {message}")
        sent: list[str] = []
        errors: list[str] = []
        if self.settings.webhook_url is not None:
            try:
                await self._webhook(text)
                sent.append("webhook")
            except Exception as exc:  # noqa: BLE001 - alerts must not break the caller
                errors.append(redactor().scrub(f"webhook: {type(exc).__name__}: {exc}"))
        if self.settings.smtp_host and self.settings.email_to:
            try:
                await asyncio.to_thread(self._email, kind, text)
                sent.append("email")
            except Exception as exc:  # noqa: BLE001
                errors.append(redactor().scrub(f"email: {type(exc).__name__}: {exc}"))
        self.log.warning("alert", kind=kind, text=text, channels=sent, errors=errors)
        return AlertResult(kind, tuple(sent), errors=tuple(errors))

    async def _webhook(self, text: str) -> None:
        url = self.settings.webhook_url.get_secret_value()
        # "text" is Slack's field, "content" Discord's; ntfy takes the raw body but accepts JSON too.
        payload = {"text": text, "content": text}
        if self._http is not None:
            resp = await self._http.post(url, json=payload, timeout=10)
        else:
            async with httpx.AsyncClient(timeout=10) as client:
                resp = await client.post(url, json=payload)
        resp.raise_for_status()

    def _email(self, kind: str, text: str) -> None:
        s = self.settings
        msg = EmailMessage()
        msg["Subject"] = f"stockbot {self.account}: {kind}"
        msg["From"] = s.email_from or f"stockbot@{s.smtp_host}"
        msg["To"] = s.email_to
        msg.set_content(text)
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
            if s.smtp_port == 587:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user and s.smtp_password is not None:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
            smtp.send_message(msg)
