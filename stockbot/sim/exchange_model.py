"""Orders and positions of the local exchange, and their Alpaca JSON shapes.

Only enum values alpaca-py 0.44 knows are emitted (order status, class, type, side, time in force,
position intent, asset class, position side); money and quantities are JSON strings.
An mleg parent has ``symbol``/``side``/``asset_class``/``asset_id`` = ``""`` (as Alpaca sends them)
and its ``legs`` are full orders, each with ``ratio_qty`` and ``qty`` = parent qty x ratio.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from stockbot.errors import StockbotError
from stockbot.sim.market import _ID_NAMESPACE as _ASSET_NAMESPACE  # one id scheme for the whole sim
from stockbot.sim.wire import money, rfc3339

OPTION_MULTIPLIER = Decimal(100)
CENT = Decimal("0.01")

OPEN_STATUSES = frozenset({"new", "accepted", "pending_new", "partially_filled", "held"})
CLOSED_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "done_for_day", "replaced"})

# Exchange names alpaca-py's AssetExchange knows; ETFs trade on ARCA, the rest here on NASDAQ.
_ARCA = frozenset({"SPY", "IWM", "DIA", "GLD", "SLV", "TLT", "XLF", "XLE", "XLK", "XLV", "EEM", "EFA"})


class SimError(StockbotError):
    """A refusal the API reports as ``{"code", "message"}`` with an HTTP status.

    Caller: skip (answer this request with the status and code; the sim goes on).
    """

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def asset_id_for(symbol: str) -> str:
    """A stable asset id (UUID) per symbol, the same in every run and the same one the market's
    data and option-contract routes report (``Market.asset_id``)."""
    return str(uuid.uuid5(_ASSET_NAMESPACE, f"asset:{symbol}"))


def exchange_for(symbol: str, asset_class: str) -> str:
    if asset_class == "us_option":
        return ""
    return "ARCA" if symbol in _ARCA else "NASDAQ"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_EVEN)


def ts(dt: datetime | None) -> str | None:
    return rfc3339(dt) if dt is not None else None


@dataclass
class SimPosition:
    """A position; ``qty`` is signed (short < 0). ``avg_entry_price`` is per share / per contract
    (the premium, not multiplied by 100)."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    asset_class: str  # us_equity | us_option

    @property
    def multiplier(self) -> Decimal:
        return OPTION_MULTIPLIER if self.asset_class == "us_option" else Decimal(1)

    @property
    def side(self) -> str:
        return "short" if self.qty < 0 else "long"

    def to_json(self, current: Decimal, lastday: Decimal, qty_available: Decimal | None = None) -> dict[str, Any]:
        """Alpaca Position JSON, marked at ``current`` (previous close ``lastday``);
        ``qty_available``: the signed qty not held by working orders."""
        mult = self.multiplier
        market_value = cents(self.qty * current * mult)
        cost_basis = cents(self.qty * self.avg_entry_price * mult)
        unrealized = market_value - cost_basis
        plpc = (unrealized / abs(cost_basis)) if cost_basis else Decimal(0)
        intraday = cents(market_value - self.qty * lastday * mult)
        intraday_base = abs(self.qty * lastday * mult)
        intraday_pc = (intraday / intraday_base) if intraday_base else Decimal(0)
        change = ((current - lastday) / lastday) if lastday else Decimal(0)
        return {
            "asset_id": asset_id_for(self.symbol),
            "symbol": self.symbol,
            "exchange": exchange_for(self.symbol, self.asset_class),
            "asset_class": self.asset_class,
            "asset_marginable": self.asset_class == "us_equity",
            "avg_entry_price": money(self.avg_entry_price),
            "qty": money(self.qty),
            "side": self.side,
            "market_value": money(market_value),
            "cost_basis": money(cost_basis),
            "unrealized_pl": money(unrealized),
            "unrealized_plpc": money(_ratio(plpc)),
            "unrealized_intraday_pl": money(intraday),
            "unrealized_intraday_plpc": money(_ratio(intraday_pc)),
            "current_price": money(current),
            "lastday_price": money(lastday),
            "change_today": money(_ratio(change)),
            "qty_available": money(self.qty if qty_available is None else qty_available),
        }


def _ratio(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


@dataclass
class SimOrder:
    """One order. An mleg parent holds its legs; a leg knows its parent and ``ratio_qty``."""

    id: str
    client_order_id: str
    created_at: datetime
    symbol: str
    asset_class: str  # us_equity | us_option | "" (mleg parent)
    side: str  # buy | sell | "" (mleg parent)
    qty: Decimal
    type: str  # market | limit | stop | stop_limit
    time_in_force: str
    order_class: str = "simple"  # simple | mleg
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    position_intent: str | None = None
    status: str = "new"
    extended_hours: bool = False
    expires_at: datetime | None = None
    updated_at: datetime | None = None
    filled_qty: Decimal = Decimal(0)
    filled_avg_price: Decimal | None = None
    filled_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    failed_at: datetime | None = None
    legs: list["SimOrder"] = field(default_factory=list)
    ratio_qty: int | None = None
    parent_id: str | None = None
    reserved: Decimal = Decimal(0)  # buying power held while the order works
    stop_triggered: bool = False
    reject_reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_mleg(self) -> bool:
        return self.order_class == "mleg" and self.parent_id is None

    def symbols(self) -> list[str]:
        return [leg.symbol for leg in self.legs] if self.is_mleg else [self.symbol]

    def set_status(self, status: str, now: datetime) -> None:
        """Change the status of the order and of its legs together (legs never diverge)."""
        self.status = status
        self.updated_at = now
        if status == "canceled":
            self.canceled_at = now
        elif status == "expired":
            self.expired_at = now
        elif status == "rejected":
            self.failed_at = now
        for leg in self.legs:
            leg.set_status(status, now)

    def to_json(self, nested: bool = True) -> dict[str, Any]:
        """Alpaca Order JSON. ``nested`` puts the legs of an mleg parent under ``legs``."""
        parent = self.is_mleg
        data: dict[str, Any] = {
            "id": self.id,
            "client_order_id": self.client_order_id,
            "created_at": ts(self.created_at),
            "updated_at": ts(self.updated_at or self.created_at),
            "submitted_at": ts(self.created_at),
            "filled_at": ts(self.filled_at),
            "expired_at": ts(self.expired_at),
            "expires_at": ts(self.expires_at),
            "canceled_at": ts(self.canceled_at),
            "failed_at": ts(self.failed_at),
            "replaced_at": None,
            "replaced_by": None,
            "replaces": None,
            "asset_id": "" if parent else asset_id_for(self.symbol),
            "symbol": self.symbol,
            "asset_class": self.asset_class,
            "notional": None,
            "qty": money(self.qty),
            "filled_qty": money(self.filled_qty),
            "filled_avg_price": money(self.filled_avg_price),
            "order_class": self.order_class,
            "order_type": self.type,
            "type": self.type,
            "side": self.side,
            "time_in_force": self.time_in_force,
            "limit_price": money(self.limit_price) if self.parent_id is None else None,
            "stop_price": money(self.stop_price),
            "status": self.status,
            "extended_hours": self.extended_hours,
            "legs": [leg.to_json() for leg in self.legs] if (parent and nested) else None,
            "trail_percent": None,
            "trail_price": None,
            "hwm": None,
            "subtag": None,
            "source": None,
        }
        if self.position_intent:
            data["position_intent"] = self.position_intent
        if self.ratio_qty is not None:
            data["ratio_qty"] = str(self.ratio_qty)
        return data
