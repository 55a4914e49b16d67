"""The daemon's ONNX embedder is the same model as sentence-transformers: same vectors, same rankings.

The torch embedder is loaded here on purpose (the comparison), never in the daemon
(tests/daemon/test_lean_daemon.py checks that on a real daemon process).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from qdrant_client import QdrantClient

from stockbot.lessons.embedder import Embedder
from stockbot.lessons.files import LessonStore
from stockbot.lessons.index import LessonIndex, lesson_vectors
from stockbot.lessons.onnx_model import OnnxMiniLM, ensure_exported, is_exported, model_dir
from stockbot.lessons.retrieval_quality import load_cases, score


@pytest.fixture(scope="module")
def torch_embedder():
    return Embedder("torch")


def _ranks(index, cases, k=5):
    """1-based rank of the expected lesson per case (k + 1 when outside the top k)."""
    out = []
    for c in cases:
        ids = [lesson.id for lesson, _ in index.search(c.text, k)]
        out.append(ids.index(c.expect) + 1 if c.expect in ids else k + 1)
    return out


def test_the_default_embedder_runs_on_onnx(embedder):
    assert embedder.runtime == "onnx"


def test_vectors_match_sentence_transformers(seeds, embedder, torch_embedder):
    lessons = list(LessonStore("acct1").load().lessons)
    texts = [c.text for c in load_cases()] + [x.embedding_text() for x in lessons]
    texts += [t for x in lessons for t in x.embedding_fields() if t.strip()]
    onnx_v = embedder.encode(texts, use_cache=False)
    torch_v = torch_embedder.encode(texts, use_cache=False)
    cos = np.sum(onnx_v * torch_v, axis=1)
    assert cos.min() >= 0.999, (float(cos.min()), texts[int(cos.argmin())])
    assert np.allclose(np.linalg.norm(onnx_v, axis=1), 1.0, atol=1e-5)
    # the lesson vectors (whole text + mean of fields) too, as the index stores them
    lv = np.sum(lesson_vectors(embedder, lessons) * lesson_vectors(torch_embedder, lessons), axis=1)
    assert lv.min() >= 0.999


def test_same_rankings_or_better_on_the_retrieval_set(seeds, embedder, torch_embedder):
    lessons = list(LessonStore("acct1").load().lessons)
    indexes = {}
    for name, emb in (("onnx", embedder), ("torch", torch_embedder)):
        indexes[name] = LessonIndex(emb, QdrantClient(":memory:"), account="acct1", describe=name)
        indexes[name].reindex(lessons, progress=False)
    try:
        for split in ("dev", "heldout"):
            cases = load_cases(split=split)
            onnx_ranks, torch_ranks = _ranks(indexes["onnx"], cases), _ranks(indexes["torch"], cases)
            worse = [(c.text, o, t) for c, o, t in zip(cases, onnx_ranks, torch_ranks) if o > t]
            assert not worse, worse  # every case: the expected lesson ranks the same or higher
            s_onnx, s_torch = score(indexes["onnx"], cases), score(indexes["torch"], cases)
            assert s_onnx.recall_at_1 >= s_torch.recall_at_1 and s_onnx.mrr >= s_torch.mrr - 1e-12
    finally:
        for index in indexes.values():
            index.close()


def test_padding_and_batching_do_not_change_a_vector(embedder):
    texts = ["short", "a much longer description of an order that was rejected twice by the broker " * 3]
    together = embedder.encode(texts, use_cache=False)
    alone = np.stack([embedder.encode([t], use_cache=False)[0] for t in texts])
    assert np.sum(together * alone, axis=1).min() >= 0.99999


@pytest.mark.slow
def test_export_into_a_fresh_cache_once(tmp_path, embedder):
    """First use exports (a child process with torch), checked against sentence-transformers;
    the second use finds the export and does not redo it."""
    root = tmp_path / "embed-cache"
    path = ensure_exported(root)
    assert path == model_dir(root) and is_exported(path)
    meta = json.loads((path / "meta.json").read_text())
    assert meta["check_min_cosine"] >= 0.9999 and meta["dim"] == 384
    stamp = (path / "model.onnx.data").stat().st_mtime_ns
    assert ensure_exported(root) == path and (path / "model.onnx.data").stat().st_mtime_ns == stamp
    assert not [p for p in root.iterdir() if p.name.startswith(".export-")]  # no half-written export left
    fresh = OnnxMiniLM(path).encode(["stale quotes on SPY"])[0]
    assert float(fresh @ embedder.encode_one("stale quotes on SPY", use_cache=False)) >= 0.99999
