"""Capture: drafts, fingerprint and similarity dedup, rate limit across restarts, never raising."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from lesson_helpers import REPO_SEEDS, condor_ctx, condor_intent

from stockbot import config
from stockbot.config import LessonSettings
from stockbot.domain import OrderClass
from stockbot.lessons.capture import LessonCapture, shared_occurrences
from stockbot.lessons.failure import Failure, fingerprint, normalize_text
from stockbot.lessons.files import LessonStore
from stockbot.lessons.model import Status
from stockbot.store import Store

T0 = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self, t=T0):
        self.t = t

    def __call__(self):
        return self.t


def rejected(qty="1", order_id="6f1c2d9e-0b7a-4c1e-9d2f-3a4b5c6d7e8f", price="412.37") -> Failure:
    return Failure(kind="order_rejected", component="broker", strategy="equity", symbol="AAPL", order_type="limit",
                   summary=f"order {order_id} for {qty} AAPL @ {price} rejected",
                   details={"code": 40310000, "reason": f"insufficient buying power (need {price}, have 12.50)",
                            "qty": qty, "order_id": order_id})


def capture(account="acct1", **kw) -> LessonCapture:
    kw.setdefault("settings", LessonSettings(capture_min_interval_s=0))
    return LessonCapture(account, **kw)


def test_fingerprint_ignores_volatile_numbers_and_ids():
    a, b = rejected("1", "6f1c2d9e-0b7a-4c1e-9d2f-3a4b5c6d7e8f", "412.37"), rejected("7", "aa11bb22-0b7a-4c1e-9d2f-3a4b5c6d7e8f", "9.5")
    assert fingerprint(a) == fingerprint(b)
    other = Failure(kind="order_rejected", component="broker", strategy="equity", symbol="AAPL",
                    summary="x", details={"code": 42210000, "reason": "invalid price increment"})
    assert fingerprint(other) != fingerprint(a)
    assert normalize_text("Order 123 at 4.50 id deadbeefcafe1234") == "order # at # id <id>"
    legged = Failure.for_order("order_rejected", "execution", "rejected 1 condor", condor_intent(OrderClass.SIMPLE),
                               condor_ctx())
    legged2 = Failure.for_order("order_rejected", "execution", "rejected 3 condor",
                                condor_intent(OrderClass.SIMPLE, client_order_id="c-2", qty=3), condor_ctx())
    assert fingerprint(legged) == fingerprint(legged2)
    assert legged.is_multileg_without_mleg and legged.symbol == "SPY"


def test_first_capture_writes_a_rule_based_draft(seeds):
    cap = capture(clock=Clock())
    res = cap.capture(rejected())
    assert res.action == "created" and res.lesson_id == "LL-291" and res.occurrences == 1
    x = LessonStore("acct1").get("LL-291")
    assert x.status is Status.DRAFT and x.source == "captured"
    assert "insufficient buying power" in x.title and "AAPL" in x.trigger
    assert x.impact and x.root_cause and x.prevention
    assert x.tags.strategy == ("equity",) and x.tags.symbol == ("AAPL",) and "broker" in x.tags.component
    assert x.guard is None  # no broad guard is ever drafted automatically
    assert x.fingerprints == (res.fingerprint,)
    assert x.path == config.account_paths("acct1")["lessons"] / "LL-291.md"


def test_dedup_by_fingerprint_updates_count_and_evidence(seeds, tmp_path):
    store = Store(config.account_paths("acct1")["state_db"])
    cap = capture(store=store)
    first = cap.capture(rejected("1"))
    second = cap.capture(rejected("5", "11112222-0b7a-4c1e-9d2f-3a4b5c6d7e8f", "77.1"))
    assert second.action == "updated" and second.lesson_id == first.lesson_id and second.occurrences == 2
    x = LessonStore("acct1").get(first.lesson_id)
    assert x.occurrences == 2
    events = store.events(kind="lesson_captured")
    assert [e.seq for e in events] == [first.event_seq, second.event_seq]
    assert [e.event_id for e in x.evidence] == [first.event_seq, second.event_seq]
    assert events[0].payload["lesson_id"] == first.lesson_id and events[0].payload["fingerprint"] == first.fingerprint
    assert len(list(LessonStore("acct1").account_dir.glob("LL-*.md"))) == 1
    store.close()


def test_dedup_by_fingerprint_survives_a_lost_state_file(seeds):
    first = capture().capture(rejected())
    config.account_paths("acct1")["capture_state"].unlink()
    again = capture().capture(rejected())
    assert again.action == "updated" and again.lesson_id == first.lesson_id  # fingerprint kept in the file


def test_dedup_by_similarity(seeds, memory_index):
    index = memory_index("acct1")
    cap = capture(index=index, settings=LessonSettings(capture_min_interval_s=0, dedup_threshold=0.9))
    a = cap.capture(Failure(kind="stale_quotes", component="stream", symbol="SPY", strategy="condor",
                            summary="SPY quote is 95 s old at decision time", details={"age_s": 95}))
    # a different component -> a different fingerprint, but the drafted lesson is near-identical
    b = cap.capture(Failure(kind="stale_quotes", component="quote_stream", symbol="SPY", strategy="condor",
                            summary="SPY quote is 120 s old at decision time", details={"age_s": 120, "feed": "iex"}))
    assert a.fingerprint != b.fingerprint
    assert b.action == "updated" and b.lesson_id == a.lesson_id and b.similarity >= 0.9
    x = LessonStore("acct1").get(a.lesson_id)
    assert x.occurrences == 2 and set(x.fingerprints) == {a.fingerprint, b.fingerprint}
    # clearly different failures stay separate lessons
    c = cap.capture(Failure(kind="agent_timeout", component="consensus", summary="agent gpt timed out after 20 s",
                            details={"reason": "timeout 20s"}))
    assert c.action == "created" and c.lesson_id != a.lesson_id


def test_similarity_to_a_shared_seed_records_the_occurrence_in_account_state(seeds, memory_index):
    index = memory_index("acct1")
    index.reindex(LessonStore("acct1").load().lessons, progress=False)
    cap = capture(index=index, settings=LessonSettings(capture_min_interval_s=0, dedup_threshold=0.3))
    res = cap.capture(Failure(kind="stream_406", component="stream", summary="connection limit exceeded",
                              details={"code": 406}))
    assert res.action == "updated" and res.shared and res.lesson_id == "LL-107"
    occ = shared_occurrences("acct1", "LL-107")
    assert occ["count"] == 1 and occ["evidence"]
    seed = config.shared_lessons_dir() / "LL-107.md"
    assert seed.read_text() == (REPO_SEEDS / "LL-107.md").read_text()  # the shared file is never written
    assert res.occurrences == LessonStore("acct1").get("LL-107").occurrences + 1


def test_rate_limit_per_fingerprint_survives_restart(seeds):
    clock = Clock()
    settings = LessonSettings(capture_min_interval_s=300)
    first = LessonCapture("acct1", settings=settings, clock=clock).capture(rejected())
    assert first.action == "created"
    clock.t = T0 + timedelta(seconds=10)
    assert LessonCapture("acct1", settings=settings, clock=clock).capture(rejected()).action == "rate_limited"
    # a restart: a brand-new LessonCapture reads the persisted state
    restarted = LessonCapture("acct1", settings=settings, clock=clock)
    clock.t = T0 + timedelta(seconds=200)
    limited = restarted.capture(rejected())
    assert limited.action == "rate_limited" and limited.lesson_id == first.lesson_id
    # a different failure is not limited by this fingerprint
    other = Failure(kind="job_exception", component="scheduler", summary="KeyError in manage",
                    details={"exception": "KeyError", "job": "manage"})
    assert restarted.capture(other).action == "created"
    state = json.loads(config.account_paths("acct1")["capture_state"].read_text())
    assert state["fingerprints"][first.fingerprint]["suppressed"] == 2
    clock.t = T0 + timedelta(seconds=301)
    after = restarted.capture(rejected())
    assert after.action == "updated" and after.occurrences == 4  # 1 + 2 suppressed + this one
    assert LessonStore("acct1").get(first.lesson_id).occurrences == 4


def test_orphan_option_draft_carries_require_mleg_guard(seeds):
    res = capture().capture(Failure(kind="orphan_position", component="reconciliation", symbol="SPY260417P00540000",
                                    strategy="condor", summary="short put with no owning trade",
                                    details={"asset_class": "us_option", "position_side": "short"}))
    x = LessonStore("acct1").get(res.lesson_id)
    assert x.guard is not None and x.guard.kind == "require_mleg" and x.severity.value == "critical"
    assert x.tags.symbol == ("SPY260417P00540000",)


class BrokenIndex:
    def __getattr__(self, name):
        def boom(*a, **k):
            raise RuntimeError(f"index {name} failed")

        return boom


def test_capture_never_raises(seeds, monkeypatch):
    # a failing index: similarity is skipped, the lesson is still written
    res = capture(index=BrokenIndex()).capture(rejected())
    assert res is not None and res.action == "created"
    # a failing file system: None, no exception
    cap = capture()
    monkeypatch.setattr(cap.lessons, "load", lambda: (_ for _ in ()).throw(OSError("disk gone")))
    assert cap.capture(rejected("2")) is None
    # garbage in: None, no exception
    assert capture().capture(None) is None  # type: ignore[arg-type]


def test_failing_event_store_still_writes_the_lesson(seeds):
    class BadStore:
        def append_event(self, kind, payload=None):
            raise RuntimeError("db locked")

    res = capture(store=BadStore()).capture(rejected())
    assert res.action == "created" and res.event_seq is None


def test_corrupt_state_file_is_set_aside(seeds):
    path = config.account_paths("acct1")["capture_state"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert capture().capture(rejected()).action == "created"
    assert path.with_suffix(".corrupt.json").exists()
    assert json.loads(path.read_text())["fingerprints"]


def test_optional_llm_drafter_failure_keeps_rule_based_text(seeds):
    from stockbot.lessons.drafts import LLMDrafter

    drafter = LLMDrafter("openai/none", timeout_s=0.5, api_base="http://127.0.0.1:9", api_key="x")
    res = capture(drafter=drafter).capture(rejected())
    x = LessonStore("acct1").get(res.lesson_id)
    assert res.action == "created" and "Not yet analysed" in x.root_cause


def test_llm_text_that_lint_refuses_is_not_used(seeds):
    from dataclasses import replace

    class BracketAdvisor:  # the LLM step's seam: answers advice the broker cannot carry out
        def refine(self, draft, failure):
            return replace(draft, prevention="Protect each iron condor with a bracket order on its legs.")

    res = capture(drafter=BracketAdvisor()).capture(rejected())
    x = LessonStore("acct1").get(res.lesson_id)
    assert res.action == "created" and "bracket" not in x.prevention.lower()


@pytest.mark.parametrize("kind", ["order_rejected", "broker_error", "orphan_position", "reconcile_mismatch",
                                  "stream_406", "stale_quotes", "agent_timeout", "agent_invalid_output",
                                  "job_exception", "out_of_capital", "duplicate_order", "pdt_lockout",
                                  "market_closed", "something_new"])
def test_every_failure_kind_drafts_a_valid_lesson(seeds, kind):
    res = capture().capture(Failure(kind=kind, component="engine", summary=f"{kind} happened", details={"n": 1}))
    assert res is not None and res.action == "created"
    assert LessonStore("acct1").load().errors == ()


def test_from_exception():
    try:
        {}["missing"]
    except KeyError as exc:
        f = Failure.from_exception("scheduler", exc, job="manage_positions")
    assert f.kind == "job_exception" and f.details["exception"] == "KeyError" and "manage_positions" in f.summary


def test_secrets_never_reach_the_lesson_file(seeds):
    key = "PKABCDEFGHIJKLMNOP12"
    res = capture().capture(Failure(kind="broker_error", component="broker",
                                    summary=f"401 unauthorized for key {key}",
                                    details={"reason": f"bad key {key}", "api_key": "hunter2-secret"}))
    text = LessonStore("acct1").get(res.lesson_id).path.read_text()
    assert key not in text and "hunter2-secret" not in text and "REDACTED" in text
