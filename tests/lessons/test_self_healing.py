"""The loop at service level: a failure is captured, the next similar decision retrieves the lesson,
and its guard denies the repeat (while the corrected order passes)."""

from __future__ import annotations

from lesson_helpers import condor_ctx, condor_intent

from stockbot import config
from stockbot.config import LessonSettings
from stockbot.domain import OrderClass
from stockbot.lessons.capture import LessonCapture
from stockbot.lessons.failure import Failure
from stockbot.lessons.files import LessonStore
from stockbot.lessons.index import LessonIndex
from stockbot.lessons.model import Status
from stockbot.lessons.service import LessonService, prompt_block
from stockbot.store import Store


def test_rejected_legged_condor_becomes_a_guard_that_stops_the_repeat(embedder):
    """No seed lessons at all: whatever stops the repeat was learned from the failure."""
    account = "selfheal"
    settings = LessonSettings()
    index = LessonIndex.open(embedder, account)  # embedded, on disk, at the account's path
    store = Store(config.account_paths(account)["state_db"])
    try:
        service = LessonService(LessonStore(account), index, settings)
        capture = LessonCapture(account, store=store, index=index, settings=settings)
        assert service.startup().lessons == 0
        ctx = condor_ctx(account=account)
        bad = condor_intent(OrderClass.SIMPLE, client_order_id="cond-1")
        assert [g for g in service.guards() if g.check(bad, ctx)] == []  # nothing stops it yet

        # 1. the failure: the broker rejects a four-leg condor sent as a simple order
        seq = store.append_event("order_rejected", {"client_order_id": "cond-1", "reason": "multi-leg needs mleg"})
        failure = Failure.for_order("order_rejected", "execution",
                                    "broker rejected iron condor: legs sent without order_class=mleg", bad, ctx,
                                    event_id=seq, reason="order_class simple not allowed for multi-leg options")
        result = capture.capture(failure)
        assert result is not None and result.action == "created" and result.guard == "require_mleg"

        # 2. the lesson is on disk, as a draft, with the failure's evidence
        lesson = LessonStore(account).get(result.lesson_id)
        assert lesson.status is Status.DRAFT and lesson.guard.kind == "require_mleg"
        assert lesson.evidence[0].event_id == result.event_seq
        assert f"failure event {seq}" in lesson.evidence[0].note

        # 3. the next similar decision retrieves it and carries it into the prompt and the record
        next_ctx = condor_ctx(account=account, iv_rank=0.51, market_condition="choppy")
        retrieved = service.for_context(next_ctx)
        assert retrieved and retrieved[0].id == lesson.id
        assert lesson.id in prompt_block(retrieved)
        store.record_decision("d-2", strategy="condor", action="ENTER", params={}, reason="test",
                              lessons=[r.as_record() for r in retrieved], prompt=prompt_block(retrieved))
        assert store.decisions(1)[0].lessons[0]["id"] == lesson.id

        # 4. the repeat is denied by the learned guard; the corrected atomic order passes
        repeat = condor_intent(OrderClass.SIMPLE, client_order_id="cond-2")
        denials = [r for g in service.guards() if (r := g.check(repeat, next_ctx))]
        assert len(denials) == 1 and denials[0].startswith(f"{lesson.id} (require_mleg)")
        fixed = condor_intent(OrderClass.MLEG, client_order_id="cond-3")
        assert [r for g in service.guards() if g.check(fixed, next_ctx)] == []

        # 5. the same failure again is an occurrence of the same lesson, not a new one
        again = capture.capture(Failure.for_order("order_rejected", "execution", "broker rejected iron condor again",
                                                  repeat, next_ctx,
                                                  reason="order_class simple not allowed for multi-leg options"))
        assert again.action in ("updated", "rate_limited") and again.lesson_id == lesson.id
        assert len(LessonStore(account).load().lessons) == 1
    finally:
        store.close()
        index.close()
