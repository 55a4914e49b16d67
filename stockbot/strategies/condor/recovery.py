"""Condor fills found late: the sweep the reconciler runs for a crash between a fill and its booking."""

from __future__ import annotations

from typing import Mapping

from stockbot.domain import BrokerOrder, OrderPurpose
from stockbot.store import Store
from stockbot.store_rows import OrderRow, TradeRow
from stockbot.strategies.condor.trades import apply_resolved
from stockbot.trading.port import Broker


def _filled_some(row: OrderRow) -> bool:
    """An order the store knows ended with at least part of it filled."""
    if row.status == "filled":
        return True
    return row.status in ("canceled", "expired") and row.filled_qty > 0


def _unbooked(row: OrderRow, trades: Mapping[str, TradeRow]) -> bool:
    """Is this filled condor order's effect missing from ``trades`` (structure id -> trade)?"""
    trade = trades.get(row.decision_id or "")
    if row.purpose == OrderPurpose.CONDOR_OPEN:
        return trade is None
    if row.purpose == OrderPurpose.CONDOR_CLOSE:
        if trade is None or trade.status != "open":
            return False
        partials = trade.meta.get("partial_closes") or []
        return all(p.get("client_order_id") != row.client_order_id for p in partials)
    return False


async def book_unbooked_fills(store: Store, broker: Broker) -> list[tuple[str, str]]:
    """Condor fills the store acknowledged but never booked (a crash between the order update
    and ``record_open`` / ``record_close``), oldest first so an entry is booked before its exit.

    An entry is booked once per structure id. A close is booked only while its trade is still
    open and no partial close of that trade carries its client id, so a partial close that was
    already applied is never counted twice. Without this, the restart would find the legs gone
    and call the trade "closed elsewhere" with no P&L."""
    rows = sorted((r for status in ("filled", "canceled", "expired") for r in store.orders(status=status)
                   if r.decision_id and _filled_some(r)), key=lambda r: r.created_ts)
    trades = {t.structure_id: t for t in store.trades()}  # read once: this runs every cycle
    booked = []
    for row in rows:
        if not _unbooked(row, trades):
            continue
        order = await broker.order_by_client_id(row.client_order_id)
        if order is None:
            continue
        effect = apply_resolved(store, row, order)
        if effect and row.decision_id:
            booked.append((row.decision_id, effect))
            trades = {t.structure_id: t for t in store.trades()}
    return booked


class CondorBooker:
    """The condor strategy's ``FillBooker``: what a late fill of a condor order means."""

    def __init__(self, store: Store, broker: Broker):
        self.store = store
        self.broker = broker

    def book_late_fill(self, row: OrderRow, order: BrokerOrder) -> str | None:
        return apply_resolved(self.store, row, order)

    async def book_unbooked(self) -> list[tuple[str, str]]:
        return await book_unbooked_fills(self.store, self.broker)
