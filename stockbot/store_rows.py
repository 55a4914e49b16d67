"""Typed rows of the state store: each column parsed once, where it is read.

The database keeps text (Decimal as its string, timestamps as UTC ISO-8601, JSON blobs); callers
used to re-parse the same dict columns in dozens of places. These frozen rows carry the parsed
values instead: ``Decimal`` quantities and prices, aware ``datetime``s, decoded JSON, and the
StrEnums of ``stockbot.domain`` for statuses and purposes we know. Text we do not know (a broker's
own order status, a purpose written by an older stockbot) still loads as the plain ``str``: the
StrEnum members compare equal to their strings, so callers compare either way.

``as_json()`` is the JSON view (strings for Decimals and times, as stored) for the few readers
that show or dump a row: the dashboard, ``stockbot status``, chaos reports.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Mapping, TypeVar

from stockbot.domain import LocalOrderStatus, OrderPurpose, TradeStatus

E = TypeVar("E", bound=Enum)


def _enum_or_text(cls: type[E], text: str) -> E | str:
    """The member of ``cls`` with this value, else the text itself (unknown values must load)."""
    try:
        return cls(text)
    except ValueError:
        return text


def _dec(text: Any) -> Decimal | None:
    return None if text in (None, "") else Decimal(str(text))


def _when(text: str) -> datetime:
    """A stored timestamp, always aware (text written without an offset is UTC, as the store writes)."""
    ts = datetime.fromisoformat(text)
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _time(text: str | None) -> datetime | None:
    return None if not text else _when(text)


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a row value (Decimal -> str, datetime -> ISO text, rows -> dicts)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _Row:
    """JSON view shared by every row type."""

    __slots__ = ()

    def as_json(self) -> dict[str, Any]:
        """The row as JSON-ready values (Decimals and times as the text the store keeps)."""
        out: dict[str, Any] = _plain(self)
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class TradeLeg(_Row):
    """One leg of a trade: the signed position it holds (short < 0)."""

    symbol: str
    qty: Decimal


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRow(_Row):
    """A row of ``orders``: our intent plus the broker's latest facts about it.

    ``filled_qty`` is Decimal 0 until the broker reports a fill (the column is NULL until then);
    ``filled_avg_price`` stays None while unknown. ``intent`` is the stored ``OrderIntent`` JSON.
    """

    client_order_id: str
    created_ts: datetime
    updated_ts: datetime
    decision_id: str | None
    purpose: OrderPurpose | str
    status: LocalOrderStatus | str
    broker_id: str | None
    symbol: str | None
    order_class: str
    qty: Decimal
    limit_price: Decimal | None
    filled_qty: Decimal
    filled_avg_price: Decimal | None
    intent: dict[str, Any]
    raw: dict[str, Any] | None

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "OrderRow":
        """Parse one ``SELECT * FROM orders`` row."""
        return cls(client_order_id=r["client_order_id"], created_ts=_when(r["created_ts"]),
                   updated_ts=_when(r["updated_ts"]), decision_id=r["decision_id"] or None,
                   purpose=_enum_or_text(OrderPurpose, r["purpose"] or ""),
                   status=_enum_or_text(LocalOrderStatus, r["status"]), broker_id=r["broker_id"],
                   symbol=r["symbol"], order_class=r["order_class"], qty=Decimal(r["qty"]),
                   limit_price=_dec(r["limit_price"]), filled_qty=_dec(r["filled_qty"]) or Decimal(0),
                   filled_avg_price=_dec(r["filled_avg_price"]), intent=_json(r["intent"]) or {},
                   raw=_json(r["raw"]))

    @property
    def intent_legs(self) -> list[dict[str, Any]]:
        """The intent's legs as stored (``symbol``, ``side``, ``ratio_qty`` ...), [] for a simple order."""
        legs: list[dict[str, Any]] = self.intent.get("legs") or []
        return legs

    @property
    def intent_side(self) -> str | None:
        """The intent's side (``buy``/``sell``) for a single order, None for mleg."""
        side: str | None = self.intent.get("side")
        return side


@dataclasses.dataclass(frozen=True, slots=True)
class TradeRow(_Row):
    """A row of ``trades``: one structure (a condor, or a stock position).

    ``meta`` is the strategy's JSON (``{}`` when none was stored); treat it as read-only and
    write a changed copy back through ``Store.record_trade``.
    """

    structure_id: str
    strategy: str
    opened_ts: datetime
    closed_ts: datetime | None
    status: TradeStatus | str
    entry_client_order_id: str | None
    exit_client_order_id: str | None
    qty: Decimal
    entry_price: Decimal | None
    exit_price: Decimal | None
    pnl: Decimal | None
    legs: tuple[TradeLeg, ...]
    meta: dict[str, Any]

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "TradeRow":
        """Parse one ``SELECT * FROM trades`` row."""
        legs = tuple(TradeLeg(str(leg["symbol"]), Decimal(str(leg["qty"]))) for leg in _json(r["legs"]) or [])
        return cls(structure_id=r["structure_id"], strategy=r["strategy"],
                   opened_ts=_when(r["opened_ts"]), closed_ts=_time(r["closed_ts"]),
                   status=_enum_or_text(TradeStatus, r["status"]),
                   entry_client_order_id=r["entry_client_order_id"], exit_client_order_id=r["exit_client_order_id"],
                   qty=Decimal(r["qty"]), entry_price=_dec(r["entry_price"]), exit_price=_dec(r["exit_price"]),
                   pnl=_dec(r["pnl"]), legs=legs, meta=_json(r["meta"]) or {})

    @property
    def is_open(self) -> bool:
        return self.status == TradeStatus.OPEN


@dataclasses.dataclass(frozen=True, slots=True)
class VoteRow(_Row):
    """A row of ``votes``: one agent's ballot on a decision (a failed agent has ``error`` set)."""

    id: int
    decision_id: str
    ts: datetime
    agent: str
    model: str
    action: str
    confidence: float | None
    latency_s: float
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    vote: dict[str, Any] | None
    raw_sha256: str | None
    error: str | None

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "VoteRow":
        """Parse one ``SELECT * FROM votes`` row."""
        return cls(id=r["id"], decision_id=r["decision_id"], ts=_when(r["ts"]), agent=r["agent"],
                   model=r["model"], action=r["action"], confidence=r["confidence"], latency_s=r["latency_s"],
                   prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
                   cost_usd=r["cost_usd"], vote=_json(r["vote"]), raw_sha256=r["raw_sha256"], error=r["error"])


@dataclasses.dataclass(frozen=True, slots=True)
class DecisionRow(_Row):
    """A row of ``decisions``: what was decided, why, and with which lessons and prompt."""

    decision_id: str
    ts: datetime
    strategy: str
    action: str
    params: dict[str, Any]
    reason: str
    context: dict[str, Any] | None
    lessons: list[dict[str, Any]] | None
    prompt: str | None

    @classmethod
    def from_db(cls, r: Mapping[str, Any]) -> "DecisionRow":
        """Parse one ``SELECT * FROM decisions`` row."""
        return cls(decision_id=r["decision_id"], ts=_when(r["ts"]), strategy=r["strategy"],
                   action=r["action"], params=_json(r["params"]) or {}, reason=r["reason"],
                   context=_json(r["context"]), lessons=_json(r["lessons"]), prompt=r["prompt"])
