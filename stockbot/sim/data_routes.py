"""Market data routes of the local exchange (what StockHistoricalDataClient and
OptionHistoricalDataClient call), plus the trading API's option-contract listing.

Stocks: ``/v2/stocks/quotes/latest``, ``/v2/stocks/{symbol}/quotes/latest``, ``/v2/stocks/trades/latest``,
``/v2/stocks/{symbol}/trades/latest``, ``/v2/stocks/bars`` (paged), ``/v2/stocks/{symbol}/bars``,
``/v2/stocks/bars/latest``, ``/v2/stocks/{symbol}/bars/latest``, ``/v2/stocks/snapshots``,
``/v2/stocks/{symbol}/snapshot``. Options: see :mod:`stockbot.sim.market_option_routes`.
Every route authenticates with ``state.accounts.authenticate`` (401 JSON on wrong keys).
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from datetime import datetime, timezone

from aiohttp import web

from stockbot.errors import StockbotError
from stockbot.sim import wire
from stockbot.sim.app import SIM_KEY
from stockbot.sim.clock import ny_date
from stockbot.sim.market_bars import (BarTuple, daily_pair, day_epoch, iter_bars, latest_minute_bar,
                                      parse_timeframe)
from stockbot.sim.market_symbols import is_valid_ticker

UTC = timezone.utc
MAX_LIMIT = 10000
DEFAULT_LIMIT = 1000
FEEDS = {"iex", "sip", "otc", "boats", "delayed_sip", "overnight"}


class BadRequest(StockbotError):
    """A parameter error, answered as 400 ``{"code": 40010000, "message": ...}``.

    Caller: skip (answer this request with the error; the sim goes on).
    """


def state_of(request: web.Request):
    return request.app[SIM_KEY]


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


# -- JSON shapes --------------------------------------------------------------------------
def ts_text(t: float) -> str:
    """RFC 3339 of POSIX seconds; whole seconds (every bar) come from a cache."""
    if t == int(t):
        return _ts_text_whole(int(t))
    return wire.rfc3339(datetime.fromtimestamp(t, UTC))


@lru_cache(maxsize=131072)
def _ts_text_whole(sec: int) -> str:
    return wire.rfc3339(datetime.fromtimestamp(sec, UTC))


def quote_json(market, sym: str, t: float) -> dict:
    bid, ask, bs, as_ = market.quote_raw(sym, t)
    return {"t": ts_text(t), "ax": "V", "ap": ask, "as": as_, "bx": "V", "bp": bid, "bs": bs,
            "c": ["R"], "z": market.tape(sym)}


def trade_json(market, sym: str, t: float) -> dict:
    price, size, tid, tt = market.trade_raw(sym, t)
    return {"t": ts_text(tt), "x": "V", "p": price, "s": size, "i": tid, "c": ["@"], "z": market.tape(sym)}


def bar_json(b: BarTuple) -> dict:
    return {"t": ts_text(b[0]), "o": round(b[1], 2), "h": round(b[2], 2), "l": round(b[3], 2),
            "c": round(b[4], 2), "v": int(b[5]), "n": int(b[6]), "vw": round(b[7], 4)}


def known(market, syms: list[str]) -> list[str]:
    return [s for s in syms if market.has_symbol(s)]


# -- stock routes -------------------------------------------------------------------------
@guarded
async def latest_quotes(request: web.Request) -> web.Response:
    feed_param(request)
    st = state_of(request)
    t = st.clock.now_epoch()
    return wire.json_response({"quotes": {s: quote_json(st.market, s, t) for s in known(st.market, symbols_param(request))}})


@guarded
async def latest_quote(request: web.Request) -> web.Response:
    st = state_of(request)
    sym = path_symbol(request)
    return wire.json_response({"symbol": sym, "quote": quote_json(st.market, sym, st.clock.now_epoch())})


@guarded
async def latest_trades(request: web.Request) -> web.Response:
    feed_param(request)
    st = state_of(request)
    t = st.clock.now_epoch()
    return wire.json_response({"trades": {s: trade_json(st.market, s, t) for s in known(st.market, symbols_param(request))}})


@guarded
async def latest_trade(request: web.Request) -> web.Response:
    st = state_of(request)
    sym = path_symbol(request)
    return wire.json_response({"symbol": sym, "trade": trade_json(st.market, sym, st.clock.now_epoch())})


def _page_bars(request: web.Request, syms: list[str]) -> tuple[dict[str, list[dict]], str | None]:
    """Bars of ``syms`` for the request's window: symbol by symbol (sorted), at most ``limit``
    in all, continued by ``next_page_token`` = base64("SYMBOL|t")."""
    st = state_of(request)
    now = st.clock.now_epoch()
    tf = _timeframe(request)
    start_default = _start_of_day(now)
    start = time_param(request, "start", start_default)
    end = time_param(request, "end", now, end_of_day=True)
    limit = limit_param(request)
    sort = request.query.get("sort") or "asc"
    if sort not in ("asc", "desc"):
        raise BadRequest(f"invalid sort: {sort}")
    desc = sort == "desc"
    token = decode_token(request.query.get("page_token"), 2)
    try:
        resume_t = float(token[1]) if token else None
    except ValueError:
        raise BadRequest("invalid page_token") from None
    out: dict[str, list[dict]] = {}
    count = 0
    for sym in sorted(known(st.market, syms)):
        if token and sym < token[0]:
            continue
        resume = resume_t if token and sym == token[0] else None
        for b in iter_bars(st.market, sym, tf, start, end, now, desc):
            if resume is not None and ((b[0] < resume) if not desc else (b[0] > resume)):
                continue
            if count >= limit:
                return out, encode_token(sym, repr(b[0]))
            out.setdefault(sym, []).append(bar_json(b))
            count += 1
    return out, None


def _timeframe(request: web.Request):
    raw = request.query.get("timeframe")
    if not raw:
        raise BadRequest("timeframe is required")
    try:
        return parse_timeframe(raw)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _start_of_day(now: float) -> float:
    return day_epoch(ny_date(datetime.fromtimestamp(now, UTC)))


@guarded
async def bars(request: web.Request) -> web.Response:
    feed_param(request)
    page, token = _page_bars(request, symbols_param(request))
    return wire.json_response({"bars": page, "next_page_token": token, "currency": "USD"})


@guarded
async def symbol_bars(request: web.Request) -> web.Response:
    feed_param(request)
    sym = request.match_info["symbol"].upper()
    if not is_valid_ticker(sym):
        raise BadRequest(f"invalid symbol: {sym}")
    page, token = _page_bars(request, [sym])
    return wire.json_response({"symbol": sym, "bars": page.get(sym, []), "next_page_token": token, "currency": "USD"})


@guarded
async def latest_bars(request: web.Request) -> web.Response:
    feed_param(request)
    st = state_of(request)
    now = st.clock.now_epoch()
    out = {}
    for s in known(st.market, symbols_param(request)):
        b = latest_minute_bar(st.market, s, now)
        if b is not None:
            out[s] = bar_json(b)
    return wire.json_response({"bars": out})


@guarded
async def latest_bar(request: web.Request) -> web.Response:
    st = state_of(request)
    sym = path_symbol(request)
    b = latest_minute_bar(st.market, sym, st.clock.now_epoch())
    return wire.json_response({"symbol": sym, "bar": bar_json(b) if b else None})


def snapshot_json(market, sym: str, now: float) -> dict:
    daily, prev = daily_pair(market, sym, now)
    minute = latest_minute_bar(market, sym, now)
    out = {"latestTrade": trade_json(market, sym, now), "latestQuote": quote_json(market, sym, now)}
    if minute is not None:
        out["minuteBar"] = bar_json(minute)
    if daily is not None:
        out["dailyBar"] = bar_json(daily)
    if prev is not None:
        out["prevDailyBar"] = bar_json(prev)
    return out


@guarded
async def snapshots(request: web.Request) -> web.Response:
    feed_param(request)
    st = state_of(request)
    now = st.clock.now_epoch()
    return wire.json_response({s: snapshot_json(st.market, s, now) for s in known(st.market, symbols_param(request))})


@guarded
async def snapshot(request: web.Request) -> web.Response:
    st = state_of(request)
    sym = path_symbol(request)
    return wire.json_response({"symbol": sym, **snapshot_json(st.market, sym, st.clock.now_epoch())})


def register(app: web.Application) -> None:
    """Add the stock and option data routes and ``/v2/options/contracts`` to ``app``."""
    from stockbot.sim import market_option_routes

    r = app.router
    r.add_get("/v2/stocks/quotes/latest", latest_quotes)
    r.add_get("/v2/stocks/trades/latest", latest_trades)
    r.add_get("/v2/stocks/bars/latest", latest_bars)
    r.add_get("/v2/stocks/bars", bars)
    r.add_get("/v2/stocks/snapshots", snapshots)
    r.add_get("/v2/stocks/{symbol}/quotes/latest", latest_quote)
    r.add_get("/v2/stocks/{symbol}/trades/latest", latest_trade)
    r.add_get("/v2/stocks/{symbol}/bars/latest", latest_bar)
    r.add_get("/v2/stocks/{symbol}/bars", symbol_bars)
    r.add_get("/v2/stocks/{symbol}/snapshot", snapshot)
    market_option_routes.register(app)
