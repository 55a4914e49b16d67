"""Idempotent order submission: the client_order_id is stored before the POST.

Sequence for every order:
1. order shape check (a multi-leg options order must be one ``mleg`` order: lesson LL-221);
2. ``store.record_order_intent`` (status ``submitting``) — durable before anything leaves;
3. POST;
4. on an ambiguous outcome (timeout, 5xx, 504, connection reset, duplicate client id) look the
   order up by client_order_id, a few times; never re-send the same intent blindly.

If the lookup proves the broker never received the order, the row becomes ``not_received``; a
later attempt uses a new client id (attempt + 1), so two live orders can never share one intent.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Protocol

from stockbot.broker.errors import AmbiguousSubmitError, BrokerError, RejectedError
from stockbot.domain import BrokerOrder, OrderIntent
from stockbot.risk.gate import order_shape_denial
from stockbot.store import Store
from stockbot.store_rows import OrderRow

MAX_CLIENT_ID = 48  # Alpaca allows 128; short ids keep logs and the dashboard readable


class OrderBroker(Protocol):
    async def submit(self, intent: OrderIntent) -> BrokerOrder: ...
    async def order_by_client_id(self, client_order_id: str) -> BrokerOrder | None: ...


class UnresolvedOrderError(BrokerError):
    """The broker's state of an order is unknown after every lookup: trading must pause.

    Caller: retry (reconciliation, before anything new is sent).
    """


class StructureRefused(RejectedError):
    """The order is not allowed to exist (e.g. multi-leg options not sent as one mleg order).

    Caller: skip (the order is never sent).
    """


def make_client_order_id(account: str | None, decision_id: str, purpose: str, attempt: int) -> str:
    """Deterministic id from (account, decision, purpose, attempt): the same intent -> the same id."""
    raw = f"{account or 'default'}-{decision_id}-{purpose}-{attempt}"
    if len(raw) <= MAX_CLIENT_ID:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return f"{raw[: MAX_CLIENT_ID - 17]}-{digest}"


class OrderExecutor:
    """Sends orders for one account so that none is lost or duplicated across faults and crashes."""

    def __init__(self, broker: OrderBroker, store: Store, *, lookup_attempts: int = 4,
                 lookup_delay_s: float = 0.5):
        self.broker = broker
        self.store = store
        self.lookup_attempts = lookup_attempts
        self.lookup_delay_s = lookup_delay_s

    async def submit(self, intent: OrderIntent) -> BrokerOrder:
        """Record, send and confirm one order; returns the broker's order.

        Raises StructureRefused / RejectedError (recorded as ``rejected``) or UnresolvedOrderError.
        """
        denied = order_shape_denial(intent)  # the gate ran already; this guards the last step too
        if denied is not None:
            self.store.append_event("order_refused", {"client_order_id": intent.client_order_id,
                                                      "reason": denied.reason, "rule": denied.rule})
            raise StructureRefused(denied.reason)
        self.store.record_order_intent(intent)
        try:
            order = await self.broker.submit(intent)
        except AmbiguousSubmitError as exc:
            self.store.append_event("order_ambiguous", {"client_order_id": intent.client_order_id,
                                                        "error": str(exc)})
            order = await self.resolve(intent.client_order_id)
        except RejectedError as exc:
            self.store.update_order(intent.client_order_id, status="rejected",
                                    raw={"error": str(exc), "code": exc.code, "status": exc.status})
            raise
        self.record(order)
        return order

    async def resolve(self, client_order_id: str) -> BrokerOrder:
        """Find out what happened to a submitted order by its client id (never re-sends)."""
        last_error: Exception | None = None
        for attempt in range(self.lookup_attempts):
            try:
                found = await self.broker.order_by_client_id(client_order_id)
            except BrokerError as exc:
                last_error = exc
            else:
                if found is not None:
                    self.record(found)
                    return found
                if attempt == self.lookup_attempts - 1:
                    self.store.update_order(client_order_id, status="not_received")
                    raise RejectedError(f"order {client_order_id} never reached the broker")
            await asyncio.sleep(self.lookup_delay_s * (attempt + 1))
        self.store.update_order(client_order_id, status="unknown")
        raise UnresolvedOrderError(f"order {client_order_id} unresolved: {last_error}")

    def record(self, order: BrokerOrder) -> None:
        """Write the broker's view of an order we know into the store."""
        self.store.update_order(order.client_order_id, status=order.status, broker_id=order.id,
                                filled_qty=order.filled_qty, filled_avg_price=order.filled_avg_price)

    def pending(self) -> list[OrderRow]:
        """Orders whose fate the store does not know (crash between POST and update)."""
        return [o for o in self.store.orders() if o.status in ("submitting", "unknown")]
