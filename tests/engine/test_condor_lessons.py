"""Lessons in the decision cycle: retrieved for the trade context, shown to the agents, recorded
with the decision; their guards are enforced by the risk gate before every order."""

from __future__ import annotations

from stockbot.lessons.guards import parse_guard


class Retrieved:
    """A retrieved lesson as ``LessonService.for_context`` returns it (the two methods used)."""

    def as_ref(self) -> dict:
        return {"id": "LL-900", "title": "Never leg into a condor", "prevention": "send one mleg order",
                "score": 0.91}

    def as_record(self) -> dict:
        return {"id": "LL-900", "score": 0.91, "title": "Never leg into a condor", "status": "confirmed"}


class Lessons:
    """The lessons service's surface the engine uses: ``for_context(ctx, k)`` and ``guards()``."""

    def __init__(self, guards=(), broken_guards: bool = False, broken_index: bool = False):
        self._guards, self.broken, self.broken_index = list(guards), broken_guards, broken_index
        self.asked: list = []

    def for_context(self, ctx, k):
        self.asked.append((ctx, k))
        if self.broken_index:
            raise RuntimeError("qdrant: collection lessons not found")
        return [Retrieved()]

    def guards(self, now=None):
        if self.broken:
            raise OSError("lessons directory unreadable")
        return self._guards


async def test_lessons_are_retrieved_prompted_and_recorded(make_sim, store, build):
    sim = await make_sim()
    lessons = Lessons()
    rig = build(sim, store, lessons=lessons)
    out = await rig.engine.decide()

    assert out.status == "entered", out.reason
    [(ctx, k)] = lessons.asked
    assert ctx.strategy == "condor" and ctx.symbol == "SPY" and ctx.order_type == "mleg limit"
    assert 0 <= ctx.iv_rank <= 1 and k == rig.settings.lessons.top_k
    decision = store.decisions()[0]
    assert decision.lessons == [Retrieved().as_record()]
    assert "LL-900" in decision.prompt and "send one mleg order" in decision.prompt


async def test_a_lesson_guard_denies_the_entry_before_it_is_sent(make_sim, store, build):
    sim = await make_sim()
    guard = parse_guard({"kind": "block_symbol", "symbol": "SPY"}, "LL-901")
    rig = build(sim, store, lessons=Lessons([guard]))
    out = await rig.engine.decide()

    assert out.status == "denied" and "LL-901" in out.reason
    assert rig.order_posts() == [] and store.orders() == []
    [event] = store.events(kind="order_denied")
    assert event.payload["rule"] == "lesson:LL-901"


async def test_unreadable_guards_deny_opening_orders(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store, lessons=Lessons(broken_guards=True))
    out = await rig.engine.decide()

    assert out.status == "denied" and "lessons directory unreadable" in out.reason
    assert rig.order_posts() == []


async def test_a_broken_index_is_recorded_with_the_decision_and_alerted(make_sim, store, build):
    """Production-defaults defect 9: retrieval errors were dropped silently. With only the vector
    index broken the guards still enforce (read from the files), so the decision goes on."""
    sim = await make_sim()
    rig = build(sim, store, lessons=Lessons(broken_index=True))
    out = await rig.engine.decide()
    assert out.status == "entered", out.reason
    decision = store.decisions()[0]
    assert "collection lessons not found" in decision.context["lessons_error"]
    [event] = store.events(kind="lessons_unavailable")
    assert event.payload["guards_error"] is None
    [(kind, message)] = rig.alerts.sent
    assert kind == "lessons_unavailable" and "guards still enforce" in message


async def test_unreadable_guards_hold_the_decision(make_sim, store, build):
    sim = await make_sim()
    rig = build(sim, store, lessons=Lessons(broken_index=True, broken_guards=True))
    out = await rig.engine.decide()
    assert out.status == "blocked" and "guards unreadable" in out.reason
    assert rig.order_posts() == [] and store.decisions() == []  # no agent was asked, nothing sent
    assert [k for k, _ in rig.alerts.sent] == ["lessons_unavailable"]
    assert "HOLD" in rig.alerts.sent[0][1]
