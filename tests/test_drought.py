""""Green but not trading": K consecutive eligible sessions with entries blocked -> one alert naming the rule."""

from __future__ import annotations

import pytest

from stockbot import drought
from stockbot.config import AlertSettings
from stockbot.store import Store


def cycle(store: Store, day: str, status: str, rule: str | None = None) -> None:
    if rule:
        store.append_event("order_denied", {"client_order_id": f"c-{day}", "rule": rule, "reason": "x"})
    store.append_event("decision_cycle", {"status": status, "reason": "r", "session": day})


@pytest.fixture
def store():
    s = Store.for_account("drought")
    yield s
    s.close()


async def test_five_blocked_sessions_alert_once_naming_the_guard(store):
    sent = []

    async def alert(kind, message):
        sent.append((kind, message))

    k = AlertSettings().blocked_sessions
    assert k == 5  # the shipped default
    cycle(store, "2026-03-02", "entered")
    for day in ("2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06"):
        cycle(store, day, "denied", "lesson:LL-301")
        assert await drought.check(store, k, alert) is None
    assert "watch - blocked 4 consecutive session(s) by lesson:LL-301" in drought.status_line(store, k)
    cycle(store, "2026-03-09", "denied", "lesson:LL-301")
    found = await drought.check(store, k, alert)
    assert found.sessions == 5 and found.rule == "lesson:LL-301" and found.since.isoformat() == "2026-03-03"
    assert len(sent) == 1 and sent[0][0] == "green_but_not_trading"
    assert "5 consecutive sessions" in sent[0][1] and "lesson:LL-301 (5 session(s))" in sent[0][1]
    assert drought.status_line(store, k).startswith("entries: ALARM - blocked 5 consecutive session(s) by lesson:LL-301")
    cycle(store, "2026-03-10", "size_zero")  # still blocked, by another rule: no second alert for this streak
    await drought.check(store, k, alert)
    assert len(sent) == 1
    cycle(store, "2026-03-11", "hold")  # a consensus HOLD is a decision, not a block: the streak ends
    assert await drought.check(store, k, alert) is None
    assert drought.status_line(store, k).startswith("entries: not blocked")


def test_a_session_with_one_real_attempt_is_not_blocked(store):
    cycle(store, "2026-03-03", "denied", "max_risk_per_trade")
    cycle(store, "2026-03-03", "not_filled")  # the second cycle sent an order: the rule did not stop trading
    cycle(store, "2026-03-04", "no_condor")
    evs = sorted([*store.events(kind="decision_cycle"), *store.events(kind="order_denied")], key=lambda e: e.seq)
    ss = drought.sessions(evs)
    assert [s.blocked for s in ss] == [False, True]
    d = drought.drought(evs)
    assert d.sessions == 1 and d.rule == "no_condor"


def test_status_shows_the_entries_line(store, capsys):
    from stockbot.status import account_status

    for day in ("2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-09"):
        cycle(store, day, "denied", "lesson:LL-301")
    text = account_status("drought")
    assert "entries: ALARM - blocked 5 consecutive session(s) by lesson:LL-301 (5x)" in text


def test_dashboard_health_card_names_the_rule(store):
    from stockbot.dashboard.data import collect_all
    from stockbot.dashboard.render import render_page

    for day in ("2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-09"):
        cycle(store, day, "denied", "lesson:LL-301")
    page = render_page(collect_all())
    assert "entries: ALARM - blocked 5 consecutive session(s) by lesson:LL-301" in page
