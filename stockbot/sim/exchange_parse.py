"""Validation of ``POST /v2/orders`` bodies into a typed ``OrderSpec``.

Refusals use Alpaca's codes: a body that is not a JSON object is 400/40010000; a field that is
missing, malformed or not supported here is 422/42210000; an unknown symbol is 422/42210000
(``asset "X" not found``). Numbers may arrive as JSON floats (alpaca-py) or strings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from stockbot.options.occ import is_occ_symbol
from stockbot.sim.exchange_model import SimError
from stockbot.sim.wire import CODE_BAD_REQUEST, CODE_UNPROCESSABLE

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIFS = ("day", "gtc", "ioc", "fok")
INTENTS = ("buy_to_open", "buy_to_close", "sell_to_open", "sell_to_close")
MAX_CLIENT_ORDER_ID = 128


@dataclass(frozen=True)
class LegSpec:
    symbol: str
    side: str
    ratio_qty: int
    position_intent: str | None = None


@dataclass(frozen=True)
class OrderSpec:
    """A validated order request."""

    client_order_id: str | None
    qty: Decimal
    type: str
    time_in_force: str
    order_class: str  # simple | mleg
    symbol: str = ""
    side: str = ""
    asset_class: str = ""
    position_intent: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    extended_hours: bool = False
    legs: tuple[LegSpec, ...] = field(default_factory=tuple)
    notional: Decimal | None = None  # dollars of a stock market order (its qty is set at submit)


def invalid(message: str) -> SimError:
    return SimError(422, CODE_UNPROCESSABLE, message)


def to_decimal(value: Any, name: str) -> Decimal:
    """A finite Decimal from a JSON number or string, else a 422."""
    if isinstance(value, bool) or value is None:
        raise invalid(f"invalid {name}")
    try:
        if isinstance(value, float):
            if not math.isfinite(value):
                raise invalid(f"invalid {name}")
            d = Decimal(repr(value))
        else:
            d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise invalid(f"invalid {name}") from None
    if not d.is_finite():
        raise invalid(f"invalid {name}")
    return d


def parse_order(body: Any, is_known: Callable[[str], bool]) -> OrderSpec:
    """Validate an order body. ``is_known(symbol)`` says whether the symbol trades here."""
    if not isinstance(body, dict):
        raise SimError(400, CODE_BAD_REQUEST, "request body format is invalid")
    notional = None
    if body.get("notional") not in (None, ""):
        if body.get("qty") not in (None, ""):
            raise invalid("only one of qty or notional may be given")
        notional = to_decimal(body["notional"], "notional")
        if notional < 1:
            raise invalid("notional must be at least 1")
        qty = Decimal(1)  # placeholder until the exchange prices the order
    elif body.get("qty") in (None, ""):
        raise invalid("qty is required")
    else:
        qty = to_decimal(body["qty"], "qty")
    if qty <= 0:
        raise invalid("qty must be > 0")
    order_class = str(body.get("order_class") or "simple")
    if order_class not in ("simple", "mleg"):
        raise invalid(f"order_class {order_class} is not supported by stockbot sim")
    otype = str(body.get("type") or body.get("order_type") or "")
    if otype == "trailing_stop":
        raise invalid("trailing_stop orders are not supported by stockbot sim")
    if otype not in ORDER_TYPES:
        raise invalid(f"invalid order type: {otype or 'missing'}")
    tif = str(body.get("time_in_force") or "")
    if tif in ("opg", "cls"):
        raise invalid(f"time_in_force {tif} is not supported by stockbot sim")
    if tif not in TIFS:
        raise invalid(f"invalid time_in_force: {tif or 'missing'}")
    client_id = body.get("client_order_id")
    if client_id is not None:
        if not isinstance(client_id, str) or not client_id.strip():
            raise invalid("invalid client_order_id")
        if len(client_id) > MAX_CLIENT_ORDER_ID:
            raise invalid("client_order_id must be at most 128 characters")
    extended = body.get("extended_hours", False)
    if not isinstance(extended, bool):
        raise invalid("invalid extended_hours")
    limit = _price(body, "limit_price", required=otype in ("limit", "stop_limit"))
    stop = _price(body, "stop_price", required=otype in ("stop", "stop_limit"))
    common = dict(client_order_id=client_id, qty=qty, type=otype, time_in_force=tif,
                  extended_hours=extended, limit_price=limit, stop_price=stop)
    if order_class == "mleg":
        if notional is not None:
            raise invalid("notional is not allowed for mleg orders")
        return _parse_mleg(body, common, is_known)
    spec = _parse_simple(body, common, is_known)
    if notional is not None:
        if spec.asset_class != "us_equity" or otype != "market" or tif != "day":
            raise invalid("notional orders must be day market orders for stock")
        from dataclasses import replace

        spec = replace(spec, notional=notional)
    return spec


def _price(body: dict, name: str, *, required: bool) -> Decimal | None:
    raw = body.get(name)
    if raw in (None, ""):
        if required:
            raise invalid(f"{name} is required")
        return None
    if not required:
        raise invalid(f"{name} is not allowed for this order type")
    return to_decimal(raw, name)


def _parse_simple(body: dict, common: dict, is_known: Callable[[str], bool]) -> OrderSpec:
    if body.get("legs"):
        raise invalid("legs are only allowed with order_class mleg")
    symbol = str(body.get("symbol") or "").strip().upper()
    if not symbol:
        raise invalid("symbol is required")
    intent = _intent(body.get("position_intent"))
    side = str(body.get("side") or "") or _side_from_intent(intent)
    if side not in ("buy", "sell"):
        raise invalid(f"invalid side: {side or 'missing'}")
    if intent and not intent.startswith(side):
        raise invalid(f"position_intent {intent} contradicts side {side}")
    option = is_occ_symbol(symbol)
    if not is_known(symbol):
        raise invalid(f'asset "{symbol}" not found')
    limit = common["limit_price"]
    if limit is not None and limit <= 0:
        raise invalid("limit_price must be > 0")
    if common["stop_price"] is not None and common["stop_price"] <= 0:
        raise invalid("stop_price must be > 0")
    if option:
        _check_option_common(common)
        if common["type"] not in ("market", "limit"):
            raise invalid("options orders support only market and limit types")
    return OrderSpec(order_class="simple", symbol=symbol, side=side, position_intent=intent,
                     asset_class="us_option" if option else "us_equity", **common)


def _check_option_common(common: dict) -> None:
    if common["qty"] != common["qty"].to_integral_value():
        raise invalid("qty must be a whole number of contracts for options")
    if common["time_in_force"] != "day":  # Alpaca's words for it (options are day-only)
        raise invalid("order_time_in_force provided not supported for options trading")
    if common["extended_hours"]:
        raise invalid("options orders cannot trade in extended hours")


def _parse_mleg(body: dict, common: dict, is_known: Callable[[str], bool]) -> OrderSpec:
    if body.get("symbol") or body.get("side"):
        raise invalid("symbol and side must not be set on an mleg order; set them on the legs")
    if common["type"] not in ("market", "limit"):
        raise invalid("mleg orders support only market and limit types")
    # limit_price 0 is an even-money spread (no debit, no credit): Alpaca accepts it.
    _check_option_common(common)
    legs_raw = body.get("legs")
    if not isinstance(legs_raw, list) or not 2 <= len(legs_raw) <= 4:
        raise invalid("an mleg order needs 2 to 4 legs")
    legs: list[LegSpec] = []
    for raw in legs_raw:
        if not isinstance(raw, dict):
            raise invalid("each leg must be an object")
        symbol = str(raw.get("symbol") or "").strip().upper()
        if not symbol:
            raise invalid("each leg needs a symbol")
        if not is_occ_symbol(symbol):
            raise invalid(f"leg symbol {symbol} is not an option contract")
        if not is_known(symbol):
            raise invalid(f'asset "{symbol}" not found')
        ratio = to_decimal(raw.get("ratio_qty"), "ratio_qty")
        if ratio <= 0 or ratio != ratio.to_integral_value():
            raise invalid("ratio_qty must be a positive whole number")
        intent = _intent(raw.get("position_intent"))
        side = str(raw.get("side") or "") or _side_from_intent(intent)
        if side not in ("buy", "sell"):
            raise invalid(f"invalid leg side: {side or 'missing'}")
        if intent and not intent.startswith(side):
            raise invalid(f"position_intent {intent} contradicts side {side}")
        legs.append(LegSpec(symbol=symbol, side=side, ratio_qty=int(ratio), position_intent=intent))
    if len({leg.symbol for leg in legs}) != len(legs):
        raise invalid("all legs must have unique symbols")
    if math.gcd(*[leg.ratio_qty for leg in legs]) != 1:
        raise invalid("leg ratios must be in simplest form (their greatest common divisor must be 1)")
    return OrderSpec(order_class="mleg", legs=tuple(legs), **common)


def _intent(raw: Any) -> str | None:
    if raw in (None, ""):
        return None
    intent = str(raw)
    if intent not in INTENTS:
        raise invalid(f"invalid position_intent: {intent}")
    return intent


def _side_from_intent(intent: str | None) -> str:
    if intent is None:
        return ""
    return "buy" if intent.startswith("buy") else "sell"
