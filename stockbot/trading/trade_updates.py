"""Trade updates (the broker's pushed order events) handed to the daemon's fill-booking path.

The stream makes fills known as they happen; it never becomes the only way a fill is known:

- every event is first checked against the store: an order we did not send is ignored (the
  reconciler adopts external orders), an event already seen (Alpaca may repeat events) or older
  than what the store knows (a poll got there first) changes nothing;
- otherwise the order row takes the event's view (``OrderExecutor.record``, the call the ladder
  and the reconciler make for polled orders);
- a final fill is booked through the strategy's own ``FillBooker.book_unbooked`` (the sweep the
  reconciler runs for fills acknowledged but not booked), under the strategy's lock: while an entry
  or close ladder owns the order the booking waits, and the ladder books it itself; afterwards the
  sweep finds it booked. So a fill seen by the stream, the ladder's poll and the reconciler is
  booked exactly once, whatever the strategy.

A missed event (stream down, silent, reconnecting) loses nothing: the ladder polls its own order
and the reconcile job looks up every order the store has not seen end.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any

import structlog

from stockbot.broker.trade_stream import TradeUpdate
from stockbot.store import Store
from stockbot.trading.executor import OrderExecutor
from stockbot.trading.port import FillBooker

log = structlog.get_logger(__name__)
FINAL_ROW = frozenset({"filled", "canceled", "expired", "rejected", "replaced", "done_for_day", "not_received"})
SEEN_MAX = 5000


class TradeUpdateBooker:
    """Consumes :class:`TradeUpdate` on the daemon's loop (``on_update`` is the feed's callback)."""

    def __init__(self, store: Store, executor: OrderExecutor, lock: asyncio.Lock, booker: FillBooker) -> None:
        self.store = store
        self.executor = executor
        self.lock = lock
        self.booker = booker  # the strategy (trading.port.FillBooker)
        self._seen: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        self._tasks: set[asyncio.Task[str]] = set()
        self.counts = {"received": 0, "duplicate": 0, "unknown": 0, "stale": 0, "recorded": 0, "booked": 0}

    def on_update(self, update: TradeUpdate) -> None:
        """Feed callback (on the loop): handle ``update`` in a task of its own."""
        task = asyncio.get_running_loop().create_task(self.handle(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, update: TradeUpdate) -> str:
        """Record one event; returns what happened (duplicate, unknown, stale, recorded, booked)."""
        self.counts["received"] += 1
        if update.key in self._seen:
            self.counts["duplicate"] += 1
            return "duplicate"
        self._seen[update.key] = None
        if len(self._seen) > SEEN_MAX:
            self._seen.popitem(last=False)
        order = update.order
        row = self.store.get_order(order.client_order_id)
        if row is None:
            self.counts["unknown"] += 1
            return "unknown"
        known_fill = row.filled_qty
        if row.status in FINAL_ROW and order.filled_qty <= known_fill:
            self.counts["stale"] += 1
            return "stale"
        try:
            self.executor.record(order)
            self.store.append_event("trade_update", {"client_order_id": order.client_order_id, "event": update.event,
                                                     "status": order.status, "filled_qty": order.filled_qty,
                                                     "price": update.price})
        except Exception as exc:  # noqa: BLE001 - a store fault here must not kill the stream; polling recovers
            log.warning("trade_update.record_failed", client_order_id=order.client_order_id, error=str(exc))
            return "stale"
        self.counts["recorded"] += 1
        if order.filled_qty <= 0 or order.is_open:
            return "recorded"
        async with self.lock:  # never beside a ladder that owns this order: it books its own fill
            booked = await self.booker.book_unbooked()
        if not booked:
            return "recorded"
        self.counts["booked"] += len(booked)
        for ref, effect in booked:
            self.store.append_event("trade_update_booked", {"client_order_id": order.client_order_id,
                                                            "booked": ref, "effect": effect})
        log.info("trade_update.booked", client_order_id=order.client_order_id, booked=booked)
        return "booked"

    async def drain(self) -> None:
        """Wait for the events in hand (tests; the daemon's stop cancels instead)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)


class TradeUpdates:
    """The feed and the booker of one daemon."""

    def __init__(self, feed: Any, booker: TradeUpdateBooker) -> None:
        self.feed = feed
        self.booker = booker

    async def stop(self) -> None:
        await asyncio.to_thread(self.feed.stop)
        await self.booker.stop()


def attach_trade_updates(rt: Any, loop: asyncio.AbstractEventLoop) -> TradeUpdates:
    """Start the account's trade-update stream feeding the fill-booking path of the running
    account ``rt`` (``daemon.runtime.AccountRuntime``: its store, the reconciler's executor, the
    strategy's lock and its fill booker)."""
    from stockbot.broker.trade_stream import TradeUpdateFeed

    booker = TradeUpdateBooker(rt.store, rt.reconciler.executor, rt.strategy.lock, rt.strategy)

    def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "trade_stream_connected" and data.get("connects", 0) <= 1:
            return  # only reconnects and errors are worth an event
        try:
            rt.store.append_event(kind, data)
        except Exception as exc:  # noqa: BLE001 - the store may be closing: the log keeps it
            log.info("trade_stream.event_unrecorded", kind=kind, error=str(exc))

    feed = TradeUpdateFeed(rt.settings.alpaca, loop, booker.on_update, on_event)
    feed.start()
    return TradeUpdates(feed, booker)
