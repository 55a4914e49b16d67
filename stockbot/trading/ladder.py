"""Walking a limit price toward the natural, one order per rung, never two live at once.

Each rung is a new order with its own client_order_id (recorded before the POST by the
``OrderExecutor``). A rung waits a bounded time for its fill; if none comes it is cancelled and the
cancel is *confirmed* (the order is terminal at the broker) before the next rung is sent: a rung
that filled while we were cancelling it is a fill, and an order whose cancel cannot be confirmed
stops the ladder — sending the next rung then could fill twice.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Awaitable, Callable, Final, Sequence

import structlog

from stockbot.broker.errors import BrokerError, InsufficientFundsError, RejectedError
from stockbot.trading.executor import OrderExecutor, UnresolvedOrderError
from stockbot.config import CondorSettings
from stockbot.domain import BrokerOrder, OrderIntent
from stockbot.risk.gate import Approved, Denied
from stockbot.store import Store
from stockbot.trading.port import Broker

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LadderTiming:
    """Bounded waits of one rung. Production defaults; tests pass short ones."""

    poll_interval_s: float = 1.0
    fill_timeout_s: float = 20.0  # how long one rung may rest before it is cancelled
    cancel_timeout_s: float = 10.0  # how long we wait for a cancel to become final

    @classmethod
    def from_settings(cls, condor: CondorSettings) -> "LadderTiming":
        return cls(condor.poll_interval_s, condor.fill_timeout_s, condor.cancel_timeout_s)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One rung as it ended: ``status`` is the broker's final status or what stopped it."""

    rung: int
    client_order_id: str
    limit_price: Decimal | None
    status: str  # filled | canceled | expired | rejected | denied | not_received | unresolved | ...
    order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LadderResult:
    """``status``: filled | exhausted | denied | rejected | insufficient_funds | unresolved."""

    status: str
    attempts: tuple[Attempt, ...]
    order: BrokerOrder | None = None  # the order that filled (wholly or partly)
    error: BaseException | None = None
    denied: Denied | None = None

    @property
    def filled(self) -> bool:
        return self.order is not None and self.order.filled_qty > 0

    @property
    def reason(self) -> str:
        if self.denied is not None:
            return f"denied by {self.denied.rule}: {self.denied.reason}"
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        last = self.attempts[-1] if self.attempts else None
        detail = f" ({last.detail})" if last and last.detail else ""
        return f"{self.status} after {len(self.attempts)} rung(s){detail}"


Check = Callable[[OrderIntent], Awaitable["Approved | Denied"]]
MakeIntent = Callable[[int, "Decimal | None"], OrderIntent]
# A price source priced right before each rung: a limit price (None = market), ``LADDER_END`` when
# the walk has reached its natural price, or a Denied when the fresh quotes cannot be traded.
PriceAt = Callable[[int], Awaitable["Decimal | None | Denied | LadderEnd"]]


class LadderEnd(enum.Enum):
    """The sentinel a ``PriceAt`` returns at the natural price (an enum, so ``is`` narrows it)."""

    END = "end"


LADDER_END: Final = LadderEnd.END


class OrderLadder:
    """Sends the rungs of one ladder through the executor and waits for each to settle."""

    def __init__(self, broker: Broker, executor: OrderExecutor, store: Store, timing: LadderTiming | None = None,
                 *, clock: Callable[[], float] = time.monotonic):
        self.broker = broker
        self.executor = executor
        self.store = store
        self.timing = timing or LadderTiming()
        self._clock = clock

    async def walk(self, prices: Sequence[Decimal | None] | PriceAt, make_intent: MakeIntent, check: Check, *,
                   rungs: int | None = None) -> LadderResult:
        """Try each price in turn until one fills; the risk gate runs right before every rung.

        ``prices`` is a fixed list, or a ``PriceAt`` called right before each of at most ``rungs``
        rungs: a walk that rests ``fill_timeout_s`` per rung must price every rung from quotes
        taken then, not from the snapshot the decision was made on."""
        attempts: list[Attempt] = []
        price_at: PriceAt | None = prices if callable(prices) else None
        fixed: Sequence[Decimal | None] = () if callable(prices) else prices
        count = len(fixed) if price_at is None else (rungs or 0)
        for rung in range(count):
            price = fixed[rung] if price_at is None else await price_at(rung)
            if price is LADDER_END:
                break
            if isinstance(price, Denied):
                cid = make_intent(rung, None).client_order_id
                attempts.append(Attempt(rung, cid, None, "denied", detail=price.reason))
                self.store.append_event("order_denied", {"client_order_id": cid, "rule": price.rule,
                                                         "reason": price.reason})
                return LadderResult("denied", tuple(attempts), denied=price)
            intent = make_intent(rung, price)
            cid = intent.client_order_id
            verdict = await check(intent)
            if isinstance(verdict, Denied):
                attempts.append(Attempt(rung, cid, price, "denied", detail=verdict.reason))
                return LadderResult("denied", tuple(attempts), denied=verdict)
            try:
                order = await self.executor.submit(intent)
            except InsufficientFundsError as exc:
                attempts.append(Attempt(rung, cid, price, "rejected", detail=str(exc)))
                return LadderResult("insufficient_funds", tuple(attempts), error=exc)
            except UnresolvedOrderError as exc:
                attempts.append(Attempt(rung, cid, price, "unresolved", detail=str(exc)))
                return LadderResult("unresolved", tuple(attempts), error=exc)
            except RejectedError as exc:
                row = self.store.get_order(cid)
                if row is not None and row.status == "not_received":
                    # Proven never to have reached the broker: the next rung (a new id) is safe.
                    attempts.append(Attempt(rung, cid, price, "not_received", detail=str(exc)))
                    continue
                attempts.append(Attempt(rung, cid, price, "rejected", detail=str(exc)))
                return LadderResult("rejected", tuple(attempts), error=exc)
            except BrokerError as exc:  # an unexpected answer: the order's fate is unknown
                attempts.append(Attempt(rung, cid, price, "unresolved", detail=str(exc)))
                return LadderResult("unresolved", tuple(attempts), error=exc)
            final = await self.settle(order)
            attempts.append(Attempt(rung, cid, price, final.status, final.id, final.filled_qty))
            self.store.append_event("ladder_rung", {"client_order_id": cid, "rung": rung, "limit_price": price,
                                                    "status": final.status, "filled_qty": final.filled_qty})
            if final.is_open:  # even partly filled, it may still fill more: the reconciler books it
                return LadderResult("unresolved", tuple(attempts),
                                    error=UnresolvedOrderError(f"order {cid} still {final.status} after cancel"))
            if final.filled_qty > 0:
                return LadderResult("filled", tuple(attempts), order=final)
        return LadderResult("exhausted", tuple(attempts))

    async def settle(self, order: BrokerOrder) -> BrokerOrder:
        """Wait (bounded) for ``order`` to fill; cancel it if it does not; return its final view."""
        current = await self.wait(order, self.timing.fill_timeout_s)
        if current.is_open:
            try:
                await self.broker.cancel(current.id)
            except BrokerError as exc:  # 422 when it filled or ended meanwhile: the re-read tells
                log.info("ladder.cancel_refused", order_id=current.id, error=str(exc))
            current = await self.wait(current, self.timing.cancel_timeout_s, refresh_first=True)
        self.executor.record(current)
        return current

    async def wait(self, order: BrokerOrder, timeout_s: float, *, refresh_first: bool = False) -> BrokerOrder:
        """Re-read ``order`` every poll interval until it is final (filled, canceled...) or time is up."""
        deadline = self._clock() + timeout_s
        current = await self._read(order) if refresh_first else order
        while current.is_open and self._clock() < deadline:
            await asyncio.sleep(self.timing.poll_interval_s)
            current = await self._read(current)
        return current

    async def _read(self, order: BrokerOrder) -> BrokerOrder:
        try:
            fresh = await self.broker.order_by_id(order.id)
        except BrokerError as exc:  # keep the last view; the caller's deadline bounds the loop
            log.warning("ladder.poll_failed", order_id=order.id, error=str(exc))
            return order
        return order if fresh is None else fresh
