"""Historical quotes and trades of the local exchange, and the option tape's trades and bars.

Stocks: ``/v2/stocks/quotes``, ``/v2/stocks/trades`` (and ``/v2/stocks/{symbol}/quotes|trades``):
one quote and one trade per whole second of each regular session (every second with an
always-open clock), the very quote and trade the latest-quote/trade routes and the stream give
for that second, so a minute's trades lie inside that minute's bar. Options:
``/v1beta1/options/trades`` and ``/v1beta1/options/bars`` from :mod:`stockbot.sim.market_option_trades`.

Every route pages like Alpaca's: ``limit`` items in all (default 1000, at most 10000), symbol by
symbol in symbol order, ``next_page_token`` to continue; ``start`` defaults to the start of the
current New York day, ``end`` to now (and is capped at now); ``sort`` asc or desc.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Callable, Iterable, Iterator

from aiohttp import web

from stockbot.sim import wire
from stockbot.sim.clock import is_trading_day, ny_date, session_close_utc, session_open_utc
from stockbot.sim.market_bars import day_epoch, parse_timeframe
from stockbot.sim.route_params import (UTC, BadRequest, decode_token, encode_token, feed_param, guarded, limit_param,
                                       path_symbol, symbols_param, time_param, ts_text)
from stockbot.sim.state import state_of

Item = tuple[float, dict]  # (time, its JSON)


# -- paging -------------------------------------------------------------------------------
def _window(request: web.Request, now: float) -> tuple[float, float, bool]:
    start = time_param(request, "start", day_epoch(ny_date(datetime.fromtimestamp(now, UTC))))
    end = min(time_param(request, "end", now, end_of_day=True), now)
    sort = request.query.get("sort") or "asc"
    if sort not in ("asc", "desc"):
        raise BadRequest(f"invalid sort: {sort}")
    return start, end, sort == "desc"


def page(request: web.Request, syms: Iterable[str], items: Callable[[str, float, float, bool], Iterator[Item]],
         now: float) -> tuple[dict[str, list[dict]], str | None]:
    """At most ``limit`` items over ``syms`` (sorted), resuming at the page token ``SYMBOL|t``."""
    start, end, desc = _window(request, now)
    limit = limit_param(request)
    token = decode_token(request.query.get("page_token"), 2)
    try:
        resume_t = float(token[1]) if token else None
    except ValueError:
        raise BadRequest("invalid page_token") from None
    out: dict[str, list[dict]] = {}
    count = 0
    for sym in sorted(set(syms)):
        if token and sym < token[0]:
            continue
        resume = resume_t if token and sym == token[0] else None
        lo, hi = (start, end) if resume is None else ((resume, end) if not desc else (start, resume))
        for t, body in items(sym, lo, hi, desc):
            if count >= limit:
                return out, encode_token(sym, repr(t))
            out.setdefault(sym, []).append(body)
            count += 1
    return out, None


# -- stock quotes and trades --------------------------------------------------------------
def stock_seconds(market, start: float, end: float, desc: bool) -> Iterator[float]:
    """Whole seconds in ``[start, end]`` when the stock market quotes: regular sessions, or all of
    them with an always-open clock."""
    if end < start:
        return
    if getattr(market.clock, "always_open", False):
        spans = [(start, end)]
    else:
        spans = []
        d, last = ny_date(datetime.fromtimestamp(start, UTC)), ny_date(datetime.fromtimestamp(end, UTC))
        while d <= last:
            if is_trading_day(d):
                lo = max(start, session_open_utc(d).timestamp())
                hi = min(end, session_close_utc(d).timestamp() - 1)
                if lo <= hi:
                    spans.append((lo, hi))
            d += timedelta(days=1)
    for lo, hi in (reversed(spans) if desc else spans):
        first, last_s = math.ceil(lo), math.floor(hi)
        yield from (range(last_s, first - 1, -1) if desc else range(first, last_s + 1))


def _stock_items(market, kind: str):
    def items(sym: str, lo: float, hi: float, desc: bool) -> Iterator[Item]:
        for t in stock_seconds(market, lo, hi, desc):
            t = float(t)
            if kind == "quotes":
                bid, ask, bs, as_ = market.quote_raw(sym, t)
                yield t, {"t": ts_text(t), "ax": "V", "ap": ask, "as": as_, "bx": "V", "bp": bid, "bs": bs,
                          "c": ["R"], "z": market.tape(sym)}
            else:
                price, size, tid, tt = market.trade_raw(sym, t)
                yield t, {"t": ts_text(tt), "x": "V", "p": price, "s": size, "i": tid, "c": ["@"],
                          "z": market.tape(sym)}
    return items


def _stocks(kind: str):
    @guarded
    async def handler(request: web.Request) -> web.Response:
        feed_param(request)
        st = state_of(request)
        now = st.clock.now_epoch()
        single = "symbol" in request.match_info
        syms = [path_symbol(request)] if single else [s for s in symbols_param(request) if st.market.has_symbol(s)]
        data, token = page(request, syms, _stock_items(st.market, kind), now)
        if single:
            return wire.json_response({"symbol": syms[0], kind: data.get(syms[0], []), "next_page_token": token})
        return wire.json_response({kind: data, "next_page_token": token, "currency": "USD"})
    handler.__name__ = f"stock_{kind}"
    return handler


# -- option trades and bars ---------------------------------------------------------------
def _option_contracts(st, request: web.Request) -> dict:
    raw = [s.upper() for s in wire.query_list(request.query.get("symbols"))]
    if not raw:
        raise BadRequest("symbols is required")
    if len(raw) > 100:
        raise BadRequest("too many symbols: at most 100")
    book = st.market.options
    out = {}
    for s in raw:
        c = book.contract(s)
        if c is None:
            raise BadRequest(f"invalid symbol: {s}")
        out[s] = c
    return out


@guarded
async def option_trades(request: web.Request) -> web.Response:
    st = state_of(request)
    tape = st.market.options.tape
    contracts = _option_contracts(st, request)

    def items(sym: str, lo: float, hi: float, desc: bool) -> Iterator[Item]:
        for t, p, s in tape.trades(contracts[sym], lo, hi, desc):
            yield t, {"t": ts_text(t), "x": "C", "p": p, "s": s, "c": "I"}

    data, token = page(request, contracts, items, st.clock.now_epoch())
    return wire.json_response({"trades": data, "next_page_token": token})


@guarded
async def option_bars(request: web.Request) -> web.Response:
    st = state_of(request)
    tape = st.market.options.tape
    contracts = _option_contracts(st, request)
    raw = request.query.get("timeframe")
    if not raw:
        raise BadRequest("timeframe is required")
    try:
        tf = parse_timeframe(raw)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    now = st.clock.now_epoch()

    def items(sym: str, lo: float, hi: float, desc: bool) -> Iterator[Item]:
        for b in tape.bars(contracts[sym], tf, lo, hi, now, desc):
            yield b[0], {"t": ts_text(b[0]), "o": b[1], "h": b[2], "l": b[3], "c": b[4], "v": int(b[5]),
                         "n": int(b[6]), "vw": round(b[7], 4)}

    data, token = page(request, contracts, items, now)
    return wire.json_response({"bars": data, "next_page_token": token})


def register(app: web.Application) -> None:
    """Add the historical quote/trade routes and the option trade/bar routes to ``app``."""
    r = app.router
    r.add_get("/v2/stocks/quotes", _stocks("quotes"))
    r.add_get("/v2/stocks/trades", _stocks("trades"))
    r.add_get("/v2/stocks/{symbol}/quotes", _stocks("quotes"))
    r.add_get("/v2/stocks/{symbol}/trades", _stocks("trades"))
    r.add_get("/v1beta1/options/trades", option_trades)
    r.add_get("/v1beta1/options/bars", option_bars)
