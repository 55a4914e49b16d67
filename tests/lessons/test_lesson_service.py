"""LessonService: retrieval for a trade context, guards by status, picking up file changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lesson_helpers import condor_ctx, condor_intent

from stockbot.config import LessonSettings
from stockbot.domain import OrderClass
from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import LessonStore
from stockbot.lessons.guards import parse_guard
from stockbot.lessons.model import Status, Tags
from stockbot.lessons.service import LessonService, build_query, enforced_guards, prompt_block


@pytest.fixture
def service(seeds, memory_index):
    svc = LessonService(LessonStore("acct1"), memory_index("acct1"), LessonSettings())
    svc.startup()
    return svc


def test_query_is_built_from_the_trade_context():
    q = build_query(condor_ctx())
    for part in ("iron condor", "SPY", "mleg limit", "IV rank 0.42", "range-bound"):
        assert part in q


def test_for_context_returns_top_k_applicable_with_scores(service):
    hits = service.for_context(condor_ctx(order_type="legged limit", market_condition="fast market"))
    assert len(hits) == 5
    assert hits[0].id == "LL-221"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    rec = hits[0].as_record()
    assert rec["id"] == "LL-221" and rec["guard"] == "require_mleg" and isinstance(rec["score"], float)
    assert hits[0].as_ref()["prevention"].startswith("Pre-trade check")
    # equity/index-only lessons never come back for a condor decision
    assert "LL-178" not in {h.id for h in service.for_context(condor_ctx(), k=12)}


def test_for_context_filters_retired_and_other_symbols(service):
    store = service.store
    other = store.create(store.new_draft(title="QQQ iron condor partial fill", trigger="partial fill on QQQ condor",
                                         tags=Tags(strategy=("condor",), symbol=("QQQ",))))
    retired = store.create(store.new_draft(title="Old iron condor partial fill lesson",
                                           trigger="iron condor partial fill", status=Status.RETIRED))
    ids = {h.id for h in service.for_context(condor_ctx(), k=12)}
    assert other.id not in ids and retired.id not in ids
    qqq = {h.id for h in service.for_context(condor_ctx(symbol="QQQ"), k=12)}
    assert other.id in qqq and "LL-221" not in qqq  # LL-221 is tagged SPY


def test_prompt_block_carries_ids_and_prevention(service):
    hits = service.for_context(condor_ctx())
    block = prompt_block(hits)
    assert "LL-221" in block and "Prevention:" in block
    assert len(block) <= 2400
    assert prompt_block([]) == ""


def test_guards_by_status(service):
    store = service.store
    kinds = {g.lesson_id: g.kind for g in service.guards()}
    assert kinds == {"LL-221": "require_mleg", "LL-282": "close_via_close_position"}
    broad = store.create(store.new_draft(title="Block XYZ", trigger="x"))
    store.save(replace(broad, guard=parse_guard({"kind": "block_symbol", "symbol": "XYZ"}, broad.id)))
    narrow = store.create(store.new_draft(title="Require mleg draft", trigger="x"))
    store.save(replace(narrow, guard=parse_guard({"kind": "require_mleg"}, narrow.id)))
    ids = {g.lesson_id for g in service.guards()}
    assert narrow.id in ids and broad.id not in ids  # drafts enforce only draft-safe guards
    store.set_status(broad.id, Status.CONFIRMED)
    assert broad.id in {g.lesson_id for g in service.guards()}
    store.set_status(broad.id, Status.RETIRED)
    assert broad.id not in {g.lesson_id for g in service.guards()}


def test_seed_guard_denies_legged_condor(service):
    ctx = condor_ctx()
    reasons = [r for g in service.guards() if (r := g.check(condor_intent(OrderClass.SIMPLE), ctx))]
    assert len(reasons) == 1 and reasons[0].startswith("LL-221")
    assert not [r for g in service.guards() if g.check(condor_intent(OrderClass.MLEG), ctx)]


def test_new_files_are_picked_up_without_restart(service):
    store = service.store
    x = store.create(store.new_draft(title="Dividend capture assignment on short call", trigger="early assignment",
                                     tags=Tags(strategy=("condor",))))
    hits = service.search("early assignment on a short call", 1)
    assert hits[0].id == x.id
    store.set_status(x.id, Status.RETIRED)
    assert x.id not in {h.id for h in service.search("early assignment on a short call", 3)}


def test_startup_reports_corrupt_files_and_repairs_drift(seeds, memory_index):
    store = LessonStore("acct1")
    store.account_dir.mkdir(parents=True)
    (store.account_dir / "LL-500.md").write_text("---\nid: LL-500\nguard: {kind: nope}\n---\n")
    index = memory_index("acct1")
    report = LessonService(store, index).startup()
    assert report.lessons == 12 and len(report.errors) == 1 and "LL-500.md" in report.errors[0]
    assert set(report.drift.missing) == {x.id for x in store.load().lessons}
    assert LessonService(store, index).startup().drift.clean


def test_index_faults_surface_as_lesson_error(service, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("qdrant went away")

    monkeypatch.setattr(service.index, "search", boom)
    with pytest.raises(LessonError, match="qdrant went away"):
        service.for_context(condor_ctx())
    # guards come from the files: still enforced with a broken index
    assert {g.lesson_id for g in service.guards()} == {"LL-221", "LL-282"}


def test_enforced_guards_pure():
    assert enforced_guards([]) == []
