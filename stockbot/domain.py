"""Frozen value types shared by every layer.

Money and quantities are ``Decimal``; timestamps are timezone-aware UTC. These types carry no
behaviour that does I/O, so the pure core (options, risk, consensus aggregation, reconciliation
decisions) can be tested with plain tables.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only clock the core reads by default)."""
    return datetime.now(timezone.utc)


def as_utc(ts: datetime) -> datetime:
    """Return ``ts`` as aware UTC; naive datetimes are refused because their zone is a guess."""
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r}: timestamps must be timezone-aware")
    return ts.astimezone(timezone.utc)


def to_decimal(value: Any) -> Decimal:
    """Convert a wire value (str, int, float) to Decimal without binary-float noise."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"


class OptionRight(str, enum.Enum):
    CALL = "call"
    PUT = "put"


class PositionIntent(str, enum.Enum):
    BUY_TO_OPEN = "buy_to_open"
    BUY_TO_CLOSE = "buy_to_close"
    SELL_TO_OPEN = "sell_to_open"
    SELL_TO_CLOSE = "sell_to_close"


class OrderClass(str, enum.Enum):
    SIMPLE = "simple"
    MLEG = "mleg"


class AssetClass(str, enum.Enum):
    EQUITY = "us_equity"
    OPTION = "us_option"


class Action(str, enum.Enum):
    ENTER = "ENTER"
    HOLD = "HOLD"


# StrEnums: each value IS the string stored in state.db and shown in events and metrics, so
# switching a bare string for its member changes nothing on disk (``OrderPurpose.CONDOR_OPEN ==
# "condor_open"``), and a row read back as a plain str still compares equal.


class OrderPurpose(enum.StrEnum):
    """Why an order exists (``orders.purpose``); part of its deterministic client order id."""

    CONDOR_OPEN = "condor_open"  # the four-leg mleg entry
    CONDOR_CLOSE = "condor_close"  # the four-leg mleg exit
    CLOSE_POSITION = "close_position"  # a broker close_position(): orphans, leg-by-leg exits, equity exits
    EQUITY_OPEN = "equity_open"  # a stock pick's entry


class LocalOrderStatus(enum.StrEnum):
    """Order statuses only we write (the broker's own statuses are stored as it reports them)."""

    SUBMITTING = "submitting"  # the intent is stored; the POST may or may not have gone out
    UNKNOWN = "unknown"  # the POST's outcome is ambiguous; the reconciler looks it up by client id
    NOT_RECEIVED = "not_received"  # the lookup proved the broker never got it: safe to send again


class TradeStatus(enum.StrEnum):
    """State of a row of ``trades`` (one condor structure or one stock position)."""

    OPEN = "open"
    CLOSED = "closed"


class CycleStatus(enum.StrEnum):
    """How one decision cycle ended (condor ``DecisionOutcome``, equity ``EquityOutcome``)."""

    ENTERED = "entered"
    REBALANCED = "rebalanced"
    HOLD = "hold"
    HALTED = "halted"
    BLOCKED = "blocked"
    MARKET_CLOSED = "market_closed"
    OUT_OF_CAPITAL = "out_of_capital"
    NO_CONDOR = "no_condor"
    NO_MODEL = "no_model"
    NO_CANDIDATES = "no_candidates"
    SIZE_ZERO = "size_zero"
    NO_PRICE = "no_price"
    NOT_FILLED = "not_filled"
    DENIED = "denied"
    REJECTED = "rejected"
    UNRESOLVED = "unresolved"
    ERROR = "error"


class ManageStatus(enum.StrEnum):
    """How managing one open condor ended in a cycle (``ManageOutcome``)."""

    HOLD = "hold"
    CLOSED = "closed"
    CLOSED_LEG_BY_LEG = "closed_leg_by_leg"
    PARTIALLY_CLOSED = "partially_closed"
    NOT_FILLED = "not_filled"
    UNPRICED = "unpriced"
    SKIPPED = "skipped"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Quote:
    """Top of book for one symbol."""

    symbol: str
    bid: Decimal
    ask: Decimal
    ts: datetime
    bid_size: Decimal = Decimal(0)
    ask_size: Decimal = Decimal(0)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    def age_s(self, now: datetime) -> float:
        """Seconds since this quote was stamped (negative if stamped in the future)."""
        return (now - self.ts).total_seconds()


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    ts: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@dataclass(frozen=True, slots=True)
class OptionContract:
    """A listed option, identified by its OCC symbol."""

    symbol: str
    underlying: str
    expiration: date
    right: OptionRight
    strike: Decimal


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One row of an option chain snapshot: quote, greeks and implied volatility."""

    contract: OptionContract
    bid: Decimal
    ask: Decimal
    ts: datetime
    delta: float | None = None
    gamma: float | None = None
    theta: float | None = None
    vega: float | None = None
    iv: float | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class Leg:
    """One leg of an order. ``ratio_qty`` multiplies the parent order's qty."""

    symbol: str
    side: Side
    ratio_qty: int = 1
    position_intent: PositionIntent | None = None


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What we intend to send, before it is sent. The client_order_id is stored first.

    Single orders set ``symbol`` and ``side``; multi-leg orders set ``legs`` and
    ``order_class=MLEG`` and leave ``symbol``/``side`` empty, exactly as Alpaca's mleg body does.
    ``limit_price`` for mleg: positive = debit, negative = credit.
    """

    client_order_id: str
    qty: Decimal
    order_type: str = "market"  # market | limit
    time_in_force: str = "day"
    symbol: str | None = None
    side: Side | None = None
    legs: tuple[Leg, ...] = ()
    limit_price: Decimal | None = None
    order_class: OrderClass = OrderClass.SIMPLE
    asset_class: AssetClass = AssetClass.EQUITY
    position_intent: PositionIntent | None = None
    purpose: str = ""
    decision_id: str | None = None

    @property
    def option_leg_count(self) -> int:
        """Number of option legs this order carries (1 for a single option order)."""
        if self.legs:
            return len(self.legs)
        return 1 if self.asset_class is AssetClass.OPTION else 0


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker reports it."""

    id: str
    client_order_id: str
    status: str
    qty: Decimal
    filled_qty: Decimal
    created_at: datetime
    symbol: str = ""
    side: str = ""
    order_type: str = ""
    order_class: str = ""
    limit_price: Decimal | None = None
    filled_avg_price: Decimal | None = None
    legs: tuple["BrokerOrder", ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ORDER_STATUSES


OPEN_ORDER_STATUSES = frozenset(
    {"new", "accepted", "pending_new", "partially_filled", "pending_cancel", "pending_replace",
     "accepted_for_bidding", "calculated", "held"}
)


@dataclass(frozen=True, slots=True)
class Position:
    """A broker position; ``qty`` is signed (short positions are negative)."""

    symbol: str
    qty: Decimal
    avg_entry_price: Decimal
    asset_class: AssetClass = AssetClass.EQUITY
    market_value: Decimal | None = None
    unrealized_pl: Decimal | None = None
    current_price: Decimal | None = None

    @property
    def is_short(self) -> bool:
        return self.qty < 0


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """The broker's view of the account, as the preflight and the risk gate need it."""

    account_number: str
    status: str
    equity: Decimal
    last_equity: Decimal
    cash: Decimal
    buying_power: Decimal
    options_buying_power: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    shorting_enabled: bool = False
    options_level: int = 0
    pattern_day_trader: bool = False
    trading_blocked: bool = False
    account_blocked: bool = False


@dataclass(frozen=True, slots=True)
class Clock:
    ts: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one decision cycle: the consensus action and its aggregated parameters."""

    decision_id: str
    ts: datetime
    strategy: str
    action: Action
    params: Mapping[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TradeContext:
    """What a decision or an order is about: used for lesson retrieval and lesson guards."""

    account: str | None
    strategy: str  # condor | equity | index
    symbol: str
    now: datetime
    order_type: str = ""  # e.g. "mleg limit", "market"
    iv_rank: float | None = None
    market_condition: str = ""
    quote_age_s: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
