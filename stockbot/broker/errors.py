"""Broker faults, translated once at the boundary into a small hierarchy.

- TransientError: timeouts, connection resets, 5xx, 429 -> safe to retry (idempotent calls only).
- RejectedError: 4xx the broker decided on (bad order, no buying power...) -> never retried.
- NotFoundError: the thing does not exist (404 / 40410000).
- AmbiguousSubmitError: an order POST whose outcome is unknown -> look it up by client id.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from stockbot.errors import StockbotError


class BrokerError(StockbotError):
    """Base of every broker fault. ``code`` is Alpaca's numeric error code when known.

    Caller: skip (the remedy of a subclass wins; an unclassified broker fault is never retried).
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TransientError(BrokerError):
    """Retryable for idempotent calls: the broker may answer differently in a moment.

    Caller: retry (idempotent calls only, with backoff and jitter).
    """


class RejectedError(BrokerError):
    """The broker refused the request; retrying the same request cannot help.

    Caller: skip (record the refusal; never resend the same request).
    """


class InsufficientFundsError(RejectedError):
    """Not enough buying power / options buying power (the account is out of capital).

    Caller: skip (no new entries until capital returns; the operator is alerted).
    """


class PatternDayTraderError(RejectedError):
    """Alpaca's pattern day trader protection (403, code 40310100): the account may not day trade
    until its equity is back at $25,000 or the flag expires. Retrying cannot help (LL-178).

    Caller: skip (no same-day round trip; an operator fix if the account should day trade).
    """


PDT_CODE = 40310100


class NotFoundError(RejectedError):
    """The order, position or symbol does not exist.

    Caller: skip (treat the thing as gone).
    """


class AmbiguousSubmitError(BrokerError):
    """An order submission that may or may not have reached the broker.

    Caller: retry (the lookup by client order id, never the POST).
    """


def _alpaca_body(exc: Any) -> tuple[int | None, str]:
    raw = str(exc)
    try:
        body = json.loads(raw)
        return int(body.get("code")), str(body.get("message", raw))
    except (ValueError, TypeError, AttributeError):
        return None, raw[:300]


def translate(exc: BaseException) -> BrokerError:
    """Map an exception raised inside alpaca-py (or requests) to our hierarchy."""
    from alpaca.common.exceptions import APIError

    if isinstance(exc, BrokerError):
        return exc
    if isinstance(exc, APIError):
        status = exc.status_code
        code, message = _alpaca_body(exc)
        if status is None and code is not None:
            status = code // 100000
        text = f"HTTP {status} code {code}: {message}"
        if status is None or status >= 500 or status in (408, 429):
            return TransientError(text, status=status, code=code)
        if status == 404 or code == 40410000:
            return NotFoundError(text, status=status, code=code)
        if status == 403 and "buying power" in message.lower():
            return InsufficientFundsError(text, status=status, code=code)
        if code == PDT_CODE or "pattern day trad" in message.lower():
            return PatternDayTraderError(text, status=status, code=code)
        return RejectedError(text, status=status, code=code)
    if isinstance(exc, (requests.Timeout, requests.ConnectionError, TimeoutError, ConnectionError)):
        return TransientError(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, requests.RequestException):
        return TransientError(f"{type(exc).__name__}: {exc}")
    return BrokerError(f"{type(exc).__name__}: {exc}")


def is_auth_refusal(exc: BaseException) -> bool:
    """The broker refuses these keys (revoked, wrong environment): 401, or a 403 "forbidden" that
    is not one of Alpaca's trading refusals (40310000 buying power / qty, 40310100 PDT)."""
    if not isinstance(exc, RejectedError) or isinstance(exc, InsufficientFundsError):
        return False
    if exc.status == 401 or exc.code == 40110000:
        return True
    return exc.status == 403 and exc.code is None
