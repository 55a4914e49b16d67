"""Executes ``assignment.plan`` inside a reconciliation run (rules in ``trading/assignment.py``).

Reads the option activities newer than the last one booked (one request; none while no trade is
open and no delivered stock is owed a close), and the account's closed orders only when a
structure is missing a leg (to tell Alpaca's expiry-day liquidation from an orphan). Books each
activity once as an ``option_activity`` event, captures a lesson and alerts, closes what the plan
says through the reconciler's own shorts-first ``close_position()`` path, and closes the trades.
A broker that cannot be read here leaves the old behaviour in place (the orphan plan runs on
everything) and is reported; it never stops the reconciliation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog

from stockbot.broker import activities as broker_activities
from stockbot.broker.errors import BrokerError
from stockbot.domain import BrokerOrder, Position
from stockbot.trading import assignment
from stockbot.trading.deps import Notifier
from stockbot.trading.reconcile import ClosePosition, StructureView, structures_from_trades
from stockbot.trading.trades import mark_closed, open_trade
from stockbot.lessons.failure import Failure
from stockbot.lessons.guards import CLOSE_POSITION_PURPOSE
from stockbot.options.occ import is_occ_symbol
from stockbot.store import Store
from stockbot.store_rows import TradeRow



class ReconcilerLike(Protocol):
    """What this module uses of ``trading.reconciler.Reconciler`` (which imports this module: a
    protocol instead of an import back)."""

    store: Store
    broker: Any
    notifier: Notifier

    now: Callable[[], datetime]

    async def _close(self, actions: tuple[ClosePosition, ...]) -> tuple[list[Any], list[str]]: ...

log = structlog.get_logger(__name__)
ACTIVITY_EVENT = "option_activity"
LIQUIDATION_EVENT = "broker_liquidation"
EMPTY = assignment.AssignmentPlan()
HISTORY = 100  # closed trades that may still own an activity (the orphan plan closed them meanwhile)
OPTION_MULTIPLIER = Decimal(100)  # shares per contract: a credit of 1.50 is $150 per condor
_LESSON_KIND = {"OPASN": "option_assigned", "OPEXC": "option_exercised", "OPEXP": "carried_to_expiry"}


def _booked(store: Store) -> list[assignment.Booking]:
    return [assignment.Booking.from_payload(e.payload) for e in store.events(kind=ACTIVITY_EVENT)]


def _closed_fills(store: Store, structure_ids: set[str]) -> dict[str, Decimal]:
    """Signed stock quantity our closes of delivered stock filled (a sell of long stock < 0)."""
    out: dict[str, Decimal] = {}
    for row in store.orders():
        if row.purpose != CLOSE_POSITION_PURPOSE or row.decision_id not in structure_ids:
            continue
        sym = row.symbol or ""
        if not sym or is_occ_symbol(sym):
            continue
        filled = row.filled_qty
        side = row.intent_side
        out[sym] = out.get(sym, Decimal(0)) + (-filled if side == "sell" else filled)
    return out


async def _foreign_fills(rec: ReconcilerLike, structures: Sequence[StructureView],
                         positions: Sequence[Position]) -> list[BrokerOrder]:
    held = {p.symbol: p.qty for p in positions}
    if not any(held.get(s, 0) != q for st in structures for s, q in st.legs.items() if is_occ_symbol(s)):
        return []
    known = {r.client_order_id for r in rec.store.orders()}
    out = []
    for order in await rec.broker.orders(status="closed"):
        for o in (order.legs or (order,)):
            if order.client_order_id not in known and o.filled_qty > 0:
                out.append(o)
    return out


async def handle(rec: ReconcilerLike, positions: Sequence[Position],
                 open_orders: Sequence[BrokerOrder]) -> assignment.AssignmentPlan:
    """Book and act on assignments, exercises, expiries and broker liquidations of our structures;
    returns the plan (``assignment.without_handled`` keeps its business out of the orphan plan)."""
    store = rec.store
    if not broker_activities.supported(rec.broker):
        return EMPTY
    trades = store.trades(status="open")
    booked = _booked(store)
    ours = {b.structure_id for b in booked if b.structure_id}
    fills = _closed_fills(store, ours)
    stock_held = any(not is_occ_symbol(pos.symbol) for pos in positions)
    if not trades and not stock_held and not assignment.stock_owed(booked, fills):
        return EMPTY  # nothing can be assigned and no stock can be ours to close: no request
    structures = structures_from_trades(trades)
    history = structures_from_trades(store.trades(status="closed")[-HISTORY:])
    cursor = max((i for b in booked for i in b.ids()), default=None)  # ids sort by time: read only newer ones
    try:
        new = await broker_activities.option_activities(rec.broker, cursor)
        foreign = await _foreign_fills(rec, structures, positions)
    except BrokerError as exc:  # the orphan plan runs on everything this time; the next run catches up
        await rec.notifier.alert("reconcile_failed", f"cannot read option activities: {exc}")
        await rec.notifier.failure(Failure.from_exception("engine.assignment", exc, job="reconcile",
                                                          kind="broker_error"))
        return EMPTY
    p = assignment.plan(positions, open_orders, structures, new, booked, fills, foreign, history)
    if p.idle:
        return p
    for b in p.book:
        store.append_event(ACTIVITY_EVENT, b.payload())
        if b.structure_id and b.type != "OPTRD":
            await _lesson(rec, b)
    seen = {e.payload.get("order_id") for e in store.events(kind=LIQUIDATION_EVENT)}
    fresh = [i for i in p.liquidations if i.order_id not in seen]  # booked once, alerted once
    for item in fresh:
        store.append_event(LIQUIDATION_EVENT, {"structure_id": item.structure_id, "symbol": item.symbol,
                                               "qty": str(item.qty), "order_id": item.order_id})
    if fresh:
        sids = sorted({i.structure_id for i in fresh})
        await rec.notifier.alert("broker_liquidation", f"Alpaca liquidated expiring legs of {', '.join(sids)}")
        for sid in sids:
            await rec.notifier.failure(Failure("broker_liquidation", "engine.assignment",
                                               f"structure {sid}: expiring legs closed by the broker",
                                               {"reason": "expiry-day liquidation: position not coverable"},
                                               strategy="condor"))
    closed, errors = await rec._close(p.close)  # noqa: SLF001 - the reconciler's shorts-first path
    gone = {c.symbol for c in closed if c.status == "filled"}
    held = {pos.symbol for pos in positions if pos.qty != 0}
    for sid, reason in p.finish:
        trade = open_trade(store, sid)
        legs = {leg.symbol for leg in trade.legs} if trade is not None else set()
        # closed only once no leg is left: a close that failed or still works keeps the trade open
        # (and handled here, not by the orphan plan) until a later run sees the leg gone
        if trade is not None and not ((legs & held) - gone):
            # every leg expired worthless and nothing was closed: the exit cost nothing, P&L = the credit
            worthless = reason == "expired" and not any(c.structure_id == sid for c in closed)
            if worthless and trade.entry_price is not None:
                _close_worthless(store, trade, rec.now())
            else:
                mark_closed(store, trade, reason=reason, method="assignment", closed=rec.now())
    store.append_event("assignment_handled", {
        "booked": [b.activity_id for b in p.book], "closed": [(c.symbol, c.status) for c in closed],
        "finished": [list(f) for f in p.finish], "explained": {k: str(v) for k, v in p.explained.items()},
        "errors": errors})
    log.info("assignment.handled", booked=len(p.book), closed=[c.symbol for c in closed], finished=p.finish)
    return p


def _close_worthless(store: Store, trade: TradeRow, closed: datetime) -> None:
    """Close a trade whose every leg expired worthless: exit price 0, P&L = the whole credit."""
    credit, qty = trade.entry_price or Decimal(0), trade.qty
    pnl = credit * qty * OPTION_MULTIPLIER
    meta = {**trade.meta, "close_reason": "expired", "close_method": "assignment"}
    store.record_trade(structure_id=trade.structure_id, status="closed", closed_ts=closed,
                       exit_client_order_id=None, exit_price=Decimal(0), pnl=pnl, meta=meta)
    store.append_event("trade_closed", {"structure_id": trade.structure_id, "reason": "expired",
                                        "method": "assignment", "debit": Decimal(0), "pnl": pnl})


async def _lesson(rec: ReconcilerLike, b: assignment.Booking) -> None:
    what = {"OPASN": "assigned", "OPEXC": "exercised", "OPEXP": "expired"}[b.type]
    stock = f"; {b.stock_qty:+} {b.stock_symbol} at {b.stock_price} delivered, closed at market" if b.stock_symbol else ""
    message = f"{b.symbol} of {b.structure_id} {what}{stock}"
    await rec.notifier.alert("assignment", message)
    await rec.notifier.failure(Failure(_LESSON_KIND[b.type], "engine.assignment", message,
                                       {"reason": f"option {what}", "position_side": "short" if b.qty > 0 else "long"},
                                       strategy="condor", symbol=b.symbol))
