"""structlog setup: JSON lines on stdout (journald reads them), console rendering on a terminal.

Every line carries the account id. A redaction processor replaces every known secret value (and
anything that looks like an Alpaca key or a bearer token) wherever it appears in the event, so a
key pasted into an exception message still never reaches the journal.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, Iterable, TextIO

import structlog

REDACTED = "***REDACTED***"
# Field names whose values are never logged, whatever they hold.
SECRET_FIELD_RE = re.compile(r"(secret|password|api[_-]?key|token|authorization|webhook)", re.I)
# Shapes of credentials that may appear inside free text (Alpaca key ids, bearer tokens, sk- keys).
SECRET_TEXT_RES = (
    re.compile(r"\b(?:PK|AK|CK)[A-Z0-9]{16,}\b"),
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}\b"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
)


class Redactor:
    """structlog processor that removes secrets from every value of an event dict."""

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register more secret values (short values are ignored: they would redact ordinary words)."""
        self._secrets.update(s for s in secrets if s and len(s) >= 6)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in sorted(self._secrets, key=len, reverse=True):
                if secret in value:
                    value = value.replace(secret, REDACTED)
            for rx in SECRET_TEXT_RES:
                value = rx.sub(REDACTED, value)
            return value
        if isinstance(value, dict):
            return {k: (REDACTED if isinstance(k, str) and SECRET_FIELD_RE.search(k) and v not in (None, "")
                        else self.scrub(v)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.scrub(v) for v in value)
        if isinstance(value, BaseException):
            return self.scrub(f"{type(value).__name__}: {value}")
        return value

    def __call__(self, _logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        return self.scrub(event)


_redactor = Redactor()


def redactor() -> Redactor:
    """The process-wide redactor (settings loading registers the account's secrets with it)."""
    return _redactor


def configure(account: str | None = None, *, level: str = "INFO", stream: TextIO | None = None,
              json_lines: bool | None = None, secrets: Iterable[str] = ()) -> None:
    """Configure structlog for this process; safe to call again (e.g. once settings are known)."""
    stream = stream or sys.stdout
    _redactor.add(secrets)
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    # format_exc_info renders tracebacks to text first, so the redactor sees (and scrubs) them too.
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _redactor,
    ]
    renderer: Any = (structlog.processors.JSONRenderer(default=str) if json_lines
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper(), logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(account=account or "default")
    # Libraries that use stdlib logging (alpaca-py, litellm, httpx) go through the same redaction.
    logging.basicConfig(level=logging.WARNING, stream=stream, force=True,
                        format="%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_StdlibRedactFilter())


class _StdlibRedactFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _redactor.scrub(record.getMessage())
        record.args = ()
        return True


def get_logger(name: str | None = None) -> Any:
    """A bound structlog logger (the account id is bound by ``configure``)."""
    return structlog.get_logger(name) if name else structlog.get_logger()
