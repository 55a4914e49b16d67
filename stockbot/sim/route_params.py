"""Helpers every data route shares: authentication, query parameters, page tokens, timestamps.

Kept apart from the route modules so that the stock and the option data routes can both use them
without importing each other.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timezone
from functools import lru_cache

from aiohttp import web

from stockbot.errors import StockbotError
from stockbot.sim import wire
from stockbot.sim.market_symbols import is_valid_ticker
from stockbot.sim.state import state_of

UTC = timezone.utc
MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000
FEEDS = {"iex", "sip", "otc", "boats", "delayed_sip", "overnight"}


class BadRequest(StockbotError):
    """A parameter error, answered as 400 ``{"code": 40010000, "message": ...}``.

    Caller: skip (answer this request with the error; the sim goes on).
    """


def authorized(request: web.Request) -> bool:
    """True when the request carries a valid key pair (the middleware may have checked it)."""
    if request.get("sim_account") is not None:
        return True
    return state_of(request).accounts.authenticate(*wire.key_headers(request)) is not None


def guarded(handler):
    """Wrap a handler: 401 on bad keys, 400 on :class:`BadRequest`."""
    async def wrapped(request: web.Request) -> web.Response:
        if not authorized(request):
            return wire.unauthorized()
        try:
            return await handler(request)
        except BadRequest as exc:
            return wire.bad_request(str(exc))
    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# -- parameters ---------------------------------------------------------------------------
def symbols_param(request: web.Request, name: str = "symbols") -> list[str]:
    syms = [s.upper() for s in wire.query_list(request.query.get(name))]
    if not syms:
        raise BadRequest(f"{name} is required")
    for s in syms:
        if not is_valid_ticker(s):
            raise BadRequest(f"invalid symbol: {s}")
    return syms


def path_symbol(request: web.Request) -> str:
    """The ``{symbol}`` of the path, upper-cased; 400 unless the market knows it."""
    sym = request.match_info["symbol"].upper()
    if not is_valid_ticker(sym) or not state_of(request).market.has_symbol(sym):
        raise BadRequest(f"invalid symbol: {sym}")
    return sym


def limit_param(request: web.Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query.get("limit")
    if raw in (None, "", "None"):
        return default
    try:
        n = int(raw)
    except ValueError:
        raise BadRequest(f"invalid limit: {raw}") from None
    if n < 1 or n > maximum:
        raise BadRequest(f"invalid limit: must be between 1 and {maximum}")
    return n


def time_param(request: web.Request, name: str, default: float, *, end_of_day: bool = False) -> float:
    raw = request.query.get(name)
    if not raw:
        return default
    try:
        ts = wire.parse_rfc3339(raw).timestamp()
    except ValueError:
        raise BadRequest(f"invalid {name}: {raw}") from None
    if end_of_day and len(raw.strip()) == 10:  # a bare date as `end` includes that whole day
        ts += 86400 - 1e-6
    return ts


def feed_param(request: web.Request) -> None:
    feed = request.query.get("feed")
    if feed and feed not in FEEDS:
        raise BadRequest(f"invalid feed: {feed}")


def encode_token(*parts: object) -> str:
    return base64.urlsafe_b64encode("|".join(map(str, parts)).encode()).decode()


def decode_token(token: str | None, parts: int = 1) -> list[str] | None:
    """The parts of a page token made by :func:`encode_token` (None when absent); 400 if forged."""
    if not token or token == "None":
        return None
    try:
        out = base64.b64decode(token.encode(), altchars=b"-_", validate=True).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("invalid page_token") from None
    if len(out) != parts or not out[0]:
        raise BadRequest("invalid page_token")
    return out


def ts_text(t: float) -> str:
    """RFC 3339 of POSIX seconds; whole seconds (every bar) come from a cache."""
    if t == int(t):
        return _ts_text_whole(int(t))
    return wire.rfc3339(datetime.fromtimestamp(t, UTC))


@lru_cache(maxsize=131072)
def _ts_text_whole(sec: int) -> str:
    return wire.rfc3339(datetime.fromtimestamp(sec, UTC))
