"""Lesson lint: refuse, at load, a lesson whose guard or advice contradicts the broker.

A lesson is read by the agents (its fix and prevention go into prompts) and its guard is enforced
by the risk gate, so a wrong lesson does harm twice: advice Alpaca cannot carry out, or a guard
that silently never fires. Each rule here is a fact from ALPACA_NOTES.md or the guard semantics:

* ``bracket_options``: bracket / OCO / OTO orders exist for stock only; option spreads go as one
  ``order_class=mleg`` order (exits are separate mleg orders);
* ``long_leg_first``: closing a long leg while its short is open is rejected as naked - close as
  one mleg order or shorts first;
* ``options_extended_hours``: options trade in regular hours only;
* ``mleg_legs``: an mleg order has at most 4 legs;
* ``guard_no_op``: a guard whose ``orders:`` scope can never meet the orders it checks (e.g.
  ``require_mleg`` scoped to ``[mleg]``), or that expires before the lesson was written.

Advice that states the rule negatively ("never send a bracket order for a spread") is fine: a
sentence with a negation is not read as a recommendation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stockbot.lessons.model import Lesson

_OPTIONS = r"(option|spread|condor|strangle|straddle|mleg|multi-leg|\blegs?\b|\bputs?\b|\bcalls?\b)"
_NEGATION = re.compile(r"\b(never|not|no|don't|do not|cannot|can't|isn't|aren't|unsupported|refuse[sd]?|"
                       r"instead of|rather than|avoid|forbid\w*|reject\w*|wrong)\b", re.I)
RULES: tuple[tuple[str, re.Pattern[str], re.Pattern[str] | None, str], ...] = (
    ("bracket_options", re.compile(r"\b(bracket|oco|oto|one[- ]cancels[- ](the[- ])?other|"
                                   r"one[- ]triggers[- ](the[- ])?other)\b", re.I),
     re.compile(_OPTIONS, re.I),
     "recommends a bracket/OCO/OTO order for an options position; Alpaca supports those for stock only "
     "- send spreads as one order_class=mleg order"),
    ("long_leg_first", re.compile(r"\b(close|sell|exit|unwind|flatten)\w*\s+(the\s+|its\s+)?long\s*"
                                  r"(legs?|wings?|options?|puts?|calls?|side)?\s+(first|before)\b", re.I), None,
     "closes a long leg before its short; Alpaca rejects that as naked - close as one mleg order or shorts first"),
    ("options_extended_hours", re.compile(r"\b(extended[- ]hours?|pre-?market|after-?hours)\b", re.I),
     re.compile(_OPTIONS, re.I),
     "trades options outside regular hours; Alpaca options trade in regular market hours only"),
    ("mleg_legs", re.compile(r"\b([5-9]|five|six|seven|eight)[- ]legs?\b", re.I), re.compile(r"mleg", re.I),
     "an mleg order with more than 4 legs; Alpaca accepts 2 to 4 legs"),
)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.;!?])\s+|\n+", text or "") if s.strip()]


def advice_problems(text: str) -> list[str]:
    """Rule violations in advice text (fix applied / prevention), one line each."""
    out: list[str] = []
    for sentence in _sentences(text):
        if _NEGATION.search(sentence):
            continue
        for name, pattern, context, message in RULES:
            if pattern.search(sentence) and (context is None or context.search(sentence)):
                out.append(f"{name}: {message} (\"{sentence[:120]}\")")
    return out


def guard_problems(lesson: "Lesson") -> list[str]:
    """A guard that can never fire in its own scope is a silent no-op: refuse it."""
    g = lesson.guard
    if g is None:
        return []
    out: list[str] = []
    orders = set(g.orders)
    if orders:
        never = {
            "require_mleg": orders <= {"mleg", "equity"},
            "close_via_close_position": orders <= {"entry", "mleg"},
            "require_limit": orders <= {"limit", "close"},
        }.get(g.kind, g.entries_only and orders <= {"close"})
        if never:
            out.append(f"guard_no_op: guard {g.kind} scoped to orders {sorted(orders)} can never deny an order")
    if g.expires is not None and g.expires < lesson.date:
        out.append(f"guard_no_op: guard expires {g.expires.isoformat()}, before the lesson's date "
                   f"{lesson.date.isoformat()}")
    if g.review_by is not None and g.expires is not None and g.review_by > g.expires:
        out.append("guard_dates: review_by is after expires; review before the guard ends")
    return out


def lint_lesson(lesson: "Lesson") -> list[str]:
    """Every reason to refuse ``lesson``; empty when it is fine."""
    problems = guard_problems(lesson)
    for section in ("fix_applied", "prevention"):
        problems += [f"{section}: {p}" for p in advice_problems(getattr(lesson, section))]
    return problems


def check_lesson(lesson: "Lesson", source: str) -> None:
    """Raise LessonError naming ``source`` and every problem, if lint refuses the lesson."""
    from stockbot.lessons.errors import LessonError

    problems = lint_lesson(lesson)
    if problems:
        raise LessonError(f"{source}: refused by lesson lint: " + "; ".join(problems))
