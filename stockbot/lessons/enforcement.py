"""Which lesson guards enforce, and why not: the one place that decides it.

* retired lesson -> ``retired`` (never enforces);
* guard past its ``expires`` day -> ``expired`` (stops enforcing, and the service logs it once);
* confirmed lesson -> ``enforcing``;
* draft lesson (captured or written by hand) -> ``enforcing`` only for guards that require a safe
  form of an order (draft-safe kinds such as ``require_mleg``) or a ``block_symbol`` that ends
  within DRAFT_BLOCK_MAX_DAYS of the lesson's date; any other guard is ``proposed`` until
  ``stockbot lessons confirm ID`` (and ``stockbot lessons impact ID`` shows what it would block).

The comparable open-source system's worst failure was a lesson that silently blocked every trade
for weeks; a captured lesson here can at most stop one symbol for a week before a person looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Sequence

from stockbot.lessons.guards import DRAFT_BLOCK_MAX_DAYS, BlockSymbol, Guard
from stockbot.lessons.model import Lesson, Status


@dataclass(frozen=True)
class GuardState:
    """``state`` is enforcing | proposed | expired | retired | none; ``note`` says why."""

    lesson_id: str
    state: str
    note: str
    review_due: bool = False

    @property
    def enforcing(self) -> bool:
        return self.state == "enforcing"


def bounded_symbol_block(lesson: Lesson, guard: Guard) -> bool:
    """A block of one symbol that ends within DRAFT_BLOCK_MAX_DAYS of the lesson's date."""
    return (isinstance(guard, BlockSymbol) and guard.expires is not None
            and 0 <= (guard.expires - lesson.date).days <= DRAFT_BLOCK_MAX_DAYS)


def guard_state(lesson: Lesson, now: datetime | date | None = None) -> GuardState:
    """How ``lesson``'s guard stands at ``now`` (None: ignore expiry and review dates)."""
    st = _state(lesson, now)
    g = lesson.guard
    if g is not None and g.expires is None and g.review_by is None and st.state in ("enforcing", "proposed"):
        st = GuardState(st.lesson_id, st.state, st.note + " (no expires or review_by date: add one)", st.review_due)
    return st


def _state(lesson: Lesson, now: datetime | date | None) -> GuardState:
    g = lesson.guard
    if g is None:
        return GuardState(lesson.id, "none", "no guard")
    review = now is not None and g.review_due(now)
    if lesson.status is Status.RETIRED:
        return GuardState(lesson.id, "retired", "lesson retired", review)
    if now is not None and g.is_expired(now):
        return GuardState(lesson.id, "expired", f"expired after {g.expires.isoformat()}; no longer enforced",
                          review)
    if lesson.status is Status.CONFIRMED:
        return GuardState(lesson.id, "enforcing", "confirmed", review)
    if not g.blocking:
        return GuardState(lesson.id, "enforcing", "draft: requires a safe order form only", review)
    if bounded_symbol_block(lesson, g):
        return GuardState(lesson.id, "enforcing", f"draft: blocks one symbol until {g.expires.isoformat()}",
                          review)
    return GuardState(lesson.id, "proposed",
                      f"draft: proposed {g.kind} guard, not enforced until `stockbot lessons confirm {lesson.id}`",
                      review)


def enforced_guards(lessons: Sequence[Lesson], now: datetime | date | None = None) -> list[Guard]:
    """The guards that ``lessons`` enforce at ``now`` (see the module docstring)."""
    return [lesson.guard for lesson in lessons if lesson.guard is not None and guard_state(lesson, now).enforcing]
