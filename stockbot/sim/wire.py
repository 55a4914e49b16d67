"""JSON wire helpers shared by every route of the local exchange.

Alpaca's error bodies are always ``{"code": int, "message": str}``; alpaca-py's ``APIError`` parses
that shape, so every error the sim returns goes through :func:`error_response`. Timestamps are RFC
3339 in UTC with a ``Z`` suffix; money and quantities are JSON strings.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from aiohttp import web

# The codes alpaca-py's callers see most; HTTP status x 100000 + suffix.
CODE_BAD_REQUEST = 40010000
CODE_UNAUTHORIZED = 40110000
CODE_FORBIDDEN = 40310000
CODE_NOT_FOUND = 40410000
CODE_UNPROCESSABLE = 42210000
CODE_RATE_LIMIT = 42910000
CODE_INTERNAL = 50010000


def error_response(status: int, code: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """An Alpaca-style JSON error: ``{"code": code, "message": message}`` with HTTP ``status``."""
    return web.json_response({"code": int(code), "message": str(message)}, status=status, headers=headers)


def unauthorized() -> web.Response:
    """The 401 body every route returns for missing or wrong keys."""
    return error_response(401, CODE_UNAUTHORIZED, "request is not authorized")


def bad_request(message: str) -> web.Response:
    return error_response(400, CODE_BAD_REQUEST, message)


def not_found(message: str = "not found") -> web.Response:
    return error_response(404, CODE_NOT_FOUND, message)


def unprocessable(message: str) -> web.Response:
    return error_response(422, CODE_UNPROCESSABLE, message)


def rfc3339(dt: datetime) -> str:
    """``dt`` as RFC 3339 UTC, e.g. ``2025-01-02T14:30:00.123456Z`` (naive input is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    dt = dt.astimezone(timezone.utc)
    if dt.microsecond:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Parse an RFC 3339 timestamp or a bare ``YYYY-MM-DD`` date (taken as 00:00 UTC) to aware UTC."""
    s = text.strip()
    if len(s) == 10:
        d = date.fromisoformat(s)
        return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def money(value: Decimal | float | int | None) -> str | None:
    """A money/qty value as a JSON string without exponent noise (``None`` stays ``None``)."""
    if value is None:
        return None
    if not isinstance(value, Decimal):
        value = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("", "-0"):
        text = "0"
    return text


def query_bool(value: str | None, default: bool = False) -> bool:
    """Parse a query-string bool as alpaca-py sends it (``True``/``False``) or as curl would (``true``/``1``)."""
    if value is None or value == "":
        return default
    return value.strip().lower() in ("true", "1", "yes")


def query_list(value: str | None) -> list[str]:
    """Split a comma-separated query value into stripped, non-empty items."""
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def json_dumps(obj: Any) -> str:
    """Compact JSON (what ``web.json_response`` uses via ``dumps=``)."""
    return json.dumps(obj, separators=(",", ":"), default=_default)


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return money(obj)
    if isinstance(obj, datetime):
        return rfc3339(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """JSON response that serialises Decimal as a string and datetimes as RFC 3339."""
    return web.json_response(obj, status=status, headers=headers, dumps=json_dumps)


def key_headers(request: web.Request) -> tuple[str, str]:
    """The ``APCA-API-KEY-ID`` / ``APCA-API-SECRET-KEY`` pair of a request ('' when absent)."""
    return (request.headers.get("APCA-API-KEY-ID", ""), request.headers.get("APCA-API-SECRET-KEY", ""))
