"""Account activities of the local exchange (``GET /v2/account/activities[/{activity_type}]``).

Shapes follow Alpaca's OpenAPI spec: option events are ``NonTradeActivities`` (``OPEXC`` exercise,
``OPASN`` assignment, ``OPEXP`` expiry, ``OPTRD`` the stock trade paired with an exercise or an
assignment, linked to it by ``group_id``); fills are ``TradingActivities`` (``FILL``), derived from
the account's filled orders when asked for. Conventions of the sim, so the daemon and the tests
read one meaning:

- an option activity's ``qty`` is the signed change of the option position (exercising or letting
  a long contract expire: ``-1``; being assigned on, or expiring, a short contract: ``+1``);
- an ``OPTRD``'s ``qty`` is the signed change of the stock position (``+100`` bought, ``-100``
  sold), ``price`` is the strike, ``side`` buy/sell and ``net_amount`` the cash it moved.

Ids are ``"<YYYYMMDDHHMMSSmmm>::<uuid>"`` (Alpaca's format; usable as ``page_token``). Option
activities are part of the state file (``persist.py``); FILLs are rebuilt from the orders.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from aiohttp import web

from stockbot.sim.accounts import SIM_NAMESPACE, SimAccount
from stockbot.sim.wire import CODE_UNPROCESSABLE, error_response, money, parse_rfc3339, query_list, rfc3339

OPTION_TYPES = ("OPEXC", "OPASN", "OPEXP", "OPTRD")
TRADE_TYPES = ("FILL",)
DESCRIPTIONS = {"OPEXC": "Option Exercise", "OPASN": "Option Assignment", "OPEXP": "Option Expiration",
                "OPTRD": "Option Trade"}
MAX_PAGE = 100


def activity_id(ts: datetime, uid: str) -> str:
    """Alpaca's ``<timestamp to the millisecond>::<uuid>`` id, which sorts by time."""
    utc = ts.astimezone(timezone.utc)
    return utc.strftime("%Y%m%d%H%M%S") + f"{utc.microsecond // 1000:03d}::{uid}"


def new_group(account: SimAccount) -> str:
    """A fresh ``group_id`` linking an exercise/assignment with its stock trade."""
    return str(uuid.uuid5(SIM_NAMESPACE, f"group:{account.id}:{len(account.activities)}"))


def record(account: SimAccount, activity_type: str, *, symbol: str, qty: Decimal, now: datetime,
           group_id: str, price: Decimal | None = None, net_amount: Decimal = Decimal(0),
           side: str | None = None) -> dict[str, Any]:
    """Append one option activity to ``account`` and return its JSON."""
    uid = str(uuid.uuid5(SIM_NAMESPACE, f"activity:{account.id}:{len(account.activities)}"))
    body: dict[str, Any] = {
        "id": activity_id(now, uid),
        "activity_type": activity_type,
        "date": now.date().isoformat(),
        "created_at": rfc3339(now),
        "system_date": now.date().isoformat(),
        "symbol": symbol,
        "qty": money(qty),
        "net_amount": money(net_amount),
        "status": "executed",
        "currency": "USD",
        "description": DESCRIPTIONS.get(activity_type, activity_type),
        "group_id": group_id,
    }
    if price is not None:  # fields "not present for all activity types" are left out, never null
        body["price"] = money(price)
    if side is not None:
        body["side"] = side
    account.activities.append(body)
    return body


def fills(account: SimAccount) -> list[dict[str, Any]]:
    """``FILL`` activities of every filled order (each leg of an mleg order is its own fill)."""
    out = []
    for order in account.orders:
        for o in (order.legs or [order]):
            if o.status != "filled" or o.filled_at is None:
                continue
            out.append({"id": activity_id(o.filled_at, o.id), "activity_type": "FILL", "type": "fill",
                        "transaction_time": rfc3339(o.filled_at), "order_id": o.id, "order_status": o.status,
                        "symbol": o.symbol, "side": o.side, "qty": money(o.filled_qty),
                        "cum_qty": money(o.filled_qty), "leaves_qty": "0", "price": money(o.filled_avg_price)})
    return out


def select(account: SimAccount, types: list[str], query) -> list[dict[str, Any]]:
    """Activities of ``types`` (all when empty), filtered and paged as Alpaca does."""
    wanted = {t.upper() for t in types}
    category = query.get("category")
    if category == "trade_activity":
        wanted = set(TRADE_TYPES)
    elif category == "non_trade_activity":
        wanted = set(OPTION_TYPES)
    pool = [a for a in account.activities if not wanted or a["activity_type"] in wanted]
    if not wanted or "FILL" in wanted:
        pool.extend(fills(account))
    after = _ts(query.get("after"))
    until = _ts(query.get("until"))
    day = query.get("date")
    direction = query.get("direction", "desc") or "desc"
    if direction not in ("asc", "desc"):
        raise ValueError(f"invalid direction: {direction}")
    size = min(max(int(query.get("page_size") or MAX_PAGE), 1), MAX_PAGE)
    out = []
    for a in pool:
        at = parse_rfc3339(a.get("created_at") or a["transaction_time"])
        if after is not None and not at > after:
            continue
        if until is not None and not at < until:
            continue
        if day and at.date().isoformat() != day[:10]:
            continue
        out.append(a)
    out.sort(key=lambda a: a["id"], reverse=direction == "desc")
    token = query.get("page_token")
    if token:
        out = [a for a in out if (a["id"] < token if direction == "desc" else a["id"] > token)]
    return out[:size]


def _ts(raw: str | None) -> datetime | None:
    if not raw:
        return None
    return parse_rfc3339(raw if len(raw) > 10 else raw + "T00:00:00Z")


def respond(account: SimAccount, types: list[str], query) -> web.Response:
    """The JSON response of an activities route (422 on a bad filter)."""
    try:
        return web.json_response(select(account, types, query))
    except ValueError as exc:
        return error_response(422, CODE_UNPROCESSABLE, str(exc))


def types_from(query) -> list[str]:
    return query_list(query.get("activity_types"))
