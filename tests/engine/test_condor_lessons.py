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

    def __init__(self, guards=(), broken_guards: bool = False):
        self._guards, self.broken = list(guards), broken_guards
        self.asked: list = []

    def for_context(self, ctx, k):
        self.asked.append((ctx, k))
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
    assert decision["lessons"] == [Retrieved().as_record()]
    assert "LL-900" in decision["prompt"] and "send one mleg order" in decision["prompt"]


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
