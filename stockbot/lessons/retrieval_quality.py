"""Retrieval quality: does an operator's description of a failure find the right lesson first?

``retrieval_set.json`` holds real-world failure descriptions written the way an operator reports
them (not copied from the lesson text), each labelled with the seed lesson it should retrieve.
``score()`` runs every description through the production path - the lessons indexed by
``LessonIndex`` (embedded Qdrant + the real embedder), ``search(text, k)`` - and reports recall@1
(the right lesson ranked first) and MRR (mean of 1/rank, 0 when not in the top k).

``compare_fields()`` scores alternative embedding texts (which lesson fields go into the vector)
with the same embedder and cosine ranking, for tuning ``Lesson.embedding_text``; the figures are
in BENCHMARKS.md. ``python -m stockbot.lessons.retrieval_quality`` prints both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from stockbot.lessons.model import Lesson

SET_PATH = Path(__file__).with_name("retrieval_set.json")
TARGET_RECALL_AT_1 = 0.95


@dataclass(frozen=True)
class Case:
    text: str
    expect: str
    split: str = "dev"


@dataclass(frozen=True)
class Score:
    cases: int
    recall_at_1: float
    mrr: float
    misses: tuple[tuple[str, str, str], ...]  # (description, expected, ranked first)

    def line(self) -> str:
        return f"recall@1 {self.recall_at_1:.3f}  MRR {self.mrr:.3f}  ({self.cases} cases, {len(self.misses)} missed)"


def load_cases(path: Path = SET_PATH, split: str | None = None) -> list[Case]:
    """The labelled cases (one split: ``dev`` or ``heldout``; None = all)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cases = [Case(str(c["text"]), str(c["expect"]), str(c.get("split", "dev"))) for c in data["cases"]]
    return [c for c in cases if split is None or c.split == split]


def _score(cases: Sequence[Case], ranked: Sequence[Sequence[str]]) -> Score:
    hits, rr, misses = 0, 0.0, []
    for case, ids in zip(cases, ranked):
        if ids and ids[0] == case.expect:
            hits += 1
        else:
            misses.append((case.text, case.expect, ids[0] if ids else "-"))
        if case.expect in ids:
            rr += 1.0 / (list(ids).index(case.expect) + 1)
    n = len(cases)
    return Score(n, hits / n if n else 0.0, rr / n if n else 0.0, tuple(misses))


def score(index, cases: Sequence[Case], k: int = 5) -> Score:
    """Recall@1 and MRR through ``LessonIndex.search`` (lessons already indexed)."""
    ranked = [[lesson.id for lesson, _ in index.search(c.text, k)] for c in cases]
    return _score(cases, ranked)


# Candidate embedding texts: which fields of a lesson go into its vector.
FIELD_SETS: dict[str, Callable[[Lesson], str]] = {
    "title": lambda x: x.title,
    "title+trigger": lambda x: f"{x.title}\nTrigger: {x.trigger}",
    "title+trigger+symptoms": lambda x: f"{x.title}\nTrigger: {x.trigger}\nSymptoms: {x.symptoms}",
    "title+trigger+impact+root cause": lambda x: "\n".join(
        [x.title, f"Trigger: {x.trigger}", f"Impact: {x.impact}", f"Root cause: {x.root_cause}"]),
    "all sections + tags": lambda x: x.embedding_text(),
}


def compare_fields(embedder, lessons: Sequence[Lesson], cases: Sequence[Case], k: int = 5,
                   field_sets: dict[str, Callable[[Lesson], str]] | None = None) -> dict[str, Score]:
    """Score each candidate embedding text (cosine ranking, the same as the index's)."""
    queries = embedder.encode([c.text for c in cases])
    out = {}
    for name, text_of in (field_sets or FIELD_SETS).items():
        matrix = embedder.encode([text_of(x) for x in lessons])
        sims = queries @ matrix.T
        order = np.argsort(-sims, axis=1)[:, :k]
        out[name] = _score(cases, [[lessons[j].id for j in row] for row in order])
    return out


def main() -> int:  # pragma: no cover - a report for BENCHMARKS.md
    from qdrant_client import QdrantClient

    from stockbot import config
    from stockbot.lessons.embedder import get_embedder
    from stockbot.lessons.files import LessonStore
    from stockbot.lessons.index import LessonIndex

    lessons = LessonStore(None, shared_dir=config.DEFAULT_MEMORY_ROOT / "lessons",
                          account_dir=Path("/nonexistent")).load().lessons
    embedder = get_embedder()
    index = LessonIndex(embedder, QdrantClient(":memory:"), account=None, describe="retrieval quality")
    index.reindex(list(lessons), progress=False)
    worst = 1.0
    for split in ("dev", "heldout", None):
        cases = load_cases(split=split)
        print(f"-- split {split or 'all'} ({len(cases)} cases)")
        for name, s in compare_fields(embedder, lessons, cases).items():
            print(f"{name:<34} {s.line()}")
        s = score(index, cases)
        print(f"{'production (LessonIndex.search)':<34} {s.line()}")
        for text, expect, got in s.misses:
            print(f"  missed: {text!r}: expected {expect}, got {got}")
        worst = min(worst, s.recall_at_1)
    return 0 if worst >= TARGET_RECALL_AT_1 else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
