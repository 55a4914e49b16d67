"""Alerts through apprise (Telegram, Slack, Discord, ntfy, Pushover, e-mail, webhooks...), rate-limited.

Targets are apprise URLs in ``ALERT_URLS``. The older settings keep working by mapping onto apprise:
``ALERT_WEBHOOK_URL`` becomes its native apprise service when apprise knows the address (a Slack,
Discord or ntfy URL) and a ``json://`` post with Slack's ``text`` field otherwise; ``ALERT_SMTP_*`` /
``ALERT_EMAIL_*`` become a ``mailto://`` URL (STARTTLS on 587, TLS on 465, plain elsewhere).

Alerts never raise into the caller: a broken webhook must not stop a reconciliation that is
closing an orphan. Every send (or suppression) is returned so callers can record it. Texts pass
through the log redactor, and every secret-looking part of every target URL is added to it, so
neither an alert, a log line nor an error message carries a token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import httpx

from stockbot.config import AlertSettings, memory_dir
from stockbot.domain import utcnow
from stockbot.fsutil import atomic_write_text
from stockbot.log import get_logger, redactor

KINDS = ("halt", "floor_breach", "orphan", "out_of_capital", "preflight_failed", "job_crash",
         "startup_refused", "stream_406", "stream_stale", "live_override", "reconcile_failed", "unit_failed",
         "lessons_invalid", "lessons_unavailable", "keys_rejected", "llm_budget", "llm_serve_failed",
         "green_but_not_trading")
LAST_ALERT_FILE = "last_alert.json"  # in the account's directory: the fleet view shows it
SEND_TIMEOUT_S = 20


@dataclass(frozen=True, slots=True)
class AlertResult:
    kind: str
    sent: tuple[str, ...]  # channels that accepted it
    suppressed: bool = False
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    channel: str  # "webhook", "email" (the mapped older settings) or the URL's scheme
    url: str = field(repr=False)  # holds tokens: never in a repr, a log line or an error


def split_urls(raw: str) -> list[str]:
    """``ALERT_URLS``: comma or whitespace separated (commas inside a URL's query stay intact)."""
    parts = re.split(r"[\s,]+(?=[a-z][a-z0-9+.-]*://)|\s+", raw.strip())
    return [u.strip(" ,") for u in parts if u.strip(" ,")]


def webhook_url(url: str) -> str:
    """The apprise URL for an ``ALERT_WEBHOOK_URL``: the native service when apprise recognises
    the address (Slack / Discord / ntfy / ... webhooks), else a JSON post carrying the text in
    ``text`` (Slack-compatible receivers) as the old hand-written webhook did."""
    import apprise

    quiet = logging.getLogger("apprise")
    level, quiet.level = quiet.level, logging.CRITICAL  # "unparseable URL" is the expected answer here
    try:
        native = apprise.Apprise.instantiate(url) is not None
    finally:
        quiet.setLevel(level)
    if native:
        return url
    parts = urlsplit(url)
    scheme = "jsons" if parts.scheme == "https" else "json"
    extra = ":message=text"
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((scheme, parts.netloc, parts.path, query, ""))


def email_url(s: AlertSettings, *, to: str | None = None) -> str:
    """The apprise ``mailto://`` URL of the ``ALERT_SMTP_*`` / ``ALERT_EMAIL_*`` settings."""
    host = s.smtp_host or ""
    scheme, mode = ("mailtos", "starttls") if s.smtp_port == 587 else \
        ("mailtos", "ssl") if s.smtp_port == 465 else ("mailto", None)
    auth = ""
    if s.smtp_user:
        auth = quote(s.smtp_user, safe="")
        if s.smtp_password is not None:
            auth += ":" + quote(s.smtp_password.get_secret_value(), safe="")
        auth += "@"
    query = {"smtp": host, "from": s.email_from or f"stockbot@{host}", "to": to or s.email_to or ""}
    if mode:
        query["mode"] = mode
    qs = "&".join(f"{k}={quote(v, safe='@')}" for k, v in query.items())
    return f"{scheme}://{auth}{host}:{s.smtp_port}?{qs}"


def targets(s: AlertSettings) -> list[Target]:
    """Every configured target; the older settings first, under their old channel names."""
    out: list[Target] = []
    if s.webhook_url is not None and s.webhook_url.get_secret_value():
        out.append(Target("webhook", webhook_url(s.webhook_url.get_secret_value())))
    if s.smtp_host and s.email_to:
        out.append(Target("email", email_url(s)))
    seen: dict[str, int] = {}
    for url in split_urls(s.urls.get_secret_value()) if s.urls is not None else []:
        scheme = url.split("://", 1)[0].lower() if "://" in url else "invalid"
        seen[scheme] = seen.get(scheme, 0) + 1
        out.append(Target(scheme if seen[scheme] == 1 else f"{scheme}{seen[scheme]}", url))
    return out


PLAIN_QUERY_KEYS = {"smtp", "from", "to", "cc", "bcc", "reply", "name", "mode", "format", "overflow", "verify",
                    "priority", "lang", "tags", "user", "port"}


def url_secrets(url: str) -> list[str]:
    """Parts of a target URL that may be credentials: user, password, long path segments and
    query values (bot tokens, webhook ids), quoted and unquoted. Host names, addresses and
    plain options (``to=``, ``mode=``...) stay readable."""
    parts = urlsplit(url)
    found = [unquote(parts.username or ""), unquote(parts.password or "")]
    found += [unquote(seg) for seg in parts.path.split("/") if len(seg) >= 8]
    found += [v for k, v in parse_qsl(parts.query) if k.lower() not in PLAIN_QUERY_KEYS and not k.startswith(":")
              and len(v) >= 8 and "@" not in v]
    found += [quote(x, safe="") for x in found]
    return [x for x in dict.fromkeys(found) if len(x) >= 4]


async def deliver(target: Target, title: str, body: str) -> str | None:
    """Send one notification to one apprise target; None when accepted, else a scrubbed reason."""
    import apprise

    ap = apprise.Apprise()
    if not ap.add(target.url):
        return f"{target.channel}: not an apprise URL apprise understands"
    result = await ap.async_notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT,
                                   timeout=SEND_TIMEOUT_S)
    try:
        if result:
            return None
        reasons = [e.message for e in result.logs() if e.level in ("ERROR", "WARNING")]
    finally:
        result.close()
    why = reasons[-1] if reasons else "not delivered"
    return redactor().scrub(f"{target.channel}: {why}")[:500]


def send_email(settings: AlertSettings, subject: str, body: str) -> None:
    """Blocking: one e-mail through the account's SMTP settings via apprise (raises on failure).
    Used by the advisor's picks e-mail, which is not an alert (no rate limit, its own subject)."""
    redactor().add(url_secrets(email_url(settings)))
    error = asyncio.run(deliver(Target("email", email_url(settings)), subject, body))
    if error is not None:
        raise RuntimeError(error)


def last_alert(account: str | None) -> dict[str, Any] | None:
    """The last alert sent for an account (kind, ts, channels, errors), or None."""
    path = memory_dir(account) / LAST_ALERT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class Alerter:
    """Sends alerts for one account; at most one per kind per ``min_interval_s``."""

    def __init__(self, settings: AlertSettings, account: str | None, *,
                 clock: Callable[[], float] = time.monotonic, http: httpx.AsyncClient | None = None):
        self.settings = settings
        self.account = account or "default"
        self._account_id = account
        self._clock = clock
        self._last: dict[str, float] = {}
        self._http = http  # kept for callers that pass one; apprise owns the transport now
        self.targets = targets(settings)
        self.counts: dict[tuple[str, str], int] = {}  # (kind, sent|failed|no_target|suppressed) -> n
        self.log = get_logger("alerts")
        redactor().add([x for t in self.targets for x in url_secrets(t.url)])

    def _due(self, kind: str) -> bool:
        last = self._last.get(kind)
        return last is None or self._clock() - last >= self.settings.min_interval_s

    def _count(self, kind: str, result: str) -> None:
        self.counts[(kind, result)] = self.counts.get((kind, result), 0) + 1

    async def send(self, kind: str, message: str, *, force: bool = False) -> AlertResult:
        """Send one alert through every configured channel (never raises)."""
        if not force and not self._due(kind):
            self._count(kind, "suppressed")
            return AlertResult(kind, (), suppressed=True)
        self._last[kind] = self._clock()
        text = redactor().scrub(f"[stockbot {self.account}] {kind}: {message}")
        title = f"stockbot {self.account}: {kind}"
        sent: list[str] = []
        errors: list[str] = []
        outcomes = await asyncio.gather(*(self._one(t, title, text) for t in self.targets))
        for target, error in zip(self.targets, outcomes):
            (errors.append(error) if error else sent.append(target.channel))
        self._count(kind, "sent" if sent else "failed" if self.targets else "no_target")
        self.log.warning("alert", kind=kind, text=text, channels=sent, errors=errors)
        self._remember(kind, text, sent, errors)
        return AlertResult(kind, tuple(sent), errors=tuple(errors))

    async def _one(self, target: Target, title: str, text: str) -> str | None:
        try:
            return await deliver(target, title, text)
        except Exception as exc:  # noqa: BLE001 - alerts must not break the caller
            return redactor().scrub(f"{target.channel}: {type(exc).__name__}: {exc}")[:500]

    def _remember(self, kind: str, text: str, sent: list[str], errors: list[str]) -> None:
        """Keep the last alert next to the account's state (for ``status --all``); only into a
        directory that exists already, so an alert never creates an account directory."""
        directory = memory_dir(self._account_id)
        if not directory.is_dir():
            return
        record = {"kind": kind, "ts": utcnow().isoformat(timespec="seconds"), "text": text[:300],
                  "channels": sent, "errors": errors}
        try:
            atomic_write_text(directory / LAST_ALERT_FILE, json.dumps(record, ensure_ascii=False) + "\n")
        except OSError as exc:  # a read-only directory (the alert unit's sandbox) is not an alert failure
            self.log.info("alert.not_remembered", error=str(exc))
