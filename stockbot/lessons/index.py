"""LessonIndex: the Qdrant vector index over the lesson files (derived data, always rebuildable).

Two deployments, one code path for writes:

* embedded (default): ``QdrantClient(path=account_paths(id)["qdrant"])``, one process per path;
* server/cluster: ``QDRANT_URL`` set, one collection shared by a fleet of daemons. Every point
  carries its ``scope`` (``shared`` for seed lessons, ``account:<id>`` for learned ones); an
  account only ever reads and rewrites its own scope plus the shared one, so accounts stay
  shared-nothing while the server is shared infrastructure.

Every point stores the lesson's ``content_hash`` so drift between files and index is exact
(missing / extra / changed). Reads in embedded mode go through an in-memory, normalised numpy
mirror of the vectors: qdrant-client's local mode scans every point in Python when a payload
filter is given (about 150 ms at 10,000 points on this machine), while a matrix product plus a
filter over the few best candidates takes well under a millisecond. The mirror is loaded from
Qdrant and updated on every write, so Qdrant stays the store of record. Server mode searches
with a Qdrant filter (HNSW on the server).
"""

from __future__ import annotations

import functools
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from qdrant_client import QdrantClient, models

from stockbot import config
from stockbot.lessons.embedder import MODEL_NAME, Embedder
from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import SHARED_SCOPE, account_scope
from stockbot.lessons.model import Lesson

COLLECTION = "stockbot_lessons"
_NS = uuid.UUID("5b0e6f64-3f3c-4c55-9a4b-7d1b2a9c0e11")
ANY = "*"  # tag value meaning "applies to every strategy / symbol"


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def lesson_vectors(embedder: Embedder, lessons: Sequence[Lesson]) -> np.ndarray:
    """One unit vector per lesson: the whole text's embedding plus the mean of its fields'
    embeddings (title, trigger, symptoms, impact, root cause, fix, prevention), renormalised.

    Why not the whole text alone: the model reads at most 256 word pieces, so later sections
    were cut off, and one long text blurs the few words an operator uses to describe a failure.
    Measured on the labelled retrieval set (BENCHMARKS.md, "Lessons retrieval quality"): recall@1
    on the held-out split 0.875 -> 0.917 with the same embedder."""
    if not lessons:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    parts = [[t for t in x.embedding_fields() if t.strip()] for x in lessons]
    flat = [t for group in parts for t in group]
    whole = embedder.encode([x.embedding_text() for x in lessons])
    field_vecs = embedder.encode(flat) if flat else np.zeros((0, embedder.dim), dtype=np.float32)
    out = np.empty_like(whole)
    row = 0
    for i, group in enumerate(parts):
        mean = field_vecs[row:row + len(group)].sum(axis=0) if group else np.zeros(embedder.dim, dtype=np.float32)
        row += len(group)
        norm = float(np.linalg.norm(mean))
        v = whole[i] + (mean / norm if norm > 0 else mean)
        out[i] = v / float(np.linalg.norm(v))
    return out.astype(np.float32)


def point_id(scope: str, lesson_id: str) -> str:
    return str(uuid.uuid5(_NS, f"{scope}/{lesson_id}"))


@dataclass(frozen=True)
class Where:
    """Which lessons a search may return: not retired, matching strategy/symbol or generic."""

    strategy: str | None = None
    symbol: str | None = None
    include_retired: bool = False

    def matches(self, payload: dict[str, Any]) -> bool:
        if not self.include_retired and payload.get("status") == "retired":
            return False
        if self.strategy and not ({self.strategy.lower(), ANY} & set(payload.get("strategies", [ANY]))):
            return False
        if self.symbol and not ({self.symbol.upper(), ANY} & set(payload.get("symbols", [ANY]))):
            return False
        return True

    def qdrant(self, scopes: Sequence[str]) -> models.Filter:
        must: list[Any] = [models.FieldCondition(key="scope", match=models.MatchAny(any=list(scopes)))]
        if self.strategy:
            must.append(models.FieldCondition(key="strategies", match=models.MatchAny(any=[self.strategy.lower(), ANY])))
        if self.symbol:
            must.append(models.FieldCondition(key="symbols", match=models.MatchAny(any=[self.symbol.upper(), ANY])))
        must_not = [] if self.include_retired else [
            models.FieldCondition(key="status", match=models.MatchValue(value="retired"))]
        return models.Filter(must=must, must_not=must_not)


@dataclass(frozen=True)
class Drift:
    """Differences between the lesson files and the index, by lesson id."""

    missing: tuple[str, ...] = ()  # in files, not in the index
    extra: tuple[str, ...] = ()  # in the index, no longer in files
    changed: tuple[str, ...] = ()  # in both, content hash differs

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def describe(self) -> str:
        if self.clean:
            return "index in sync"
        parts = [f"{name}: {', '.join(ids)}" for name, ids in
                 (("missing", self.missing), ("extra", self.extra), ("changed", self.changed)) if ids]
        return "index drift - " + "; ".join(parts)


class _Mirror:
    """Normalised vectors of the indexed points, in rows, with their keys and payloads."""

    def __init__(self, dim: int):
        self.keys: list[tuple[str, str]] = []
        self.payloads: list[dict[str, Any]] = []
        self.pos: dict[tuple[str, str], int] = {}
        self._m = np.zeros((64, dim), dtype=np.float32)

    @property
    def matrix(self) -> np.ndarray:
        return self._m[: len(self.keys)]

    def put_many(self, keys: Sequence[tuple[str, str]], payloads: Sequence[dict[str, Any]], vectors: np.ndarray) -> None:
        for key, payload, vec in zip(keys, payloads, vectors):
            row = self.pos.get(key)
            if row is None:
                row = len(self.keys)
                if row >= len(self._m):  # grow geometrically: appends stay amortised O(1)
                    self._m = np.vstack([self._m, np.zeros_like(self._m)])
                self.keys.append(key)
                self.payloads.append({})
                self.pos[key] = row
            self.payloads[row] = dict(payload)
            self._m[row] = _unit(np.asarray(vec, dtype=np.float32))

    def drop(self, key: tuple[str, str]) -> None:
        row = self.pos.pop(key, None)
        if row is None:
            return
        last = len(self.keys) - 1
        if row != last:  # move the last row into the hole
            self.keys[row], self.payloads[row] = self.keys[last], self.payloads[last]
            self._m[row] = self._m[last]
            self.pos[self.keys[row]] = row
        self.keys.pop()
        self.payloads.pop()


class LessonIndex:
    """Vector index of one account's lessons (its scope + the shared seeds)."""

    def __init__(self, embedder: Embedder, client: QdrantClient, *, account: str | None = None,
                 collection: str = COLLECTION, fast_local: bool | None = None, describe: str = ""):
        self.embedder = embedder
        self.client = client
        self.collection = collection
        self.scopes = (SHARED_SCOPE, account_scope(account))
        self.describe = describe or "qdrant"
        # The numpy mirror is for embedded mode; a server does its own (HNSW) search.
        self.remote = type(getattr(client, "_client", None)).__name__ != "QdrantLocal"
        self.fast_local = (not self.remote) if fast_local is None else bool(fast_local)
        self._known: dict[str, Lesson] = {}
        self._mirror: _Mirror | None = None
        # capture (worker thread) and retrieval (event loop) share one index per process
        self._lock = threading.RLock()
        self._ensure_collection()

    # ------------------------------------------------------------------ construction

    @classmethod
    def open(cls, embedder: Embedder, account: str | None = None, url: str | None = None,
             path: Path | None = None, api_key: str | None = None) -> "LessonIndex":
        """The account's index: a Qdrant server when ``url`` (QDRANT_URL) is set, else embedded
        at ``path`` (default ``account_paths(account)["qdrant"]``)."""
        if url:
            try:
                client = QdrantClient(url=url, api_key=api_key, timeout=10)
            except Exception as exc:  # noqa: BLE001 - the client raises many kinds
                raise LessonError(f"cannot reach the Qdrant server at {url}: {exc}") from exc
            try:
                return cls(embedder, client, account=account, fast_local=False, describe=f"qdrant server {url}")
            except LessonError:
                raise
            except Exception as exc:  # noqa: BLE001 - connection refused, auth, timeouts...
                raise LessonError(f"cannot use the Qdrant server at {url}: {type(exc).__name__}: {exc}") from exc
        qdir = path if path is not None else config.account_paths(account)["qdrant"]
        qdir.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(qdir))
        except RuntimeError as exc:
            raise LessonError(
                f"lesson index {qdir} is in use by another process (a running daemon?). Embedded Qdrant "
                "allows one process per directory: stop it, or set QDRANT_URL to share a Qdrant server"
            ) from exc
        return cls(embedder, client, account=account, fast_local=True, describe=f"embedded qdrant {qdir}")

    def close(self) -> None:
        """Release the client (in embedded mode: the directory lock)."""
        try:
            self.client.close()
        except Exception:  # noqa: BLE001 - closing must not fail the caller
            pass

    def _ensure_collection(self) -> None:
        dim = self.embedder.dim
        if self.client.collection_exists(self.collection):
            info = self.client.get_collection(self.collection)
            size = getattr(info.config.params.vectors, "size", None)
            if size == dim:
                return
            if self.remote:
                raise LessonError(f"{self.describe}: collection {self.collection} has vectors of size "
                                  f"{size}, the embedder makes {dim}")
            self.client.delete_collection(self.collection)
        self.client.create_collection(
            self.collection, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE))
        if self.remote:
            for key in ("scope", "status", "strategies", "symbols", "lesson_id"):
                self.client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)

    # ------------------------------------------------------------------ writes

    @_locked
    def upsert(self, lessons: Iterable[Lesson], batch: int = 128, progress=None,
               vectors: np.ndarray | None = None) -> int:
        """Embed and write ``lessons`` (replacing their previous points). Returns the count.
        ``vectors`` (precomputed embeddings, one row per lesson) skips the embedder."""
        items = list(lessons)
        if vectors is not None and len(vectors) != len(items):
            raise ValueError("vectors must have one row per lesson")
        for start in range(0, len(items), batch):
            chunk = items[start:start + batch]
            vecs = (vectors[start:start + batch] if vectors is not None
                    else lesson_vectors(self.embedder, chunk))
            points = [models.PointStruct(id=point_id(x.scope, x.id), vector=v.tolist(), payload=_payload(x))
                      for x, v in zip(chunk, vecs)]
            self.client.upsert(self.collection, points=points, wait=True)
            for x in chunk:
                self._known[x.id] = x
            if self._mirror is not None:  # otherwise loaded lazily from Qdrant on first search
                self._mirror.put_many([(x.scope, x.id) for x in chunk], [p.payload for p in points], vecs)
            if progress is not None:
                progress.update(len(chunk))
        return len(items)

    @_locked
    def delete(self, keys: Iterable[tuple[str, str]]) -> None:
        """Remove points by (scope, lesson_id)."""
        keys = list(keys)
        if not keys:
            return
        self.client.delete(self.collection, points_selector=models.PointIdsList(
            points=[point_id(s, i) for s, i in keys]), wait=True)
        for scope, lesson_id in keys:
            self._known.pop(lesson_id, None)
            if self._mirror is not None:
                self._mirror.drop((scope, lesson_id))

    @_locked
    def reindex(self, lessons: Sequence[Lesson], progress: bool = True) -> int:
        """Rebuild from ``lessons``: this account's points are dropped and rewritten; shared seed
        points are overwritten in place (other accounts on a shared server keep seeing them) and
        shared points with no file any more are deleted."""
        own = self.scopes[1]
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=models.Filter(
            must=[models.FieldCondition(key="scope", match=models.MatchValue(value=own))])), wait=True)
        self._known.clear()
        self._mirror = None  # reloaded from Qdrant on the next search
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(lessons), desc="reindex lessons", unit="lesson")
        try:
            count = self.upsert(lessons, progress=bar)
        finally:
            if bar is not None:
                bar.close()
        wanted = {(x.scope, x.id) for x in lessons}
        self.delete([k for k in self._indexed() if k not in wanted])
        return count

    @_locked
    def drift(self, lessons: Sequence[Lesson]) -> Drift:
        """Compare files with the index: ids missing from it, extra in it, or changed."""
        indexed = self._indexed()
        files = {(x.scope, x.id): x for x in lessons}
        missing = sorted(x.id for k, x in files.items() if k not in indexed)
        extra = sorted(k[1] for k in indexed if k not in files)
        changed = sorted(x.id for k, x in files.items() if k in indexed and (
            indexed[k].get("hash") != x.content_hash() or indexed[k].get("model") != MODEL_NAME))
        for k, x in files.items():  # remember the lessons that are already indexed as they are
            if k in indexed and x.id not in changed:
                self._known[x.id] = x
        return Drift(tuple(missing), tuple(extra), tuple(changed))

    @_locked
    def sync(self, lessons: Sequence[Lesson]) -> Drift:
        """Repair drift (upsert missing/changed, delete extra); returns what was found."""
        found = self.drift(lessons)
        if not found.clean:
            wanted = set(found.missing) | set(found.changed)
            self.upsert([x for x in lessons if x.id in wanted])
            stale = {k for k in self._indexed() if k[1] in found.extra and k not in
                     {(x.scope, x.id) for x in lessons}}
            self.delete(stale)
        return found

    def _indexed(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(p.payload.get("scope"), p.payload.get("lesson_id")): p.payload for p in self._scroll(False)}

    def _scroll(self, with_vectors: bool):
        """Every point of this account's scopes (its own and the shared one)."""
        flt = models.Filter(must=[models.FieldCondition(key="scope", match=models.MatchAny(any=list(self.scopes)))])
        offset = None
        while True:
            points, offset = self.client.scroll(self.collection, scroll_filter=flt, limit=1024, offset=offset,
                                                with_payload=True, with_vectors=with_vectors)
            yield from points
            if offset is None:
                return

    # ------------------------------------------------------------------ reads

    @_locked
    def count(self) -> int:
        return len(self._indexed())

    def search(self, text: str, k: int = 5, where: Where | None = None) -> list[tuple[Lesson, float]]:
        """Top ``k`` lessons for ``text`` (cosine similarity, best first) among known lessons."""
        return self.search_vector(self.embedder.encode_one(text), k, where)

    @_locked
    def search_vector(self, vector: np.ndarray, k: int, where: Where | None = None) -> list[tuple[Lesson, float]]:
        where = where or Where(include_retired=True)
        hits = self._search_mirror(vector, k, where) if self.fast_local else self._search_qdrant(vector, k, where)
        out: list[tuple[Lesson, float]] = []
        for (scope, lesson_id), score in hits:
            lesson = self._known.get(lesson_id)
            if lesson is not None and lesson.scope == scope:
                out.append((lesson, score))
        return out

    def similar(self, lesson: Lesson, k: int = 3) -> list[tuple[Lesson, float]]:
        """Nearest existing lessons to a (draft) lesson's text, retired ones included."""
        return self.search_vector(lesson_vectors(self.embedder, [lesson])[0], k, Where(include_retired=True))

    def _search_qdrant(self, vector: np.ndarray, k: int, where: Where) -> list[tuple[tuple[str, str], float]]:
        res = self.client.query_points(self.collection, query=vector.tolist(), limit=k,
                                       query_filter=where.qdrant(self.scopes), with_payload=True)
        return [((p.payload["scope"], p.payload["lesson_id"]), float(p.score)) for p in res.points]

    def _search_mirror(self, vector: np.ndarray, k: int, where: Where) -> list[tuple[tuple[str, str], float]]:
        m = self._load_mirror()
        n = len(m.keys)
        if n == 0 or k <= 0:
            return []
        # einsum, not ``@``: a BLAS mat-vec wakes OpenBLAS's worker threads, which then spin and
        # slow the embedder's next forward pass (measured: query embedding 13 -> 30 ms on 2
        # cores). einsum's single-threaded loop costs ~0.5 ms at 10,000 lessons.
        scores = np.einsum("ij,j->i", m.matrix, vector.astype(np.float32))
        take = min(n, max(8 * k, 64))
        while True:
            top = np.argpartition(-scores, take - 1)[:take] if take < n else np.arange(n)
            top = top[np.argsort(-scores[top], kind="stable")]
            hits = [(m.keys[i], float(scores[i])) for i in top if where.matches(m.payloads[i])][:k]
            if len(hits) >= k or take >= n:
                return hits
            take = min(n, take * 8)

    def _load_mirror(self) -> _Mirror:
        if self._mirror is None:
            points = list(self._scroll(True))
            mirror = _Mirror(self.embedder.dim)
            if points:
                mirror.put_many([(p.payload["scope"], p.payload["lesson_id"]) for p in points],
                                [p.payload for p in points], np.asarray([p.vector for p in points], dtype=np.float32))
            self._mirror = mirror
        return self._mirror


def _payload(lesson: Lesson) -> dict[str, Any]:
    return {
        "lesson_id": lesson.id, "scope": lesson.scope, "hash": lesson.content_hash(), "model": MODEL_NAME,
        "status": lesson.status.value, "title": lesson.title,
        "strategies": list(lesson.tags.strategy) or [ANY], "symbols": list(lesson.tags.symbol) or [ANY],
    }


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
