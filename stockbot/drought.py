""""Green but not trading": an alarm when entries were blocked on K consecutive eligible sessions.

The failure this exists for: a lesson or filter that blocks every entry while every health check
is green (the comparable open-source system stood still for 14 and 31 days that way). Nothing
crashes, so nothing alerts; only the absence of trades says something is wrong.

Read from the account's state store, nothing else:

* an *eligible session* is a New York trading day on which the decision job ran (it only runs
  on broker trading days while the market is open), i.e. that day has ``decision_cycle`` events;
* a session is *blocked* when every decision cycle of it ended in a blocking status (a rule kept
  the entry from happening: gate denial, orders in flight, STOP, out of capital, a filter that
  left no condor / no candidate / zero size, an error). A consensus HOLD is a decision, not a
  block; an order sent but not filled is an attempt to trade: both end a streak;
* the *rule responsible* is what blocked: the risk-gate rule of the ``order_denied`` events a
  cycle recorded before its ``decision_cycle`` event (e.g. ``lesson:LL-301``,
  ``max_risk_per_trade``), else the cycle's status.

``check(store, k, alert)`` is called after each decision cycle: once the streak reaches ``k``
(``ALERT_BLOCKED_SESSIONS``) it alerts once per streak (a ``drought_alert`` event remembers it)
and ``status_line`` names the rule with the count for ``stockbot status`` and the dashboard.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any, Awaitable, Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
BLOCKING = frozenset({"denied", "blocked", "halted", "out_of_capital", "size_zero", "no_condor",
                      "no_candidates", "no_model", "error", "insufficient_funds", "no_price"})
ALERT_EVENT = "drought_alert"


@dataclass(frozen=True)
class Session:
    day: date
    blocked: bool
    rules: Counter

    @property
    def rule(self) -> str:
        return self.rules.most_common(1)[0][0] if self.rules else "?"


@dataclass(frozen=True)
class Drought:
    """``sessions`` consecutive blocked sessions, the latest first-to-last from ``since``."""

    sessions: int
    since: date
    last: date
    rules: tuple[tuple[str, int], ...]  # (rule, sessions it blocked), most first

    @property
    def rule(self) -> str:
        return self.rules[0][0]

    def message(self) -> str:
        others = "".join(f", {r} ({n})" for r, n in self.rules[1:3])
        return (f"entries blocked on {self.sessions} consecutive sessions ({self.since.isoformat()} to "
                f"{self.last.isoformat()}) by {self.rule} ({self.rules[0][1]} session(s)){others}; "
                "nothing crashed, but nothing is trading: check that rule or guard "
                "(stockbot lessons impact ID shows what a lesson guard blocks)")


def _day(ev: Any) -> date:
    session = (ev.payload or {}).get("session")
    if session:
        return date.fromisoformat(str(session))
    return ev.ts.astimezone(NY).date()


def sessions(events: Iterable[Any]) -> list[Session]:
    """One Session per day with decision cycles, oldest first (``events`` in seq order)."""
    cycles: dict[date, list[str]] = {}
    denied: dict[date, Counter] = {}
    pending: Counter = Counter()  # denials belong to the cycle whose event follows them
    for ev in events:
        if ev.kind == "order_denied":
            pending[str((ev.payload or {}).get("rule") or "?")] += 1
        elif ev.kind == "decision_cycle":
            day = _day(ev)
            cycles.setdefault(day, []).append(str((ev.payload or {}).get("status") or "?"))
            denied.setdefault(day, Counter()).update(pending)
            pending = Counter()
    out = []
    for day in sorted(cycles):
        statuses = cycles[day]
        blocked = all(s in BLOCKING for s in statuses)
        rules = Counter(denied.get(day) or {}) if "denied" in statuses and denied.get(day) else Counter(
            s for s in statuses if s in BLOCKING)
        out.append(Session(day, blocked, rules))
    return out


def drought(events: Iterable[Any]) -> Drought | None:
    """The current streak of blocked sessions (ending with the latest session), or None."""
    streak: list[Session] = []
    for s in reversed(sessions(events)):
        if not s.blocked:
            break
        streak.append(s)
    if not streak:
        return None
    per_rule = Counter(s.rule for s in streak)
    return Drought(len(streak), streak[-1].day, streak[0].day, tuple(per_rule.most_common()))


def _events(store: Any) -> Sequence[Any]:
    return [*store.events(kind="decision_cycle"), *store.events(kind="order_denied")]


def status_line(store: Any, k: int) -> str:
    """One line for ``stockbot status`` / the dashboard."""
    evs = sorted(_events(store), key=lambda e: e.seq)
    d = drought(evs)
    if d is None:
        return "entries: not blocked (last session traded or decided)" if evs else "entries: no sessions yet"
    flag = "ALARM" if d.sessions >= k else "watch"
    return (f"entries: {flag} - blocked {d.sessions} consecutive session(s) by {d.rule} "
            f"({d.rules[0][1]}x) since {d.since.isoformat()} (alarm at {k})")


async def check(store: Any, k: int, alert: Callable[[str, str], Awaitable[None]]) -> Drought | None:
    """Alert once per streak when it reaches ``k`` sessions; returns the streak when alarming."""
    d = drought(sorted(_events(store), key=lambda e: e.seq))
    if d is None or d.sessions < k:
        return None
    already = [e for e in store.events(kind=ALERT_EVENT) if (e.payload or {}).get("since") == d.since.isoformat()]
    if not already:
        store.append_event(ALERT_EVENT, {"since": d.since.isoformat(), "sessions": d.sessions, "rule": d.rule,
                                         "rules": [list(r) for r in d.rules]})
        await alert("green_but_not_trading", d.message())
    return d
