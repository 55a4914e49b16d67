"""Assignment, exercise, expiry and broker liquidation of our structures: a pure plan.

The rule (README, "Operations: assignment and expiry"):

1. Every option activity (``OPEXC`` exercise, ``OPASN`` assignment, ``OPEXP`` expiry) on a leg of
   an open structure is booked once (by activity id) against that structure, with the stock its
   paired ``OPTRD`` delivered.
2. Such a structure is finished: its remaining legs are closed through ``close_position()``,
   shorts first (house rule LL-221/LL-282), and the trade is closed with the reason
   ``assigned`` / ``exercised`` / ``expired`` once no leg is left.
3. **The stock is closed, never kept or hedged**: stockbot never holds stock it did not ask for.
   The stock still owed by booked deliveries (delivered minus what our closes of it filled) is
   closed at market with ``close_position()`` (at most what the account holds, same sign), unless
   an order on that symbol is already working.
4. Legs of a structure that vanished through filled orders stockbot never placed, on the legs'
   expiration date, are Alpaca's expiry-day liquidation: booked as ``broker_liquidation``, the
   rest of the structure is finished as in 2, and nothing is reported as an orphan.
5. The stock explained by 3 and the structures handled here are kept out of the orphan/external
   plan (``reconcile.plan``), so they are neither adopted as external nor closed twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from stockbot.broker.activities import OptionActivity
from stockbot.domain import BrokerOrder, Position
from stockbot.trading.reconcile import ClosePosition, StructureView
from stockbot.options.occ import is_occ_symbol, parse_occ
from stockbot.store_rows import TradeRow

ZERO = Decimal(0)
REASONS = {"OPASN": "assigned", "OPEXC": "exercised", "OPEXP": "expired", "LIQ": "broker_liquidation"}
_PRECEDENCE = ("OPASN", "OPEXC", "LIQ", "OPEXP")


@dataclass(frozen=True, slots=True)
class Booking:
    """One option activity booked against a structure (None: not ours) and the stock it moved."""

    activity_id: str
    type: str
    symbol: str
    qty: Decimal
    structure_id: str | None
    stock_symbol: str | None = None
    stock_qty: Decimal = ZERO
    stock_price: Decimal | None = None
    group_id: str = ""
    stock_activity_id: str | None = None  # the OPTRD booked with it

    def payload(self) -> dict[str, Any]:
        return {"activity_id": self.activity_id, "type": self.type, "symbol": self.symbol, "qty": str(self.qty),
                "structure_id": self.structure_id, "stock_symbol": self.stock_symbol,
                "stock_qty": str(self.stock_qty),
                "stock_price": None if self.stock_price is None else str(self.stock_price),
                "group_id": self.group_id, "stock_activity_id": self.stock_activity_id}

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Booking:
        return cls(p["activity_id"], p["type"], p["symbol"], Decimal(p["qty"]), p.get("structure_id"),
                   p.get("stock_symbol"), Decimal(p.get("stock_qty") or 0),
                   Decimal(p["stock_price"]) if p.get("stock_price") else None, p.get("group_id") or "",
                   p.get("stock_activity_id"))

    def ids(self) -> tuple[str, ...]:
        return (self.activity_id,) + ((self.stock_activity_id,) if self.stock_activity_id else ())


@dataclass(frozen=True, slots=True)
class Liquidation:
    """Legs of a structure the broker closed itself (orders we never placed)."""

    structure_id: str
    symbol: str
    qty: Decimal
    order_id: str


@dataclass(frozen=True, slots=True)
class AssignmentPlan:
    book: tuple[Booking, ...] = ()
    liquidations: tuple[Liquidation, ...] = ()
    close: tuple[ClosePosition, ...] = ()  # shorts first
    finish: tuple[tuple[str, str], ...] = ()  # (structure_id, reason): trades to close once their closes fill
    handled: frozenset[str] = frozenset()  # structures kept out of reconcile.plan this run
    explained: Mapping[str, Decimal] = field(default_factory=dict)  # stock symbol -> signed qty we owe a close
    legs: frozenset[str] = frozenset()  # option legs of the handled structures

    @property
    def idle(self) -> bool:
        return not (self.book or self.liquidations or self.close or self.finish or self.handled or self.explained)


def _claim(symbol: str, structures: Sequence[StructureView]) -> str | None:
    return next((st.structure_id for st in structures if symbol in st.legs), None)


def bookings(new: Iterable[OptionActivity], structures: Sequence[StructureView],
             booked: Sequence[Booking] = (), history: Sequence[StructureView] = ()) -> list[Booking]:
    """Option activities -> bookings. An OPTRD attaches its stock to the event of its group; one
    whose event was booked in an earlier run (the two arrived apart) is booked on its own against
    that event's structure."""
    new = list(new)
    trades = {a.group_id: a for a in new if a.type == "OPTRD" and a.group_id}
    events = {a.group_id for a in new if a.type != "OPTRD" and a.group_id}
    earlier = {b.group_id: b for b in booked if b.group_id}
    out = []
    for a in new:
        if a.type == "OPTRD":
            first = earlier.get(a.group_id) if a.group_id not in events else None
            if first is not None:
                out.append(Booking(a.id, "OPTRD", a.symbol, a.qty, first.structure_id, a.symbol, a.qty, a.price,
                                   a.group_id))
            continue
        t = trades.get(a.group_id) if a.group_id else None
        owner = _claim(a.symbol, structures) or _claim(a.symbol, list(reversed(history)))
        out.append(Booking(a.id, a.type, a.symbol, a.qty, owner,
                           t.symbol if t else None, t.qty if t else ZERO, t.price if t else None, a.group_id,
                           t.id if t else None))
    return out


def stock_owed(booked: Iterable[Booking], closed_fills: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Stock delivered to our structures, less what our own closes of it filled (signed)."""
    owed: dict[str, Decimal] = defaultdict(Decimal)
    for b in booked:
        if b.structure_id and b.stock_symbol and b.stock_qty:
            owed[b.stock_symbol] += b.stock_qty
    for sym, qty in closed_fills.items():
        owed[sym] += qty
    return {s: q for s, q in owed.items() if q != 0}


def liquidations(structures: Sequence[StructureView], held: Mapping[str, Decimal],
                 foreign_fills: Sequence[BrokerOrder], explained: set[str]) -> list[Liquidation]:
    """Missing legs explained by filled orders we never placed, on the leg's expiration date
    (``explained``: legs an option activity already accounts for)."""
    out = []
    for st in structures:
        for sym, qty in st.legs.items():
            if not is_occ_symbol(sym) or held.get(sym, ZERO) == qty or sym in explained:
                continue
            for order in foreign_fills:
                if order.symbol == sym and order.filled_qty > 0 and _ny_date(order) == parse_occ(sym).expiration:
                    out.append(Liquidation(st.structure_id, sym, order.filled_qty, order.id))
                    break
    return out


def _ny_date(order: BrokerOrder) -> date:
    from zoneinfo import ZoneInfo

    return order.created_at.astimezone(ZoneInfo("America/New_York")).date()


def plan(positions: Sequence[Position], open_orders: Sequence[BrokerOrder], structures: Sequence[StructureView],
         new: Sequence[OptionActivity], booked: Sequence[Booking], closed_fills: Mapping[str, Decimal],
         foreign_fills: Sequence[BrokerOrder] = (), history: Sequence[StructureView] = ()) -> AssignmentPlan:
    """Decide what assignment handling must do this run. No I/O: the handler executes the plan.

    ``booked``: bookings from earlier runs; ``closed_fills``: stock symbol -> signed quantity our
    closes of delivered stock filled; ``foreign_fills``: filled orders on our legs that the store
    does not know (candidates for broker liquidation); ``history``: recently closed structures
    (oldest first), which still own their contracts' activities: a structure the orphan plan
    closed while the activities could not be read still gets its delivered stock closed."""
    held = {p.symbol: p.qty for p in positions}
    working = {o.symbol for o in open_orders if o.symbol} | {leg.symbol for o in open_orders for leg in o.legs}
    known = {i for b in booked for i in b.ids()}
    book = bookings((a for a in new if a.id not in known), structures, booked, history)
    every = [*booked, *book]
    kinds: dict[str, set[str]] = defaultdict(set)
    for b in every:
        if b.structure_id and b.type != "OPTRD":
            kinds[b.structure_id].add(b.type)
    open_ids = {st.structure_id for st in structures}
    liq = liquidations(structures, held, foreign_fills, {b.symbol for b in every if b.type != "OPTRD"})
    for item in liq:
        kinds[item.structure_id].add("LIQ")

    close: list[ClosePosition] = []
    finish: list[tuple[str, str]] = []
    for st in structures:
        if st.structure_id not in kinds:
            continue
        reason = REASONS[next(k for k in _PRECEDENCE if k in kinds[st.structure_id])]
        remaining = {sym: held[sym] for sym in st.legs if held.get(sym, ZERO) != 0 and is_occ_symbol(sym)}
        for sym, qty in remaining.items():
            if sym in working:
                continue  # a close is already working: never a second one
            close.append(ClosePosition(sym, min(abs(qty), abs(st.legs[sym])),
                                       f"structure {st.structure_id} {reason}: remaining leg", st.structure_id,
                                       short=qty < 0))
        finish.append((st.structure_id, reason))

    explained: dict[str, Decimal] = {}
    last_structure: dict[str, str] = {}
    for b in every:
        if b.structure_id and b.stock_symbol:
            last_structure[b.stock_symbol] = b.structure_id
    for sym, owed in stock_owed(every, closed_fills).items():
        have = held.get(sym, ZERO)
        if have == 0 or (have > 0) != (owed > 0):
            continue
        qty = min(abs(owed), abs(have))
        explained[sym] = qty if owed > 0 else -qty
        if sym not in working:
            close.append(ClosePosition(sym, qty, f"stock delivered by assignment/exercise of "
                                                 f"{last_structure.get(sym)} (never held)",
                                       last_structure.get(sym), short=owed < 0))
    close.sort(key=lambda a: (not a.short, a.symbol))
    handled = frozenset(sid for sid in kinds if sid in open_ids)
    legs = frozenset(sym for st in structures if st.structure_id in handled for sym in st.legs if is_occ_symbol(sym))
    return AssignmentPlan(tuple(book), tuple(liq), tuple(close), tuple(finish), handled, explained, legs)


def without_handled(positions: Sequence[Position], trades: Sequence[TradeRow], plan_: AssignmentPlan
                    ) -> tuple[list[Position], list[TradeRow]]:
    """Positions and open trades for ``reconcile.plan``: handled structures and their legs, and
    the stock we owe a close of, taken out (they are this module's business)."""
    from dataclasses import replace

    out = []
    for p in positions:
        if p.symbol in plan_.legs:
            continue
        owed = plan_.explained.get(p.symbol)
        if owed:
            left = p.qty - owed
            if left == 0:
                continue
            p = replace(p, qty=left)
        out.append(p)
    return out, [t for t in trades if t.structure_id not in plan_.handled]
