"""The admin API of the local exchange (``/_sim/...``) and the log of every request served.

Loopback only and unauthenticated (the sim binds 127.0.0.1); tests and operators use it to inject
faults, move the clock, plant positions, add accounts and prove what a client did.
Routes and bodies are listed in :func:`register`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from aiohttp import web

from stockbot.sim.accounts import AccountSpec
from stockbot.sim.exchange_fill import NY
from stockbot.sim.exchange_parse import to_decimal
from stockbot.sim.exchange_model import SimError
from stockbot.sim.exchange_views import positions_json
from stockbot.sim.state import SimState, state_of
from stockbot.sim.wire import money, parse_rfc3339, rfc3339


_state = state_of


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"code": 40010000, "message": "body must be JSON"}),
                                 content_type="application/json") from None


def _bad(message: str, status: int = 400) -> web.Response:
    return web.json_response({"code": status * 100000, "message": message}, status=status)


# ------------------------------------------------------------------ requests
async def get_requests(request: web.Request) -> web.Response:
    q = request.query
    try:
        entries = _state(request).requests.query(
            method=q.get("method"), path=q.get("path"), path_prefix=q.get("path_prefix"), key_id=q.get("key_id"),
            status=int(q["status"]) if q.get("status") else None,
            since=int(q["since"]) if q.get("since") else None, limit=int(q["limit"]) if q.get("limit") else None)
    except ValueError:
        return _bad("status, since and limit must be integers")
    return web.json_response({"requests": entries, "count": len(entries)})


async def clear_requests(request: web.Request) -> web.Response:
    _state(request).requests.clear()
    return web.Response(status=204)


# -------------------------------------------------------------------- faults
async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [r.to_json() for r in _state(request).faults.rules()]})


async def add_fault(request: web.Request) -> web.Response:
    body = await _json(request)
    items = body if isinstance(body, list) else [body]
    try:
        rules = [_state(request).faults.add(item) for item in items]
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    out = [r.to_json() for r in rules]
    return web.json_response(out if isinstance(body, list) else out[0], status=201)


async def clear_faults(request: web.Request) -> web.Response:
    _state(request).faults.clear()
    return web.Response(status=204)


async def delete_fault(request: web.Request) -> web.Response:
    try:
        found = _state(request).faults.remove(int(request.match_info["fault_id"]))
    except ValueError:
        found = False
    return web.Response(status=204) if found else _bad("no such fault", 404)


# --------------------------------------------------------------------- clock
def _clock_json(state: SimState) -> dict[str, Any]:
    clock = state.clock
    now = clock.now()
    return {"now": rfc3339(now), "now_ny": now.astimezone(NY).isoformat(), "is_open": clock.is_open(now),
            "next_open": rfc3339(clock.next_open(now)), "next_close": rfc3339(clock.next_close(now)),
            "offset_s": getattr(clock, "offset_s", 0.0), "always_open": getattr(clock, "always_open", False)}


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock_json(_state(request)))


async def jump_clock(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _json(request)
    if not isinstance(body, dict):
        return _bad("body must be an object")
    now = state.clock.now()
    try:
        if "seconds" in body:
            seconds = float(body["seconds"])
        elif body.get("to") == "next_open":
            seconds = (state.clock.next_open(now) - now).total_seconds()
        elif body.get("to") == "next_close":
            seconds = (state.clock.next_close(now) - now).total_seconds()
        elif body.get("to"):
            seconds = (parse_rfc3339(str(body["to"])) - now).total_seconds()
        else:
            return _bad('give "seconds" or "to" (next_open, next_close or an RFC 3339 time)')
        seconds += float(body.get("plus_seconds", 0))
    except (TypeError, ValueError) as exc:
        return _bad(str(exc))
    state.clock.jump(seconds)
    state.exchange.process_all()
    return web.json_response(_clock_json(state))


# ------------------------------------------------------------------ accounts
def _account_summary(state: SimState, account) -> dict[str, Any]:
    spec = account.spec
    return {"key_id": spec.key_id, "id": account.id, "account_number": account.account_number,
            "cash": money(account.cash), "equity": money(state.exchange.valuation(account).equity),
            "multiplier": spec.multiplier, "shorting": spec.shorting, "options_level": spec.options_level,
            "positions": len(account.positions), "open_orders": len(account.open_orders),
            "orders": len(account.orders)}


async def list_accounts(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({"accounts": [_account_summary(state, a) for a in state.accounts]})


async def add_account(request: web.Request) -> web.Response:
    state = _state(request)
    body = await _json(request)
    try:
        spec = AccountSpec.from_dict(body if isinstance(body, dict) else {})
        account = state.accounts.add(spec, now=state.clock.now(),
                                     today=state.exchange.last_close_date(state.clock.now()))
    except (ValueError, TypeError) as exc:
        return _bad(str(exc))
    state.exchange.on_change()
    return web.json_response(_account_summary(state, account), status=201)


def _account(request: web.Request, key_id: str | None):
    from stockbot.sim.accounts import DEMO_KEY_ID

    account = _state(request).accounts.get(key_id or DEMO_KEY_ID)
    if account is None:
        raise web.HTTPNotFound(text=json.dumps({"code": 40410000, "message": "no such account"}),
                               content_type="application/json")
    return account


async def account_orders(request: web.Request) -> web.Response:
    account = _account(request, request.match_info["key_id"])
    return web.json_response({"orders": [o.to_json() for o in account.orders]})


async def plant_position(request: web.Request) -> web.Response:
    """``{"key_id"?, "symbol", "qty" (signed), "avg_entry_price"?, "adjust_cash"?}``."""
    state = _state(request)
    body = await _json(request)
    if not isinstance(body, dict) or not body.get("symbol") or body.get("qty") is None:
        return _bad('give at least "symbol" and a signed "qty"')
    account = _account(request, body.get("key_id"))
    symbol = str(body["symbol"]).upper()
    try:
        qty = to_decimal(body["qty"], "qty")
        if body.get("avg_entry_price") is not None:
            price = to_decimal(body["avg_entry_price"], "avg_entry_price")
        else:
            price = state.exchange.pricer().mark(symbol, Decimal(0))
    except SimError as err:
        return _bad(err.message)
    if not state.exchange.is_known(symbol):
        return _bad(f"unknown symbol {symbol}", 422)
    state.exchange.plant_position(account, symbol, qty, price, adjust_cash=bool(body.get("adjust_cash")))
    views = positions_json(state.exchange, account, only=symbol)
    return web.json_response(views[0] if views else {}, status=201)


# -------------------------------------------------------------------- stream
def _stream_json(stream) -> dict[str, Any]:
    out = {"connections": stream.connections(), "quotes_sent": stream.quotes_sent()}
    if hasattr(stream, "stats"):
        out.update(stream.stats())
    return out


async def stream_status(request: web.Request) -> web.Response:
    return web.json_response(_stream_json(_state(request).stream))


async def stream_control(request: web.Request) -> web.Response:
    """``{"disconnect": true, "abrupt": bool, "silent": bool, "allow_multiple": bool, "quote_rate": float|null}``."""
    stream = _state(request).stream
    body = await _json(request)
    if not isinstance(body, dict):
        return _bad("body must be an object")
    if "silent" in body:
        stream.set_silent(bool(body["silent"]))
    if "allow_multiple" in body:
        stream.allow_multiple_connections(bool(body["allow_multiple"]))
    if "quote_rate" in body:
        rate = body["quote_rate"]
        stream.set_quote_rate(None if rate is None else float(rate))
    dropped = 0
    if body.get("disconnect") or body.get("action") == "disconnect":
        dropped = stream.disconnect_all(abrupt=bool(body.get("abrupt")))
    return web.json_response({**_stream_json(stream), "dropped": dropped})


# ------------------------------------------------------------------ settings
async def settings(request: web.Request) -> web.Response:
    """``{"rate_limit_per_min": int, "mleg_fill": "touch"|"mid", "fill_chance": 0..1, "fill_delay_s": N,
    "greeks_drop_fraction": 0..1, "greeks_drop_seed": int}``; GET reads them."""
    state = _state(request)
    if request.method == "POST":
        body = await _json(request)
        if not isinstance(body, dict):
            return _bad("body must be an object")
        if "rate_limit_per_min" in body:
            state.limiter.per_min = int(body["rate_limit_per_min"])
            state.limiter.reset()
        if "mleg_fill" in body:
            if body["mleg_fill"] not in ("touch", "mid"):
                return _bad("mleg_fill must be touch or mid")
            state.exchange.mleg_fill = body["mleg_fill"]
        if "fill_chance" in body or "fill_delay_s" in body:
            try:
                state.exchange.fill.set(body.get("fill_chance"), body.get("fill_delay_s"))
            except (TypeError, ValueError) as exc:
                return _bad(str(exc))
        if "greeks_drop_fraction" in body or "greeks_drop_seed" in body:
            try:
                state.market.options.omission.set(body.get("greeks_drop_fraction"), body.get("greeks_drop_seed"))
            except (TypeError, ValueError) as exc:
                return _bad(str(exc))
    return web.json_response({"rate_limit_per_min": state.limiter.per_min, "mleg_fill": state.exchange.mleg_fill,
                              **state.exchange.fill.to_json(), **state.market.options.omission.to_json()})


async def tick(request: web.Request) -> web.Response:
    _state(request).exchange.process_all()
    return web.Response(status=204)


async def flush(request: web.Request) -> web.Response:
    state = _state(request)
    if state.persister is None:
        return _bad("the sim runs without --state", 409)
    state.persister.flush()
    return web.Response(status=204)


async def health(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response({"ok": True, "accounts": len(state.accounts), "requests": len(state.requests)})


def register(app: web.Application) -> None:
    """Admin routes (bodies are JSON):

    GET  /_sim/health                      {"ok", "accounts", "requests"}
    GET  /_sim/requests?method&path&path_prefix&key_id&status&since&limit   {"requests": [...], "count"}
    DELETE /_sim/requests
    GET  /_sim/faults                      {"faults": [...]}
    POST /_sim/faults                      a rule (see faults.py) or a list of rules -> 201
    DELETE /_sim/faults, /_sim/faults/{id}
    GET  /_sim/clock; POST /_sim/clock/jump {"seconds": N} | {"to": "next_open"|"next_close"|RFC3339, "plus_seconds"?}
    GET  /_sim/accounts; POST /_sim/accounts {key_id, secret, equity?, multiplier?, shorting?, options_level?, ...}
    GET  /_sim/accounts/{key_id}/orders
    POST /_sim/positions                   {"key_id"?, "symbol", "qty", "avg_entry_price"?, "adjust_cash"?}
    GET  /_sim/stream; POST /_sim/stream   {"disconnect"?, "silent"?, "allow_multiple"?, "quote_rate"?}
    GET|POST /_sim/settings                {"rate_limit_per_min"?, "mleg_fill"?, "fill_chance"?, "fill_delay_s"?, ...}
    GET|POST /_sim/trade_updates           {"silent"?, "duplicate"?, "disconnect"?} (trade_updates.py)
    POST /_sim/tick                        process every account now
    POST /_sim/persist/flush               write the state file now
    """
    r = app.router
    r.add_get("/_sim/health", health)
    r.add_get("/_sim/requests", get_requests)
    r.add_delete("/_sim/requests", clear_requests)
    r.add_get("/_sim/faults", list_faults)
    r.add_post("/_sim/faults", add_fault)
    r.add_delete("/_sim/faults", clear_faults)
    r.add_delete("/_sim/faults/{fault_id}", delete_fault)
    r.add_get("/_sim/clock", get_clock)
    r.add_post("/_sim/clock/jump", jump_clock)
    r.add_get("/_sim/accounts", list_accounts)
    r.add_post("/_sim/accounts", add_account)
    r.add_get("/_sim/accounts/{key_id}/orders", account_orders)
    r.add_post("/_sim/positions", plant_position)
    r.add_get("/_sim/stream", stream_status)
    r.add_post("/_sim/stream", stream_control)
    r.add_get("/_sim/settings", settings)
    r.add_post("/_sim/settings", settings)
    r.add_post("/_sim/tick", tick)
    r.add_post("/_sim/persist/flush", flush)
