"""``PATCH /v2/orders/{id}``: replacing a working order, as Alpaca does it.

Alpaca's replace is a new order: it gets a new id (and the given or a new ``client_order_id``),
``replaces`` = the old id; the old order ends with status ``replaced`` and ``replaced_by`` = the new
id. Fields that may change: ``qty``, ``limit_price``, ``stop_price``, ``time_in_force``,
``client_order_id``; the rest (symbol, side, type, legs) is the old order's. An mleg order is
replaced whole (a negative ``limit_price`` is a credit). The new order passes every check a new
order passes, with the old order's hold on buying power released first; when it is refused the
old order keeps working, untouched. A closing order (``*_to_close``) cannot be replaced while it
holds the position's qty: 403 / 40310000 "insufficient qty available", as on Alpaca (cancel,
confirm the cancel, then send the new order). Only a working order can be replaced (422 else);
a leg of an mleg order cannot be replaced alone.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stockbot.sim.exchange_model import SimError, SimOrder
from stockbot.sim.wire import CODE_BAD_REQUEST, CODE_UNPROCESSABLE

FIELDS = ("qty", "limit_price", "stop_price", "time_in_force", "client_order_id", "trail")


def _body_of(order: SimOrder) -> dict[str, Any]:
    """The POST body that places ``order`` again."""
    body: dict[str, Any] = {"qty": str(order.qty), "type": order.type, "time_in_force": order.time_in_force}
    if order.limit_price is not None:
        body["limit_price"] = str(order.limit_price)
    if order.stop_price is not None:
        body["stop_price"] = str(order.stop_price)
    if order.is_mleg:
        body["order_class"] = "mleg"
        body["legs"] = [{"symbol": leg.symbol, "ratio_qty": leg.ratio_qty, "side": leg.side,
                         "position_intent": leg.position_intent} for leg in order.legs]
    else:
        body.update(symbol=order.symbol, side=order.side, position_intent=order.position_intent,
                    extended_hours=order.extended_hours)
    return body


def replace_order(exchange, account, order_id: str, patch: Any) -> SimOrder:
    """Replace the working order ``order_id`` with ``patch`` applied; returns the new order."""
    if not isinstance(patch, dict) or not any(patch.get(k) not in (None, "") for k in FIELDS):
        raise SimError(400, CODE_BAD_REQUEST, "request body format is invalid")
    exchange.trade_updates.track(account)
    old = exchange.get_order(account, order_id)
    if old.parent_id is not None:
        raise SimError(422, CODE_UNPROCESSABLE, "cannot replace individual legs of a mleg order")
    if not old.is_open:
        raise SimError(422, CODE_UNPROCESSABLE, f"order is not replaceable: it is in \"{old.status}\" state")
    if patch.get("trail") not in (None, ""):
        raise SimError(422, CODE_UNPROCESSABLE, "trail can only be replaced on trailing_stop orders")
    # Alpaca checks the replacement's closing qty while the old order still holds it, so replacing
    # a closing order fails with 40310000 (ALPACA_NOTES: cancel, confirm, resubmit): so here too.
    for o in (old.legs or [old]):
        if o.position_intent in ("buy_to_close", "sell_to_close"):
            qty = Decimal(str(patch.get("qty") or old.qty)) * (o.ratio_qty or 1)
            exchange._check_close_qty(account, o.symbol, o.side, qty, o.position_intent)
    body = _body_of(old)
    for name in ("qty", "limit_price", "stop_price", "time_in_force", "client_order_id"):
        if patch.get(name) not in (None, ""):
            body[name] = patch[name]
    # Release the old order's holds for the checks, and give them back if the new one is refused.
    saved = (old.status, old.updated_at, old.reserved, [(leg.status, leg.updated_at) for leg in old.legs])
    now = exchange.now()
    old.set_status("replaced", now)
    old.reserved = type(old.reserved)(0)
    account.refresh_open(old)
    try:
        new = exchange.submit(account, body, publish=False)
    except SimError:
        old.status, old.updated_at, old.reserved = saved[0], saved[1], saved[2]
        for leg, (status, updated) in zip(old.legs, saved[3]):
            leg.status, leg.updated_at = status, updated
        account.refresh_open(old)
        raise
    old.replaced_by = new.id
    new.replaces = old.id
    exchange.publish(account)
    exchange.on_change()
    return new
