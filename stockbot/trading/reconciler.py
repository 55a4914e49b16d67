"""``Reconciler``: make the store and the broker agree, executing the pure ``reconcile.plan``.

One run:
1. every order the store does not know the end of (``submitting``, ``unknown``, or still working)
   is looked up by client id — never re-sent. A working order left by a crashed or aborted ladder
   is cancelled (the engine's lock guarantees no live ladder owns it), and a fill found this way is
   booked: an entry fill becomes the condor trade, a closing fill closes it. So a restart between
   the POST and the store update ends with exactly one condor and no orphan;
2. positions and open orders are read and ``plan`` decides: orphan legs and naked shorts are closed
   through ``close_position()``, shorts first (a long is not closed while a short close failed);
   structures with no legs left are marked closed; anything else unknown is adopted as external and
   reported, never touched;
3. every orphan and mismatch is handed to the lesson capture; orphans also alert the operator.

At start-up a broker that cannot be read raises ``ReconcileError``: the daemon must not start
trading on a state it does not know.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Callable

import structlog

from stockbot.errors import StockbotError
from stockbot.broker.errors import BrokerError, RejectedError
from stockbot.trading.executor import OrderExecutor, UnresolvedOrderError
from stockbot.domain import AssetClass, BrokerOrder, OrderIntent, PositionIntent, Side, utcnow
from stockbot.trading import assignment_handler
from stockbot.trading.assignment import without_handled
from stockbot.trading.deps import Notifier, orders_in_flight, remember_order
from stockbot.trading.ladder import LadderTiming, OrderLadder
from stockbot.trading.port import AlertSender, Broker, Capture, FillBooker
from stockbot.trading.reconcile import (AdoptExternal, ClosePosition, PendingOrder, ReconcilePlan, plan,
                                        structures_from_trades)
from stockbot.trading.trades import mark_closed, open_trade
from stockbot.lessons.failure import Failure
from stockbot.lessons.guards import CLOSE_POSITION_PURPOSE
from stockbot.options.occ import is_occ_symbol
from stockbot.store import Store
from stockbot.store_rows import OrderRow

log = structlog.get_logger(__name__)
ADOPTED_EVENT = "external_adopted"


class ReconcileError(StockbotError):
    """The broker's state could not be read or an order's fate is unknown: do not start trading.

    Caller: retry (reconcile again later; no new orders until it succeeds).
    """


@dataclass(frozen=True, slots=True)
class ClosedLeg:
    """One close_position() the reconciler sent (or could not send)."""

    symbol: str
    qty: Decimal
    reason: str
    structure_id: str | None
    status: str  # the broker's final status, "skipped" or "error"
    order_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    startup: bool
    resolved: tuple[tuple[str, str], ...] = ()  # (client_order_id, final status)
    unresolved: tuple[str, ...] = ()
    booked: tuple[tuple[str, str], ...] = ()  # (structure_id, "opened" | "closed"): fills found late
    closed: tuple[ClosedLeg, ...] = ()
    closed_structures: tuple[str, ...] = ()
    adopted: tuple[AdoptExternal, ...] = ()
    orphans: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """Nothing to do and nothing found: store and broker agreed."""
        return not (self.resolved or self.unresolved or self.booked or self.closed or self.closed_structures
                    or self.adopted or self.orphans or self.errors)


def _symbols(row: OrderRow) -> tuple[str, ...]:
    legs = tuple(leg["symbol"] for leg in row.intent_legs)
    return legs or ((row.symbol,) if row.symbol else ())


class Reconciler:
    """Reconciles one account's store with its broker account."""

    def __init__(self, account: str | None, broker: Broker, store: Store, executor: OrderExecutor, *,
                 booker: FillBooker, capture: Capture | None = None, alerter: AlertSender | None = None,
                 now: Callable[[], datetime] = utcnow, timing: LadderTiming | None = None,
                 lock: asyncio.Lock | None = None):
        self.account = account
        self.broker = broker
        self.store = store
        self.executor = executor
        self.booker = booker  # the strategy: it knows what a late fill of its orders means
        self.notifier = Notifier(capture=capture, alerter=alerter)
        self.now = now
        self.timing = timing or LadderTiming()
        self.ladder = OrderLadder(broker, executor, store, self.timing)
        self.lock = lock or asyncio.Lock()

    async def run(self, startup: bool = False) -> ReconcileReport:
        """One reconciliation. ``startup=True`` raises ReconcileError instead of reporting a failure."""
        async with self.lock:
            return await self._run(startup)

    async def _run(self, startup: bool) -> ReconcileReport:
        resolved, unresolved, booked, working = await self._resolve()
        if unresolved and startup:
            raise ReconcileError(f"cannot resolve order(s) {', '.join(unresolved)} at the broker: "
                                 "their fate is unknown, refusing to start")
        try:
            positions = await self.broker.positions()
            open_orders = await self.broker.orders(status="open")
        except BrokerError as exc:
            if startup:
                raise ReconcileError(f"cannot read positions/orders from the broker: {exc}") from exc
            await self.notifier.alert("reconcile_failed", f"cannot read the broker: {exc}")
            await self.notifier.failure(Failure.from_exception("engine.reconcile", exc, job="reconcile",
                                                               kind="broker_error"))
            return ReconcileReport(startup, tuple(resolved), tuple(unresolved), tuple(booked),
                                   errors=(f"broker unreadable: {exc}",))
        if unresolved:
            await self.notifier.alert("reconcile_failed", f"order(s) {', '.join(unresolved)} unresolved at the "
                                                          "broker: new entries stay blocked until they are")
        for cid in unresolved:
            await self.notifier.failure(Failure("broker_error", "engine.reconcile", f"order {cid} unresolved",
                                                {"reason": "order state unknown after every lookup",
                                                 "client_order_id": cid}))
        rows = self.store.orders()
        busy = set(unresolved) | working
        pending = [PendingOrder(r.client_order_id, _symbols(r)) for r in rows if r.client_order_id in busy]
        handled = await assignment_handler.handle(self, positions, open_orders)  # assignment/expiry first
        positions, trades = without_handled(positions, self.store.trades(status="open"), handled)
        p = plan(positions, open_orders, structures_from_trades(trades), pending, {r.client_order_id for r in rows})
        closed, errors = await self._close(p.close)
        marked = self._mark_closed(p, closed)
        adopted = await self._adopt(p.adopt)
        await self._report_orphans(p.orphans, closed)
        for st in p.closed_structures:
            await self.notifier.failure(Failure("reconcile_mismatch", "engine.reconcile",
                                                f"structure {st.structure_id}: {st.reason}",
                                                {"reason": st.reason}, strategy="condor"))
        report = ReconcileReport(startup, tuple(resolved), tuple(unresolved), tuple(booked), tuple(closed),
                                 tuple(marked), tuple(adopted), p.orphans, tuple(errors))
        if not report.clean:
            self.store.append_event("reconciled", {
                "startup": startup, "resolved": report.resolved, "unresolved": report.unresolved,
                "booked": report.booked, "closed": [(c.symbol, c.status) for c in closed],
                "closed_structures": marked, "adopted": [(a.kind, a.symbol) for a in adopted],
                "orphans": p.orphans, "errors": errors})
        log.info("reconcile.done", startup=startup, clean=report.clean, orphans=p.orphans,
                 closed=[c.symbol for c in closed], unresolved=unresolved)
        return report

    # ------------------------------------------------------------------ 1. orders

    async def _resolve(self) -> tuple[list[tuple[str, str]], list[str], list[tuple[str, str]], set[str]]:
        """Look up every order whose end the store does not know; book late fills."""
        resolved, unresolved, booked, working = [], [], [], set()
        rows = orders_in_flight(self.store)
        for row in rows:
            cid = row.client_order_id
            try:
                order = await self.executor.resolve(cid)
            except UnresolvedOrderError:
                unresolved.append(cid)
                continue
            except RejectedError:  # proven never received: nothing exists, nothing to undo
                resolved.append((cid, "not_received"))
                continue
            if order.is_open and row.purpose == CLOSE_POSITION_PURPOSE:
                working.add(cid)  # a close still working: leave it, and its symbol, alone this run
                continue
            if order.is_open:
                order = await self._cancel(order)
                if order.is_open:
                    unresolved.append(cid)
                    continue
            effect = self.booker.book_late_fill(row, order)
            if effect and row.decision_id:  # a booker only books orders of a decision
                booked.append((row.decision_id, effect))
            resolved.append((cid, order.status))
        booked.extend(await self.booker.book_unbooked())
        return resolved, unresolved, booked, working

    async def _cancel(self, order: BrokerOrder) -> BrokerOrder:
        """Cancel a stale working order and wait (bounded) until the broker confirms its end."""
        try:
            await self.broker.cancel(order.id)
        except BrokerError as exc:  # it may have just filled or ended: the re-read tells
            log.info("reconcile.cancel_refused", order_id=order.id, error=str(exc))
        final = await self.ladder.wait(order, self.timing.cancel_timeout_s, refresh_first=True)
        self.executor.record(final)
        return final

    # ------------------------------------------------------------------ 2. positions

    async def _close(self, actions: tuple[ClosePosition, ...]) -> tuple[list[ClosedLeg], list[str]]:
        """close_position() for each action, shorts first; longs wait while any short close failed.

        Not routed through the risk gate on purpose: these orders only reduce risk (orphan legs,
        naked shorts), and the gate's limits exist to stop risk being added."""
        closed: list[ClosedLeg] = []
        errors: list[str] = []
        short_failed = False
        for a in actions:
            if not a.short and short_failed:
                closed.append(ClosedLeg(a.symbol, a.qty, a.reason, a.structure_id, "skipped",
                                        error="a short close failed: its protection is kept"))
                continue
            try:
                order = await self.broker.close_position(a.symbol, qty=a.qty)
            except BrokerError as exc:
                errors.append(f"close_position({a.symbol}): {exc}")
                closed.append(ClosedLeg(a.symbol, a.qty, a.reason, a.structure_id, "error", error=str(exc)))
                short_failed = short_failed or a.short
                continue
            self._remember(a, order)
            final = await self.ladder.wait(order, self.timing.fill_timeout_s)
            self.executor.record(final)
            closed.append(ClosedLeg(a.symbol, a.qty, a.reason, a.structure_id, final.status, final.id))
            short_failed = short_failed or (a.short and final.status != "filled")
        return closed, errors

    def _remember(self, a: ClosePosition, order: BrokerOrder) -> None:
        side = Side.BUY if a.short else Side.SELL
        intent = OrderIntent(client_order_id=order.client_order_id, qty=a.qty, symbol=a.symbol, side=side,
                             asset_class=AssetClass.OPTION if is_occ_symbol(a.symbol) else AssetClass.EQUITY,
                             position_intent=PositionIntent.BUY_TO_CLOSE if a.short else PositionIntent.SELL_TO_CLOSE,
                             purpose=CLOSE_POSITION_PURPOSE, decision_id=a.structure_id)
        remember_order(self.store, self.executor, intent, order)

    def _mark_closed(self, p: ReconcilePlan, closed: list[ClosedLeg]) -> list[str]:
        """Structures with no legs left, and orphaned ones whose every leg close filled."""
        marked = []
        for st in p.closed_structures:
            trade = open_trade(self.store, st.structure_id)
            if trade is not None:
                mark_closed(self.store, trade, reason="closed_elsewhere", method="reconcile", closed=self.now())
                marked.append(st.structure_id)
        for sid in p.orphans:
            legs = [c for c in closed if c.structure_id == sid]
            trade = open_trade(self.store, sid)
            if trade is not None and legs and all(c.status == "filled" for c in legs):
                mark_closed(self.store, trade, reason="orphan", method="close_position", closed=self.now())
                marked.append(sid)
        return marked

    async def _adopt(self, adopt: tuple[AdoptExternal, ...]) -> list[AdoptExternal]:
        """Record external positions/orders once (an event and a captured mismatch); never touch them."""
        seen = {(e.payload.get("kind"), e.payload.get("symbol")) for e in self.store.events(kind=ADOPTED_EVENT)}
        for a in adopt:
            if (a.kind, a.symbol) in seen:
                continue
            seen.add((a.kind, a.symbol))
            self.store.append_event(ADOPTED_EVENT, {"kind": a.kind, "symbol": a.symbol, "detail": a.detail})
            await self.notifier.failure(Failure("reconcile_mismatch", "engine.reconcile",
                                                f"external {a.kind} {a.symbol} adopted: {a.detail}",
                                                {"reason": f"external {a.kind} not placed by stockbot"},
                                                symbol=a.symbol))
        return list(adopt)

    async def _report_orphans(self, orphans: tuple[str, ...], closed: list[ClosedLeg]) -> None:
        for name in orphans:
            legs = [c for c in closed if c.structure_id == name or (c.structure_id is None and c.symbol == name)]
            what = ", ".join(f"{c.symbol} {c.status}" for c in legs) or "nothing closed"
            message = f"orphan {name}: closed through close_position() shorts first ({what})"
            self.store.append_event("orphan_found", {"name": name, "closed": [(c.symbol, c.status) for c in legs]})
            await self.notifier.alert("orphan", message)
            naked = any(c.structure_id is None for c in legs)
            await self.notifier.failure(Failure("orphan_position", "engine.reconcile", message,
                                                {"reason": legs[0].reason if legs else "orphan",
                                                 "position_side": "short" if naked else "structure"},
                                                strategy="condor", symbol=legs[0].symbol if legs else name))
