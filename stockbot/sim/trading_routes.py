"""Alpaca Trading API v2 routes of the local exchange (the paths alpaca-py's TradingClient calls).

The auth middleware in ``app.py`` has already matched the key pair to an account
(``request[ACCOUNT_KEY]``); every handler first brings that account up to the sim time
(expiry, settlement, fills of working orders), then answers.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web

from stockbot.options.occ import is_occ_symbol
from stockbot.sim.state import ACCOUNT_KEY, SIM_KEY, SimState
from stockbot.sim.exchange_fill import NY
from stockbot.sim.exchange_model import (CLOSED_STATUSES, OPEN_STATUSES, SimError, SimOrder, asset_id_for,
                                         exchange_for)
from stockbot.sim.exchange_views import account_json, account_configurations, positions_json
from stockbot.sim.wire import (CODE_NOT_FOUND, CODE_UNPROCESSABLE, error_response, parse_rfc3339,
                               query_bool, query_list)

MAX_ORDERS_PAGE = 500


def _ctx(request: web.Request):
    state: SimState = request.app[SIM_KEY]
    account = request[ACCOUNT_KEY]
    state.exchange.process(account)
    return state, account


def _err(err: SimError) -> web.Response:
    return error_response(err.status, err.code, err.message)


# ------------------------------------------------------------------ account
async def get_account(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    return web.json_response(account_json(state.exchange, account))


async def get_configurations(request: web.Request) -> web.Response:
    _state, account = _ctx(request)
    return web.json_response(account_configurations(account))


# ---------------------------------------------------------------- positions
async def list_positions(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    return web.json_response(positions_json(state.exchange, account))


def _find_position_symbol(account, raw: str) -> str | None:
    symbol = raw.strip().upper()
    if symbol in account.positions:
        return symbol
    for sym in account.positions:  # alpaca-py also accepts the asset id
        if asset_id_for(sym) == raw.strip().lower():
            return sym
    return None


async def get_position(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    symbol = _find_position_symbol(account, request.match_info["symbol"])
    if symbol is None:
        return error_response(404, CODE_NOT_FOUND, "position does not exist")
    return web.json_response(positions_json(state.exchange, account, only=symbol)[0])


async def close_position(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    symbol = _find_position_symbol(account, request.match_info["symbol"])
    if symbol is None:
        return error_response(404, CODE_NOT_FOUND, "position does not exist")
    q = request.query
    try:
        order = state.exchange.close_position(account, symbol, qty=q.get("qty"), percentage=q.get("percentage"))
    except SimError as err:
        return _err(err)
    return web.json_response(order.to_json())


async def close_all_positions(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    results = state.exchange.close_all(account, cancel_orders=query_bool(request.query.get("cancel_orders")))
    return web.json_response(results, status=207)


# ------------------------------------------------------------------- orders
async def submit_order(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, 40010000, "request body format is invalid")
    try:
        order = state.exchange.submit(account, body)
    except SimError as err:
        return _err(err)
    return web.json_response(order.to_json())


def _select_orders(account, query) -> list[SimOrder]:
    status = query.get("status", "open") or "open"
    if status not in ("open", "closed", "all"):
        raise SimError(422, CODE_UNPROCESSABLE, f"invalid status: {status}")
    try:
        limit = int(query.get("limit") or 50)
    except ValueError:
        raise SimError(422, CODE_UNPROCESSABLE, "invalid limit") from None
    if limit <= 0:
        raise SimError(422, CODE_UNPROCESSABLE, "limit must be > 0")
    limit = min(limit, MAX_ORDERS_PAGE)
    direction = query.get("direction", "desc") or "desc"
    if direction not in ("asc", "desc"):
        raise SimError(422, CODE_UNPROCESSABLE, f"invalid direction: {direction}")
    try:
        after = parse_rfc3339(query["after"]) if query.get("after") else None
        until = parse_rfc3339(query["until"]) if query.get("until") else None
    except ValueError:
        raise SimError(422, CODE_UNPROCESSABLE, "invalid after/until timestamp") from None
    symbols = set(query_list(query.get("symbols")))
    side = query.get("side")
    wanted = OPEN_STATUSES if status == "open" else CLOSED_STATUSES if status == "closed" else None
    nested = query_bool(query.get("nested"))
    pool: list[SimOrder] = []
    for order in account.orders:
        pool.append(order)
        if not nested:
            pool.extend(order.legs)  # flat listing: legs are orders of their own
    out = []
    for order in pool:
        if wanted is not None and order.status not in wanted:
            continue
        if after is not None and not order.created_at > after:
            continue
        if until is not None and not order.created_at < until:
            continue
        if symbols and not symbols.intersection(order.symbols()):
            continue
        if side and order.side != side:
            continue
        out.append(order)
    out.sort(key=lambda o: (o.created_at, o.parent_id is not None, o.id), reverse=direction == "desc")
    return out[:limit]


async def list_orders(request: web.Request) -> web.Response:
    _state, account = _ctx(request)
    try:
        orders = _select_orders(account, request.query)
    except SimError as err:
        return _err(err)
    nested = query_bool(request.query.get("nested"))
    return web.json_response([o.to_json(nested=nested) for o in orders])


async def get_order(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    try:
        order = state.exchange.get_order(account, request.match_info["order_id"])
    except SimError as err:
        return _err(err)
    return web.json_response(order.to_json(nested=query_bool(request.query.get("nested"), True)))


async def get_order_by_client_id(request: web.Request) -> web.Response:
    _state, account = _ctx(request)
    cid = request.query.get("client_order_id", "")
    order = account.by_client_id.get(cid)
    if order is None:  # a leg of an mleg order is found by its own client_order_id too
        order = next((o for o in account.by_id.values() if o.parent_id is not None and o.client_order_id == cid), None)
    if order is None:
        return error_response(404, CODE_NOT_FOUND, "order not found")
    return web.json_response(order.to_json(nested=query_bool(request.query.get("nested"), True)))


async def cancel_order(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    try:
        state.exchange.cancel(account, request.match_info["order_id"])
    except SimError as err:
        return _err(err)
    return web.Response(status=204)


async def cancel_all_orders(request: web.Request) -> web.Response:
    state, account = _ctx(request)
    canceled = state.exchange.cancel_all(account)
    return web.json_response([{"id": o.id, "status": 200, "body": None} for o in canceled], status=207)


async def replace_order(request: web.Request) -> web.Response:
    from stockbot.sim.exchange_replace import replace_order as replace

    state, account = _ctx(request)
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, 40010000, "request body format is invalid")
    try:
        order = replace(state.exchange, account, request.match_info["order_id"], body)
    except SimError as err:
        return _err(err)
    return web.json_response(order.to_json())


# ------------------------------------------------------------ clock, calendar
async def get_clock(request: web.Request) -> web.Response:
    state: SimState = request.app[SIM_KEY]
    clock = state.clock
    now = clock.now()
    return web.json_response({
        "timestamp": now.astimezone(NY).isoformat(),
        "is_open": clock.is_open(now),
        "next_open": clock.next_open(now).astimezone(NY).isoformat(),
        "next_close": clock.next_close(now).astimezone(NY).isoformat(),
    })


async def get_calendar(request: web.Request) -> web.Response:
    state: SimState = request.app[SIM_KEY]
    today = state.clock.now().astimezone(NY).date()
    try:
        start = _date(request.query.get("start"), today - timedelta(days=30))
        end = _date(request.query.get("end"), today + timedelta(days=365))
    except ValueError:
        return error_response(400, 40010000, "invalid start/end date")
    if end < start or (end - start).days > 366 * 12:
        return error_response(400, 40010000, "invalid date range")
    return web.json_response(state.clock.calendar(start, end))


def _date(raw: str | None, default: date) -> date:
    if not raw:
        return default
    return parse_rfc3339(raw).date() if len(raw) > 10 else date.fromisoformat(raw)


# ------------------------------------------------------------------- assets
def _asset(symbol: str) -> dict:
    option = is_occ_symbol(symbol)
    asset_class = "us_option" if option else "us_equity"
    return {"id": asset_id_for(symbol), "class": asset_class,
            "exchange": exchange_for(symbol, asset_class), "symbol": symbol, "name": symbol, "status": "active",
            "tradable": True, "marginable": not option, "shortable": not option,
            "easy_to_borrow": not option, "fractionable": not option, "attributes": []}


async def list_assets(request: web.Request) -> web.Response:
    state: SimState = request.app[SIM_KEY]
    return web.json_response([_asset(s) for s in state.market.symbols()])


async def get_asset(request: web.Request) -> web.Response:
    state: SimState = request.app[SIM_KEY]
    symbol = request.match_info["symbol"].upper()
    if not state.exchange.is_known(symbol):
        return error_response(404, CODE_NOT_FOUND, "asset not found")
    return web.json_response(_asset(symbol))


def register(app: web.Application) -> None:
    """Add the trading routes to ``app``."""
    r = app.router
    r.add_get("/v2/account", get_account)
    r.add_get("/v2/account/configurations", get_configurations)
    r.add_get("/v2/positions", list_positions)
    r.add_delete("/v2/positions", close_all_positions)
    r.add_get("/v2/positions/{symbol}", get_position)
    r.add_delete("/v2/positions/{symbol}", close_position)
    r.add_post("/v2/orders", submit_order)
    r.add_get("/v2/orders", list_orders)
    r.add_delete("/v2/orders", cancel_all_orders)
    r.add_get("/v2/orders:by_client_order_id", get_order_by_client_id)
    r.add_get("/v2/orders/{order_id}", get_order)
    r.add_delete("/v2/orders/{order_id}", cancel_order)
    r.add_patch("/v2/orders/{order_id}", replace_order)
    r.add_get("/v2/clock", get_clock)
    r.add_get("/v2/calendar", get_calendar)
    r.add_get("/v2/assets", list_assets)
    r.add_get("/v2/assets/{symbol}", get_asset)
    from stockbot.sim import trade_updates  # the trading websocket /stream and its admin controls

    trade_updates.register(app, lambda a: (a[SIM_KEY].exchange.trade_updates, a[SIM_KEY].accounts))
