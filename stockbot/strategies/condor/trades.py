"""Condor trades in the state store: opened from a fill, closed with an exit price and P&L.

Shared by the entry (a fill it waited for), the manager (a close) and the reconciler (a fill it
found after a restart), so a condor is recorded the same way whoever saw the fill.

Prices follow Alpaca's mleg sign: a net order price is positive for a debit and negative for a
credit; ``credit`` and ``debit`` below are positive amounts per share.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

from stockbot.domain import BrokerOrder, Leg, OrderPurpose, Side, utcnow
from stockbot.options.condor import CENT, CONTRACT_MULTIPLIER, IronCondor, condor_from_symbols, with_fill
from stockbot.store import Store
from stockbot.store_rows import OrderRow, TradeLeg, TradeRow
from stockbot.trading.trades import open_trade

STRATEGY = "condor"


def net_price(order: BrokerOrder) -> Decimal | None:
    """Net fill price per parent unit in mleg sign (debit > 0, credit < 0), or None.

    Computed from the legs' own fills when they are all known (unambiguous), else the parent's
    ``filled_avg_price`` as the broker reports it.
    """
    legs = [leg for leg in order.legs if leg.filled_qty > 0]
    if legs and len(legs) == len(order.legs) and all(leg.filled_avg_price is not None for leg in legs) \
            and order.qty > 0:
        total = Decimal(0)
        for leg in legs:
            ratio = leg.qty / order.qty if leg.qty else Decimal(1)
            sign = 1 if leg.side == "buy" else -1
            total += sign * ratio * leg.filled_avg_price  # type: ignore[operator]
        return total
    return order.filled_avg_price


def signed_legs(legs: Sequence[Leg], qty: Decimal) -> list[TradeLeg]:
    """The signed position each leg opens (short < 0)."""
    return [TradeLeg(leg.symbol, (-1 if leg.side is Side.SELL else 1) * leg.ratio_qty * Decimal(qty)) for leg in legs]


def condor_meta(condor: IronCondor) -> dict[str, Any]:
    return {"underlying": condor.underlying, "expiration": condor.expiration.isoformat(),
            "strikes": {"long_put": condor.long_put_strike, "short_put": condor.short_put_strike,
                        "short_call": condor.short_call_strike, "long_call": condor.long_call_strike},
            "width": condor.width, "credit": condor.credit, "credit_mid": condor.credit_mid,
            "max_loss": condor.max_loss}


def record_open(store: Store, *, structure_id: str, condor: IronCondor, qty: Decimal, credit: Decimal,
                client_order_id: str, opened: datetime | None = None, **extra: Any) -> IronCondor:
    """Record an opened condor (``structure_id`` = the decision id); returns it with its fill."""
    filled = with_fill(condor, credit)
    meta = {**condor_meta(filled), **extra}
    store.record_trade(structure_id=structure_id, strategy=STRATEGY, opened_ts=opened or utcnow(), status="open",
                       entry_client_order_id=client_order_id, qty=Decimal(qty), entry_price=credit,
                       legs=signed_legs(condor.legs, Decimal(qty)), meta=meta)
    store.append_event("trade_opened", {"structure_id": structure_id, "strategy": STRATEGY, "qty": qty,
                                        "credit": credit, "client_order_id": client_order_id,
                                        "max_loss": filled.max_loss})
    return filled


def pnl_of(credit: Decimal, debit: Decimal, qty: Decimal) -> Decimal:
    """Realised $ P&L of a condor opened for ``credit`` and closed for ``debit`` (per share)."""
    return ((credit - debit) * CONTRACT_MULTIPLIER * qty).quantize(CENT)


def record_close(store: Store, trade: TradeRow, *, debit: Decimal | None, client_order_id: str | None,
                 reason: str, method: str, closed: datetime | None = None) -> Decimal | None:
    """Mark ``trade`` closed with its exit debit and P&L (None when the debit is unknown)."""
    credit = trade.entry_price
    pnl = pnl_of(credit, debit, trade.qty) if credit is not None and debit is not None else None
    meta = dict(trade.meta)
    partials = meta.get("partial_closes") or []
    if pnl is not None and partials:  # earlier partial closes count toward the trade's P&L
        parts = [p.get("pnl") for p in partials]
        pnl = None if None in parts else pnl + sum((Decimal(str(p)) for p in parts), Decimal(0))
    meta.update({"close_reason": reason, "close_method": method})
    store.record_trade(structure_id=trade.structure_id, status="closed", closed_ts=closed or utcnow(),
                       exit_client_order_id=client_order_id, exit_price=debit, pnl=pnl, meta=meta)
    store.append_event("trade_closed", {"structure_id": trade.structure_id, "reason": reason, "method": method,
                                        "debit": debit, "pnl": pnl})
    return pnl


def reduce_trade(store: Store, trade: TradeRow, *, closed_qty: Decimal, debit: Decimal | None,
                 client_order_id: str) -> None:
    """A close that filled only ``closed_qty`` of the trade: the rest stays open (legs scaled)."""
    qty = trade.qty
    left = qty - closed_qty
    legs = [TradeLeg(leg.symbol, leg.qty / qty * left) for leg in trade.legs]
    credit = trade.entry_price
    part = pnl_of(credit, debit, closed_qty) if credit is not None and debit is not None else None
    meta = dict(trade.meta)
    meta.setdefault("partial_closes", []).append({"qty": str(closed_qty), "debit": debit, "pnl": part,
                                                 "client_order_id": client_order_id})
    store.record_trade(structure_id=trade.structure_id, qty=left, legs=legs, meta=meta)
    store.append_event("trade_reduced", {"structure_id": trade.structure_id, "closed_qty": closed_qty,
                                         "left": left, "debit": debit, "pnl": part})


def condor_of(trade: TradeRow) -> IronCondor | None:
    """Rebuild the IronCondor of a stored trade (None if its legs are not one condor)."""
    got = condor_from_symbols([leg.symbol for leg in trade.legs], trade.entry_price or Decimal(0))
    return got if isinstance(got, IronCondor) else None


def apply_resolved(store: Store, row: OrderRow, order: BrokerOrder) -> str | None:
    """Book the effect of an order whose fill was found late (reconciliation after a restart).

    An opening condor fill with no trade yet becomes the trade; a closing fill closes its trade.
    Returns what was done (``opened`` / ``closed`` / ``reduced``) or None.
    """
    if order.filled_qty <= 0 or not row.decision_id:
        return None
    structure_id = row.decision_id
    price = net_price(order)
    if row.purpose == OrderPurpose.CONDOR_OPEN:
        if any(t.structure_id == structure_id for t in store.trades()):
            return None
        base = condor_from_symbols([leg["symbol"] for leg in row.intent_legs], Decimal(0))
        if not isinstance(base, IronCondor) or price is None:
            return None
        record_open(store, structure_id=structure_id, condor=base, qty=order.filled_qty, credit=-price,
                    client_order_id=order.client_order_id, opened=order.created_at, recovered=True)
        return "opened"
    if row.purpose == OrderPurpose.CONDOR_CLOSE:
        trade = open_trade(store, structure_id)
        if trade is None:
            return None
        if order.filled_qty < trade.qty:
            reduce_trade(store, trade, closed_qty=order.filled_qty, debit=price, client_order_id=order.client_order_id)
            return "reduced"
        record_close(store, trade, debit=price, client_order_id=order.client_order_id, reason="recovered_fill",
                     method="mleg")
        return "closed"
    return None
