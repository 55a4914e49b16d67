"""The Qdrant index: ranking, embedded on-disk mode, drift detection and repair, filters."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from stockbot import config
from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import LessonStore
from stockbot.lessons.index import LessonIndex, Where
from stockbot.lessons.model import Status, Tags


def test_iron_condor_partial_fill_ranks_ll221_first_on_disk(seeds, embedder):
    """Embedded on-disk mode at the account's path, as the daemon runs it."""
    lessons = LessonStore("acct1").load().lessons
    index = LessonIndex.open(embedder, "acct1")
    try:
        assert index.fast_local and not index.remote
        assert index.reindex(lessons, progress=False) == len(lessons)
        hits = index.search("iron condor partial fill", 5)
        assert hits[0][0].id == "LL-221"
        assert hits[0][1] > hits[1][1] and all(-1 <= s <= 1 for _, s in hits)
    finally:
        index.close()
    assert (config.account_paths("acct1")["qdrant"]).is_dir()
    # the index persisted: a new process (new client) finds the same points without reindexing
    index = LessonIndex.open(embedder, "acct1")
    try:
        assert index.drift(lessons).clean
        assert index.count() == len(lessons)
        assert index.search("iron condor partial fill", 1)[0][0].id == "LL-221"
    finally:
        index.close()


@pytest.mark.parametrize("query, expected", [
    ("websocket connection limit exceeded 406", "LL-107"),
    ("order sent twice after a timeout retry", "LL-163"),
    ("insufficient buying power", "LL-189"),
    ("closing a position with a manual counter-order", "LL-282"),
    ("all LLM agents timed out", "LL-237"),
])
def test_seed_retrieval(seeds, memory_index, query, expected):
    index = memory_index("acct1")
    index.reindex(LessonStore("acct1").load().lessons, progress=False)
    assert index.search(query, 3)[0][0].id == expected


def test_second_process_on_same_embedded_dir_gets_a_clear_error(seeds, embedder):
    first = LessonIndex.open(embedder, "acct1")
    try:
        with pytest.raises(LessonError, match="in use by another process"):
            LessonIndex.open(embedder, "acct1")
    finally:
        first.close()


def test_drift_detects_added_removed_and_edited_files(seeds, memory_index):
    store = LessonStore("acct1")
    a = store.create(store.new_draft(title="Lesson A about margin calls", trigger="margin call at open"))
    b = store.create(store.new_draft(title="Lesson B about halted symbols", trigger="symbol halted mid-order"))
    index = memory_index("acct1")
    index.reindex(store.load().lessons, progress=False)
    assert index.drift(store.load().lessons).clean

    c = store.create(store.new_draft(title="Lesson C new file", trigger="a new failure"))
    (store.account_dir / f"{b.id}.md").unlink()
    store.save(replace(a, root_cause="edited by a person"))
    shared_path = config.shared_lessons_dir() / "LL-107.md"
    shared_path.write_text(shared_path.read_text().replace("one market-data stream", "ONE stream"))

    drift = index.drift(store.load().lessons)
    assert drift.missing == (c.id,)
    assert drift.extra == (b.id,)
    assert drift.changed == tuple(sorted([a.id, "LL-107"]))
    assert "missing" in drift.describe() and not drift.clean

    repaired = index.sync(store.load().lessons)
    assert repaired == drift
    assert index.drift(store.load().lessons).clean
    assert b.id not in {x.id for x, _ in index.search("symbol halted mid-order", 20)}
    assert index.search("a new failure", 1)[0][0].id == c.id


def test_evidence_updates_are_not_drift(seeds, memory_index):
    store = LessonStore("acct1")
    a = store.create(store.new_draft(title="t", trigger="x"))
    index = memory_index("acct1")
    index.reindex(store.load().lessons, progress=False)
    store.save(a.with_occurrence(None, "fp"))
    assert index.drift(store.load().lessons).clean


def test_status_change_is_drift_and_retired_lessons_are_filtered(seeds, memory_index):
    store = LessonStore("acct1")
    index = memory_index("acct1")
    index.reindex(store.load().lessons, progress=False)
    assert index.search("iron condor partial fill", 1, Where())[0][0].id == "LL-221"
    path = config.shared_lessons_dir() / "LL-221.md"
    path.write_text(path.read_text().replace("status: confirmed", "status: retired"))
    assert index.drift(store.load().lessons).changed == ("LL-221",)
    index.sync(store.load().lessons)
    assert "LL-221" not in {x.id for x, _ in index.search("iron condor partial fill", 5, Where())}
    assert index.search("iron condor partial fill", 1, Where(include_retired=True))[0][0].id == "LL-221"


@pytest.mark.parametrize("fast_local", [True, False], ids=["numpy-mirror", "qdrant-filter"])
def test_applicability_filter_both_search_paths(seeds, memory_index, fast_local):
    """The mirror (embedded mode) and the Qdrant filter (server mode) return the same lessons."""
    store = LessonStore("acct1")
    eq = store.create(store.new_draft(title="Equity short squeeze on AAPL", trigger="short squeeze",
                                      tags=Tags(strategy=("equity",), symbol=("AAPL",))))
    index = memory_index("acct1", fast_local=fast_local)
    index.reindex(store.load().lessons, progress=False)
    for_condor = {x.id for x, _ in index.search("short squeeze", 20, Where(strategy="condor", symbol="SPY"))}
    for_equity = {x.id for x, _ in index.search("short squeeze", 20, Where(strategy="equity", symbol="AAPL"))}
    assert eq.id not in for_condor and eq.id in for_equity
    assert "LL-221" in for_condor and "LL-221" not in for_equity  # tagged condor/SPY
    assert "LL-107" in for_condor and "LL-107" in for_equity  # generic lesson


def test_mirror_and_qdrant_scores_agree(seeds, memory_index, embedder):
    lessons = LessonStore("acct1").load().lessons
    fast, slow = memory_index("acct1", fast_local=True), memory_index("acct1", fast_local=False)
    fast.reindex(lessons, progress=False)
    slow.reindex(lessons, progress=False)
    v = embedder.encode_one("stale quotes and a stream that went quiet")
    a = [(x.id, round(s, 4)) for x, s in fast.search_vector(v, 5)]
    b = [(x.id, round(s, 4)) for x, s in slow.search_vector(v, 5)]
    assert [i for i, _ in a] == [i for i, _ in b]
    assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-3)


def test_accounts_are_scoped_in_one_collection(seeds, embedder):
    """Two accounts sharing one Qdrant (as with QDRANT_URL) see the seeds and only their own lessons."""
    from qdrant_client import QdrantClient

    client = QdrantClient(":memory:")
    a_store, b_store = LessonStore("acct_a"), LessonStore("acct_b")
    a_only = a_store.create(a_store.new_draft(title="Account A learned about gaps", trigger="overnight gap"))
    b_only = b_store.create(b_store.new_draft(title="Account B learned about gaps", trigger="overnight gap"))
    assert a_only.id == b_only.id  # same number in different accounts...
    a_idx = LessonIndex(embedder, client, account="acct_a", fast_local=False)
    b_idx = LessonIndex(embedder, client, account="acct_b", fast_local=False)
    a_idx.reindex(a_store.load().lessons, progress=False)
    b_idx.reindex(b_store.load().lessons, progress=False)
    a_hits = a_idx.search("overnight gap", 3)
    assert a_hits[0][0].title.startswith("Account A")  # ...but never each other's
    assert all(not x.title.startswith("Account B") for x, _ in a_hits)
    assert a_idx.drift(a_store.load().lessons).clean and b_idx.drift(b_store.load().lessons).clean
    # reindexing A does not delete B's points
    a_idx.reindex(a_store.load().lessons, progress=False)
    assert b_idx.drift(b_store.load().lessons).clean


def test_reindex_shows_progress(seeds, memory_index, capsys):
    index = memory_index("acct1")
    index.reindex(LessonStore("acct1").load().lessons, progress=True)
    assert "reindex lessons" in capsys.readouterr().err


def test_draft_status_lessons_are_searchable(seeds, memory_index):
    store = LessonStore("acct1")
    x = store.create(store.new_draft(title="Assignment risk on short calls before ex-dividend",
                                     trigger="early assignment", status=Status.DRAFT))
    index = memory_index("acct1")
    index.reindex(store.load().lessons, progress=False)
    assert index.search("early assignment ex-dividend", 1)[0][0].id == x.id


def test_embedder_cache_returns_the_same_vectors(embedder):
    texts = ["iron condor partial fill", "stale quotes", "iron condor partial fill"]
    cold = embedder.encode(texts, use_cache=False)
    warm = embedder.encode(texts)
    again = embedder.encode(texts)
    assert cold.shape == (3, 384) and np.allclose(cold, warm, atol=1e-5) and np.array_equal(warm, again)
    assert np.allclose(np.linalg.norm(cold, axis=1), 1.0, atol=1e-4)
    assert embedder.encode([]).shape == (0, 384)


def test_benchmark_hook_runs_small(embedder):
    """The benchmark itself (figures are for scripts/bench.py; here only its shape is checked)."""
    from stockbot.lessons.bench import measure_retrieval, synthetic_lessons

    assert len({x.embedding_text() for x in synthetic_lessons(200)}) == 200
    out = measure_retrieval(sizes=(20, 40), queries=5, embedder=embedder, measure_memory=False)
    assert set(out["sizes"]) == {20, 40}
    for row in out["sizes"].values():
        assert row["total_ms"]["p50"] > 0 and row["search_ms"]["p99"] >= row["search_ms"]["p50"]
