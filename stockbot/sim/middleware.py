"""The sim's one aiohttp middleware: the request log, injected faults, authentication and the
per-account rate limit, in that order, for every request (the admin API is never faulted)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from stockbot.sim.faults import DATA_PREFIXES, MAX_BODY_LOG, STREAM_PATHS
from stockbot.sim.state import ACCOUNT_KEY, SIM_KEY, SimState
from stockbot.sim.wire import CODE_RATE_LIMIT, error_response, unauthorized


def _api_of(path: str) -> str | None:
    """'trading', 'data' or None (stream, admin, agents) for rate limiting and auth."""
    if path in STREAM_PATHS:
        return None
    if path.startswith(DATA_PREFIXES):
        return "data"
    if path.startswith("/v2/"):
        return "trading"
    return None


@web.middleware
async def sim_middleware(request: web.Request, handler):
    """Request log, injected faults, authentication and the per-account rate limit."""
    state: SimState = request.app[SIM_KEY]
    started = time.perf_counter()
    key_id = request.headers.get("APCA-API-KEY-ID", "")
    entry: dict[str, Any] = {"ts": _wall(), "sim_ts": state.clock.now().isoformat(), "method": request.method,
                             "path": request.path, "query": dict(request.query), "key_id": key_id or None}
    if request.method in ("POST", "PATCH", "PUT", "DELETE") and request.can_read_body:
        entry["body"] = body_for_log(await request.read())
    status = 500
    try:
        response = await _serve(request, handler, state, key_id)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        entry["status"] = status
        entry["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
        state.requests.add(entry)


async def _serve(request: web.Request, handler, state: SimState, key_id: str):
    method, path = request.method, request.path
    if path.startswith("/_sim/"):  # the admin API is never faulted: tests must be able to clear faults
        return await handler(request)
    delay = state.faults.latency_s(method, path, key_id or None)
    if delay:
        await asyncio.sleep(delay)
    api = _api_of(path)
    headers: dict[str, str] = {}
    if api is not None:
        account = state.accounts.authenticate(key_id, request.headers.get("APCA-API-SECRET-KEY", ""))
        if account is None:
            if api == "trading":
                return unauthorized()
        else:
            request[ACCOUNT_KEY] = account
            limit = account.spec.rate_limit_per_min or state.limiter.per_min
            allowed, headers = state.limiter.hit((account.key_id, api), limit)
            if not allowed:
                return error_response(429, CODE_RATE_LIMIT, "rate limit exceeded", headers=headers)
    rule = state.faults.take("rate_limit", method, path, key_id or None)
    if rule is not None:
        return state.faults.response(rule, state.limiter.per_min)
    rule = state.faults.take("http_error", method, path, key_id or None)
    if rule is not None and not rule.after:
        return state.faults.response(rule, state.limiter.per_min)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if api is None or exc.status < 400:
            raise
        response = error_response(exc.status, exc.status * 100000, (exc.reason or "error").lower())
    if rule is not None:  # the request was served; the client only sees the error
        return state.faults.response(rule, state.limiter.per_min)
    if headers and not response.prepared:
        response.headers.update(headers)
    return response


def _wall() -> str:
    return datetime.now(timezone.utc).isoformat()


def body_for_log(raw: bytes) -> Any:
    """A logged request body: parsed JSON when it is JSON, else a truncated string."""
    text = raw[:MAX_BODY_LOG].decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
