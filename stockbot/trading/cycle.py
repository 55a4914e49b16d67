"""The one decide preamble and lesson retrieval every strategy's decision cycle starts with.

``blocked_before_deciding`` is the order of the checks both strategies make before they look at
the market (orders in flight -> STOP flag -> entries blocked by the daemon's health);
``retrieve_lessons`` reads the lessons for a decision's context, failing closed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from stockbot.consensus.context import LessonRef
from stockbot.domain import CycleStatus, TradeContext
from stockbot.flags import read_stop
from stockbot.trading.deps import EngineDeps

if TYPE_CHECKING:
    from stockbot.lessons.service import RetrievedLesson

log = structlog.get_logger(__name__)


def blocked_before_deciding(deps: EngineDeps) -> tuple[CycleStatus, str] | None:
    """``(status, reason)`` when this cycle must end before the market is read, else None.

    An order whose outcome is unknown blocks everything (the reconciler resolves it first); a STOP
    flag halts without asking (and paying) any agent; a stale quote stream blocks new entries."""
    in_flight = deps.orders_in_flight()
    if in_flight:
        ids = ", ".join(o.client_order_id for o in in_flight[:3])
        return CycleStatus.BLOCKED, f"{len(in_flight)} order(s) not final ({ids}): reconcile first"
    stop = read_stop(deps.account)
    if stop is not None:
        return CycleStatus.HALTED, f"STOP flag present: {stop.get('why', '?')}"
    blocked = deps.entries_blocked()
    if blocked is not None:
        return CycleStatus.BLOCKED, blocked
    return None


@dataclass(frozen=True, slots=True)
class Retrieval:
    """Lessons found for one decision. ``error``: retrieval failed (recorded with the decision and
    alerted); ``guards_error``: the account's guards cannot be read either, so the decision HOLDs."""

    found: tuple[RetrievedLesson, ...] = ()
    refs: tuple[LessonRef, ...] = ()
    error: str | None = None
    guards_error: str | None = None


async def retrieve_lessons(deps: EngineDeps, ctx: TradeContext) -> Retrieval:
    """The lessons for ``ctx`` before a decision, failing closed.

    A broken vector index costs the prompt its lessons, not the decision: the guards are read from
    the lesson files (not the index) before every order, so they still enforce. If the guards
    cannot be read either, nothing would stop a known mistake from repeating: the caller HOLDs."""
    service = deps.lessons
    if service is None:
        return Retrieval()
    try:
        found = await asyncio.to_thread(service.for_context, ctx, deps.settings.lessons.top_k)
        return Retrieval(tuple(found), tuple(LessonRef(**r.as_ref()) for r in found))
    except Exception as exc:  # noqa: BLE001 - see docstring
        error = f"{type(exc).__name__}: {exc}"[:300]
    guards_error = None
    try:
        await asyncio.to_thread(service.guards)
    except Exception as exc:  # noqa: BLE001 - unreadable guards = fail closed
        guards_error = f"{type(exc).__name__}: {exc}"[:300]
    log.warning("engine.lessons_unavailable", error=error, guards_error=guards_error)
    deps.store.append_event("lessons_unavailable", {"error": error, "guards_error": guards_error,
                                                    "strategy": ctx.strategy, "symbol": ctx.symbol})
    what = ("lesson guards unreadable too: no entries (HOLD) until fixed" if guards_error
            else "decisions go on without retrieved lessons; the guards still enforce")
    await deps.notifier.alert("lessons_unavailable", f"lesson retrieval failed ({error}); {what}")
    return Retrieval(error=error, guards_error=guards_error)
