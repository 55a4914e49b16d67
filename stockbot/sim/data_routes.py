"""Market data routes of the local exchange (what StockHistoricalDataClient and
OptionHistoricalDataClient call), plus the trading API's option-contract listing.

Stocks: ``/v2/stocks/quotes/latest``, ``/v2/stocks/{symbol}/quotes/latest``, ``/v2/stocks/trades/latest``,
``/v2/stocks/{symbol}/trades/latest``, ``/v2/stocks/bars`` (paged), ``/v2/stocks/{symbol}/bars``,
``/v2/stocks/bars/latest``, ``/v2/stocks/{symbol}/bars/latest``, ``/v2/stocks/snapshots``,
``/v2/stocks/{symbol}/snapshot``. Options: see :mod:`stockbot.sim.market_option_routes`; historical
quotes and trades and the option tape: :mod:`stockbot.sim.history_routes`.
Every route authenticates with ``state.accounts.authenticate`` (401 JSON on wrong keys).
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from stockbot.sim import wire
from stockbot.sim.clock import ny_date
from stockbot.sim.market_bars import (BarTuple, daily_pair, day_epoch, iter_bars, latest_minute_bar,
                                      parse_timeframe)
from stockbot.sim.market_symbols import is_valid_ticker
from stockbot.sim.route_params import (UTC, BadRequest, decode_token, encode_token, feed_param, guarded, limit_param,
                                       path_symbol, symbols_param, time_param, ts_text)
from stockbot.sim.state import state_of


# -- JSON shapes --------------------------------------------------------------------------
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
    from stockbot.sim import history_routes, market_option_routes

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
    history_routes.register(app)
