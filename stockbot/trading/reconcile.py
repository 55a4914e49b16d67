"""Reconciliation decisions: broker snapshot + store snapshot -> actions. Pure and table-tested.

Rules, in order of precedence:
1. Orders the store has as ``submitting``/``unknown`` are resolved by client-id lookup first, and
   the symbols they touch are left alone this cycle (they may be our own fresh fills).
2. A structure we opened whose legs are not all at the broker with the expected quantities is an
   orphan: every remaining leg is closed through ``close_position()``, shorts before longs
   (lessons LL-221 / LL-282). Structures sharing a contract are judged on the summed quantity.
   A structure with no legs left at all was closed elsewhere.
3. A position nobody claims: a short option with no long option of the same underlying, right and
   expiration protecting it is a naked short (undefined risk) and is closed; anything else is a
   manual trade and is adopted as external and reported, never closed.
4. Open orders with client ids the store does not know are adopted as external and reported.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping, Sequence

from stockbot.domain import AssetClass, BrokerOrder, Position
from stockbot.options.occ import is_occ_symbol, parse_occ
from stockbot.store_rows import TradeRow


@dataclass(frozen=True, slots=True)
class StructureView:
    """An open structure from the store: leg symbol -> expected signed quantity."""

    structure_id: str
    legs: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class PendingOrder:
    client_order_id: str
    symbols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClosePosition:
    symbol: str
    qty: Decimal  # absolute quantity to close
    reason: str
    structure_id: str | None = None
    short: bool = False


@dataclass(frozen=True, slots=True)
class AdoptExternal:
    symbol: str
    kind: str  # position | order
    detail: str


@dataclass(frozen=True, slots=True)
class ResolveOrder:
    client_order_id: str


@dataclass(frozen=True, slots=True)
class MarkStructureClosed:
    structure_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    resolve: tuple[ResolveOrder, ...] = ()
    close: tuple[ClosePosition, ...] = ()  # already ordered: shorts first
    closed_structures: tuple[MarkStructureClosed, ...] = ()
    adopt: tuple[AdoptExternal, ...] = ()
    orphans: tuple[str, ...] = field(default=())  # structure ids / symbols found orphaned

    @property
    def clean(self) -> bool:
        return not (self.resolve or self.close or self.closed_structures or self.adopt)


def _is_naked_short(pos: Position, unclaimed: Sequence[Position]) -> bool:
    if pos.qty >= 0 or not is_occ_symbol(pos.symbol):
        return False
    c = parse_occ(pos.symbol)
    cover = Decimal(0)
    for other in unclaimed:
        if other.qty <= 0 or not is_occ_symbol(other.symbol):
            continue
        o = parse_occ(other.symbol)
        if (o.underlying, o.right, o.expiration) == (c.underlying, c.right, c.expiration):
            cover += other.qty
    return cover < -pos.qty


def plan(positions: Sequence[Position], open_orders: Sequence[BrokerOrder], structures: Sequence[StructureView],
         pending: Sequence[PendingOrder], known_client_ids: set[str]) -> ReconcilePlan:
    """Decide what reconciliation must do. No I/O: the caller executes the plan."""
    held = {p.symbol: p for p in positions}
    busy = {s for p in pending for s in p.symbols}
    resolve = tuple(ResolveOrder(p.client_order_id) for p in pending)
    close: list[ClosePosition] = []
    closed: list[MarkStructureClosed] = []
    orphans: list[str] = []
    claimed: set[str] = set()

    # Structures may share a contract (two condors with one common strike): the broker holds the
    # sum, so a leg is judged against the total every open structure expects of that symbol.
    active = [st for st in structures if not any(sym in busy for sym in st.legs)]
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for st in structures:
        claimed.update(st.legs)
    for st in active:
        for sym, qty in st.legs.items():
            expected[sym] += qty
    short_of_sum = {sym for sym, qty in expected.items() if (held[sym].qty if sym in held else Decimal(0)) != qty}
    closing: dict[str, ClosePosition] = {}
    for st in active:
        present = {sym: held[sym].qty for sym in st.legs if sym in held}
        if not present:
            closed.append(MarkStructureClosed(st.structure_id, "no legs left at the broker"))
            continue
        if not short_of_sum & set(st.legs):
            continue
        orphans.append(st.structure_id)
        for sym, qty in present.items():
            closing.setdefault(sym, ClosePosition(sym, abs(qty), f"structure {st.structure_id} incomplete (orphan leg)",
                                                  st.structure_id, short=qty < 0))
    close.extend(closing.values())

    unclaimed = [p for p in positions if p.symbol not in claimed and p.symbol not in busy]
    adopt: list[AdoptExternal] = []
    for pos in unclaimed:
        if _is_naked_short(pos, unclaimed):
            orphans.append(pos.symbol)
            close.append(ClosePosition(pos.symbol, abs(pos.qty), "naked short option with no protective leg",
                                       None, short=True))
        else:
            kind = "option" if pos.asset_class is AssetClass.OPTION or is_occ_symbol(pos.symbol) else "stock"
            adopt.append(AdoptExternal(pos.symbol, "position", f"external {kind} position qty {pos.qty}"))

    for order in open_orders:
        if order.client_order_id not in known_client_ids:
            adopt.append(AdoptExternal(order.symbol or order.id, "order",
                                       f"external open order {order.client_order_id} ({order.status})"))

    # Shorts first: closing a long wing before its short would leave the short naked.
    close.sort(key=lambda a: (not a.short, a.symbol))
    return ReconcilePlan(resolve=resolve, close=tuple(close), closed_structures=tuple(closed),
                         adopt=tuple(adopt), orphans=tuple(orphans))


def structures_from_trades(trades: Sequence[TradeRow]) -> list[StructureView]:
    """Open trades from the store -> StructureView (each leg's signed qty)."""
    out = []
    for t in trades:
        legs: dict[str, Decimal] = defaultdict(Decimal)
        for leg in t.legs:
            legs[leg.symbol] += leg.qty
        out.append(StructureView(t.structure_id, dict(legs)))
    return out
