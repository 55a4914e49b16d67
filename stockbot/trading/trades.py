"""Trades in the state store as the core sees them, whatever the strategy that opened them."""

from __future__ import annotations

from datetime import datetime
from stockbot.store import Store
from stockbot.store_rows import TradeRow


def open_trade(store: Store, structure_id: str) -> TradeRow | None:
    """The open trade with this structure id, or None."""
    for t in store.trades(status="open"):
        if t.structure_id == structure_id:
            return t
    return None


def mark_closed(store: Store, trade: TradeRow, *, reason: str, method: str, closed: datetime) -> None:
    """Close ``trade`` whose exit price is unknown (its legs left the account without an order of
    ours: closed elsewhere, or closed as orphans): no P&L is invented."""
    meta = {**trade.meta, "close_reason": reason, "close_method": method}
    store.record_trade(structure_id=trade.structure_id, status="closed", closed_ts=closed,
                       exit_client_order_id=None, exit_price=None, pnl=None, meta=meta)
    store.append_event("trade_closed", {"structure_id": trade.structure_id, "reason": reason, "method": method,
                                        "debit": None, "pnl": None})
