"""The trade book of stock positions: one open trade per symbol and strategy, in the state store.

``structure_id = <strategy>:<symbol>:<decision>`` of the decision that first opened it; its
``legs`` always hold the signed position the strategy owns, so the reconciler's structure check
agrees with the broker. Adds re-average the entry; partial closes accumulate realised P&L in
``meta``; the trade closes with the total P&L when nothing is left (None when any fill price was
unknown: never a made-up number). Every booked order's client id and booked quantity are kept in
``meta.orders``, which makes ``recover_fills`` idempotent: after a crash between a fill and its
booking (or a close that kept filling after we stopped waiting), the next cycle books whatever the
store's orders say was filled beyond what the book holds.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Mapping

from stockbot.domain import OrderPurpose
from stockbot.lessons.guards import CLOSE_POSITION_PURPOSE
from stockbot.store import Store
from stockbot.store_rows import TradeLeg, TradeRow

OPEN_PURPOSE = OrderPurpose.EQUITY_OPEN
# Closes are close_position() calls: the purpose lesson LL-282's guard recognises as such.
CLOSE_PURPOSE = CLOSE_POSITION_PURPOSE


def _add(meta: Mapping[str, Any], client_order_id: str, qty: Decimal) -> dict[str, str]:
    orders = dict(meta.get("orders") or {})
    orders[client_order_id] = str(Decimal(orders.get(client_order_id, "0")) + qty)
    return orders


def booked_quantities(store: Store) -> dict[str, Decimal]:
    """Client order id -> quantity the trade book has booked from it (all trades, all strategies)."""
    out: dict[str, Decimal] = {}
    for t in store.trades():
        for cid, qty in (t.meta.get("orders") or {}).items():
            out[cid] = out.get(cid, Decimal(0)) + Decimal(str(qty))
    return out


def open_trades(store: Store, strategy: str) -> dict[str, TradeRow]:
    """Open trades of ``strategy`` by symbol."""
    out = {}
    for t in store.trades(status="open"):
        if t.strategy == strategy and t.meta.get("symbol"):
            out[t.meta["symbol"]] = t
    return out


def book_open(store: Store, *, strategy: str, symbol: str, side: str, qty: Decimal, price: Decimal | None,
              decision_id: str, version: str, client_order_id: str, now: datetime) -> None:
    """Add a fill to the symbol's open trade (or open one)."""
    sign = Decimal(1) if side == "long" else Decimal(-1)
    trade = open_trades(store, strategy).get(symbol)
    if trade is None:
        store.record_trade(structure_id=f"{strategy}:{symbol}:{decision_id}", strategy=strategy, opened_ts=now,
                           status="open", entry_client_order_id=client_order_id, qty=qty, entry_price=price,
                           legs=[TradeLeg(symbol, sign * qty)],
                           meta={"symbol": symbol, "side": side, "strategy_version": version,
                                 "decision_id": decision_id, "realized_pnl": "0",
                                 "orders": {client_order_id: str(qty)}})
        return
    meta = dict(trade.meta)
    if meta.get("side") != side:
        # The executor never opens against a position it still holds; the book must not net sides.
        raise ValueError(f"{symbol}: cannot add a {side} fill to an open {meta.get('side')} trade")
    old_qty, old_px = trade.qty, trade.entry_price
    new_qty = old_qty + qty
    avg = (old_qty * old_px + qty * price) / new_qty if old_px is not None and price is not None else None
    meta.update(last_add=decision_id, strategy_version=version, orders=_add(meta, client_order_id, qty))
    store.record_trade(structure_id=trade.structure_id, qty=new_qty, entry_price=avg,
                       legs=[TradeLeg(symbol, sign * new_qty)], meta=meta)


def book_close(store: Store, trade: TradeRow, *, qty: Decimal, price: Decimal | None,
               client_order_id: str | None, reason: str, now: datetime) -> Decimal | None:
    """Book a (partial) close; returns the realised P&L of this close (None if a price is unknown)."""
    meta = dict(trade.meta)
    side, symbol = meta.get("side"), str(meta.get("symbol") or "")
    held, entry = trade.qty, trade.entry_price
    pnl = None if entry is None or price is None else (price - entry) * qty * (1 if side == "long" else -1)
    prev = meta.get("realized_pnl")  # None once any fill price was unknown: the total is unknown
    realized = None if prev is None or pnl is None else Decimal(str(prev)) + pnl
    meta["realized_pnl"] = None if realized is None else str(realized)
    if client_order_id:
        meta["orders"] = _add(meta, client_order_id, qty)
    left = held - qty
    if left <= 0:
        store.record_trade(structure_id=trade.structure_id, status="closed", closed_ts=now, exit_price=price,
                           exit_client_order_id=client_order_id, pnl=realized, qty=held,
                           legs=trade.legs, meta={**meta, "close_reason": reason})
    else:
        sign = Decimal(1) if side == "long" else Decimal(-1)
        store.record_trade(structure_id=trade.structure_id, qty=left,
                           legs=[TradeLeg(symbol, sign * left)], meta=meta)
    return pnl


def recover_fills(store: Store, strategy: str, *, version: str, now: datetime) -> list[str]:
    """Book every filled quantity of this strategy's orders that the trade book has not seen;
    returns the client ids booked.

    Opens (``equity_open``) become or extend trades; closes (``close_position`` on a symbol with an
    open trade) reduce or close them. Only what was filled beyond the booked quantity is booked."""
    booked = booked_quantities(store)
    done = []
    for row in store.orders():
        cid = row.client_order_id
        new = row.filled_qty - booked.get(cid, Decimal(0))
        if new <= 0 or not row.symbol or row.purpose not in (OPEN_PURPOSE, CLOSE_PURPOSE):
            continue
        price = row.filled_avg_price
        trade = open_trades(store, strategy).get(row.symbol)
        if row.purpose == OPEN_PURPOSE:
            side = "long" if row.intent_side == "buy" else "short"
            if trade is not None and trade.meta.get("side") != side:
                continue  # an open against a held opposite side: never netted in the book
            book_open(store, strategy=strategy, symbol=row.symbol, side=side, qty=new, price=price,
                      decision_id=row.decision_id or "recovered", version=version, client_order_id=cid,
                      now=now)
        elif trade is not None:
            book_close(store, trade, qty=min(new, trade.qty), price=price, client_order_id=cid,
                       reason="recovered fill", now=now)
        else:
            continue
        done.append(cid)
    if done:
        store.append_event("equity_fills_recovered", {"client_order_ids": done})
    return done
