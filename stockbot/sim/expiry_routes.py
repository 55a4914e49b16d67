"""Routes of exercise, assignment and account activities (rules in ``expiry`` and ``activities``).

Trading API (authenticated like every ``/v2`` route):

    POST /v2/positions/{symbol_or_contract_id}/exercise   200, empty body (alpaca-py's exercise_options_position)
    GET  /v2/account/activities?activity_types&category&date&after&until&direction&page_size&page_token
    GET  /v2/account/activities/{activity_type}

Admin API (loopback, unauthenticated):

    POST /_sim/assign      {"key_id"?, "symbol", "qty"?}  assign a short contract now -> {"activities": [...]}
    GET|POST /_sim/assignment  {"early_probability"?, "extrinsic_below"?}  the early-assignment model
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from aiohttp import web

from stockbot.sim import activities, expiry
from stockbot.sim.state import ACCOUNT_KEY, SIM_KEY
from stockbot.sim.exchange_model import SimError, asset_id_for
from stockbot.sim.wire import CODE_UNPROCESSABLE, error_response


def _account_of(request: web.Request):
    state = request.app[SIM_KEY]
    account = request[ACCOUNT_KEY]
    state.exchange.process(account)
    return state, account


def _symbol(account, raw: str) -> str:
    text = raw.strip()
    if text.upper() in account.positions:
        return text.upper()
    for sym in account.positions:
        if asset_id_for(sym) == text.lower():
            return sym
    return text.upper()


async def exercise_position(request: web.Request) -> web.Response:
    state, account = _account_of(request)
    from stockbot.options.occ import is_occ_symbol

    symbol = _symbol(account, request.match_info["symbol"])
    if not is_occ_symbol(symbol):
        return error_response(422, CODE_UNPROCESSABLE, "invalid symbol")
    try:
        expiry.exercise(account, state.clock, symbol, state.clock.now())
    except SimError as err:
        return error_response(err.status, err.code, err.message)
    state.exchange.on_change()
    return web.Response(status=200)


async def list_activities(request: web.Request) -> web.Response:
    _state, account = _account_of(request)
    return activities.respond(account, activities.types_from(request.query), request.query)


async def activities_of_type(request: web.Request) -> web.Response:
    _state, account = _account_of(request)
    return activities.respond(account, [request.match_info["activity_type"]], request.query)


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"code": status * 100000, "message": message}, status=status)


async def _body(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


async def admin_assign(request: web.Request) -> web.Response:
    """The early-assignment fault: assign a short option position of an account now."""
    from stockbot.sim.accounts import DEMO_KEY_ID

    state = request.app[SIM_KEY]
    body = await _body(request)
    account = state.accounts.get(body.get("key_id") or DEMO_KEY_ID)
    if account is None:
        return _bad("no such account", 404)
    if not body.get("symbol"):
        return _bad('give "symbol" (a short option position)')
    state.exchange.process(account)
    try:
        qty = Decimal(str(body["qty"])) if body.get("qty") is not None else None
        made = expiry.assign(account, str(body["symbol"]).upper(), state.clock.now(), qty)
    except (InvalidOperation, ValueError):
        return _bad("qty must be a number")
    except SimError as err:
        return web.json_response({"code": err.code, "message": err.message}, status=err.status)
    state.exchange.on_change()
    return web.json_response({"activities": made})


async def admin_assignment_model(request: web.Request) -> web.Response:
    state = request.app[SIM_KEY]
    model = expiry.model_for(state.market)
    if request.method == "POST":
        body = await _body(request)
        try:
            model.set(body.get("early_probability"), body.get("extrinsic_below"))
        except (TypeError, ValueError, InvalidOperation) as exc:
            return _bad(str(exc))
    return web.Response(text=json.dumps(model.to_json()), content_type="application/json")


def register(app: web.Application) -> None:
    """Add the exercise, activities and assignment-admin routes to ``app``."""
    r = app.router
    r.add_post("/v2/positions/{symbol}/exercise", exercise_position)
    r.add_get("/v2/account/activities", list_activities)
    r.add_get("/v2/account/activities/{activity_type}", activities_of_type)
    r.add_post("/_sim/assign", admin_assign)
    r.add_get("/_sim/assignment", admin_assignment_model)
    r.add_post("/_sim/assignment", admin_assignment_model)
