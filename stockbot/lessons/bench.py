"""Retrieval benchmark: embed + search latency at growing lesson counts, and the embedder's memory.

``measure_retrieval()`` builds synthetic but varied lessons (failure kinds x components x
symbols x strategies x wording), embeds them once, loads the first N into an embedded on-disk
Qdrant (a temp dir, as in production) for each size, and times ``embed(query) + search(k=5,
with the applicability filter)`` for distinct decision queries (built like ``for_context``
builds them). Each query is embedded once and searched at every size, so the sizes differ by
search cost only; the load average is recorded because the embedding time moves with it. For comparison it also times Qdrant's own
local-mode query with the same filter (what the numpy mirror replaces). The embedder's memory is
measured in a fresh interpreter (RSS before vs after import + load + one encode), so a model
already loaded in this process does not hide it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from stockbot.domain import TradeContext
from stockbot.lessons.embedder import Embedder, get_embedder
from stockbot.lessons.files import SHARED_SCOPE
from stockbot.lessons.index import LessonIndex, Where
from stockbot.lessons.model import Lesson, Severity, Status, Tags
from stockbot.lessons.service import build_query

KINDS = ["order rejected", "orphan position", "stream 406 connection limit", "stale quotes", "agent timeout",
         "invalid agent output", "job exception", "reconciliation mismatch", "out of buying power",
         "duplicate order", "pattern day trader lockout", "market closed holiday", "wrong account keys",
         "price increment rejection", "partial fill", "margin call", "short locate unavailable",
         "expiration assignment", "early assignment", "corporate action", "halted symbol", "wide spread"]
COMPONENTS = ["execution", "broker", "stream", "consensus", "scheduler", "risk", "reconciliation", "sizing",
              "pricing", "config", "calendar", "state"]
SYMBOLS = ["SPY", "QQQ", "AAPL", "MSFT", "NVDA", "AMZN", "META", "TSLA", "GOOGL", "AMD", "JPM", "XOM", "IWM"]
STRATEGIES = ["condor", "equity", "index"]
CAUSES = ["a retry without idempotency", "a stale snapshot", "a missing pre-trade check", "an unhandled error code",
          "a race between two jobs", "a timezone mistake", "rounding with floats", "a wrong account setting",
          "an expired token", "an unexpected broker state", "a slow provider", "sequential leg orders"]
ORDER_TYPES = ["mleg limit", "limit", "market", "close_position", "mleg market"]
MARKETS = ["range-bound, low trend", "trending up, rising volatility", "gap down at the open", "quiet before FOMC",
           "high IV after earnings", "choppy, wide spreads"]


def synthetic_lessons(n: int, seed: int = 7) -> list[Lesson]:
    """``n`` varied lessons (deterministic for a seed)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind, comp, sym = rng.choice(KINDS), rng.choice(COMPONENTS), rng.choice(SYMBOLS)
        strat = rng.choice(STRATEGIES)
        cause = rng.choice(CAUSES)
        out.append(Lesson(
            id=f"LL-{1000 + i:05d}", title=f"{kind.capitalize()} in {comp} on {sym} ({strat}) #{i}",
            date=date(2025, 1, 1), trigger=f"{kind} while trading {sym} with the {strat} strategy, "
            f"seen by the {comp} component after {rng.randint(1, 90)} minutes",
            root_cause=f"Caused by {cause} in {comp}.", prevention=f"Check for {kind} before each {strat} order.",
            severity=rng.choice(list(Severity)), status=rng.choice([Status.CONFIRMED, Status.DRAFT, Status.RETIRED]),
            tags=Tags(strategy=(strat,) if rng.random() < 0.7 else (), symbol=(sym,) if rng.random() < 0.5 else (),
                      component=(comp,)),
            scope=SHARED_SCOPE))
    return out


def _pct(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values) * 1000.0, q)), 3)


def embedder_rss_mb() -> dict[str, float]:
    """RSS of a fresh interpreter before and after importing + loading the embedder (MB)."""
    code = (
        "import os,json\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024\n"
        "a = rss()\n"
        "from stockbot.lessons.embedder import Embedder\n"
        "e = Embedder(); e.encode(['warm up the model'])\n"
        "b = rss()\n"
        "print(json.dumps({'rss_before_mb': round(a, 1), 'rss_after_mb': round(b, 1), 'delta_mb': round(b - a, 1)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def edge_search_ms(vectors: np.ndarray, lessons: Sequence[Lesson], query_vectors: Sequence[np.ndarray], k: int,
                   where: Where, path: Path) -> dict:
    """qdrant-edge-py (Qdrant's embedded engine, Rust) on the same points and filter, for the
    comparison in BENCHMARKS.md: load time and filtered query latency (ms). Needs the package
    (not a dependency: the index kept qdrant-client's local mode + the numpy mirror)."""
    import qdrant_edge as qe

    from stockbot.lessons.index import _payload, point_id

    shard = qe.EdgeShard.create(str(path), qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=vectors.shape[1],
                                                                                     distance=qe.Distance.Cosine)))
    for key in ("scope", "status", "strategies", "symbols"):
        shard.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
    t0 = time.perf_counter()
    points = [qe.Point(point_id(x.scope, x.id), v.tolist(), _payload(x)) for x, v in zip(lessons, vectors)]
    for start in range(0, len(points), 512):
        shard.update(qe.UpdateOperation.upsert_points(points[start:start + 512]))
    shard.flush()
    load_s = time.perf_counter() - t0
    flt = qe.Filter(must=[qe.FieldCondition("scope", match=qe.MatchAny(["shared"])),
                          qe.FieldCondition("strategies", match=qe.MatchAny([where.strategy, "*"])),
                          qe.FieldCondition("symbols", match=qe.MatchAny([where.symbol, "*"]))],
                    must_not=[qe.FieldCondition("status", match=qe.MatchValue("retired"))])
    took = []
    for v in query_vectors:
        t0 = time.perf_counter()
        shard.query(qe.QueryRequest(limit=k, query=qe.Query.Nearest(v.tolist()), filter=flt, with_payload=True))
        took.append(time.perf_counter() - t0)
    shard.close()
    return {"load_s": round(load_s, 2), "p50": _pct(took, 50), "p99": _pct(took, 99)}


def measure_retrieval(sizes: Sequence[int] = (100, 1000, 10000), queries: int = 50, k: int = 5,
                      embedder: Embedder | None = None, measure_memory: bool = True, embed_n: int = 1000) -> dict:
    """Latency of embed + search (ms, p50/p99) per lesson count, and the embedder's memory."""
    from qdrant_client import QdrantClient

    embedder = embedder or get_embedder()
    lessons = synthetic_lessons(max(sizes))
    t0 = time.perf_counter()
    # Only the first ``embed_n`` lessons are embedded (the search cost does not depend on which unit
    # vectors are indexed, and embedding 10,000 texts took minutes of `make bench`); the rest reuse
    # those vectors with small noise, renormalised, so no two points are equal.
    n_embed = min(len(lessons), embed_n)
    head = embedder.encode([x.embedding_text() for x in lessons[:n_embed]], batch_size=128, use_cache=False)
    embed_all_s = time.perf_counter() - t0
    noise = np.random.default_rng(5).normal(scale=0.05, size=(len(lessons), head.shape[1])).astype(np.float32)
    vectors = head[np.arange(len(lessons)) % n_embed] + noise * (np.arange(len(lessons)) >= n_embed)[:, None]
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    rng = random.Random(11)
    # decision-time queries, exactly as LessonService.for_context builds them
    texts = [build_query(TradeContext(account=None, strategy=rng.choice(STRATEGIES), symbol=rng.choice(SYMBOLS),
                                      now=datetime.now(timezone.utc), order_type=rng.choice(ORDER_TYPES),
                                      iv_rank=rng.randint(5, 95) / 100, market_condition=rng.choice(MARKETS)))
             for _ in range(queries)]
    results: dict = {"queries": queries, "k": k, "embedded_lessons": n_embed, "embed_corpus_s": round(embed_all_s, 2),
                     "embed_ms_per_lesson": round(1000 * embed_all_s / n_embed, 1), "embedder": embedder.runtime,
                     "sizes": {},
                     "loadavg_before": [round(x, 2) for x in os.getloadavg()]}
    where = Where(strategy="condor", symbol="SPY")  # the applicability filter of a condor decision
    with tempfile.TemporaryDirectory(prefix="lessons-bench-") as tmp:
        indexes: dict[int, LessonIndex] = {}
        for n in sizes:  # one embedded on-disk Qdrant per size, as in production
            client = QdrantClient(path=str(Path(tmp) / f"qdrant-{n}"))
            index = LessonIndex(embedder, client, fast_local=True, describe="bench")
            t0 = time.perf_counter()
            index.upsert(lessons[:n], batch=512, vectors=vectors[:n])
            results["sizes"][n] = {"load_s": round(time.perf_counter() - t0, 2)}
            index.search_vector(embedder.encode_one("warm up", use_cache=False), k, where)
            indexes[n] = index
        # Each query is embedded once and searched in every index, so all sizes see the same
        # embedding samples (and the same machine load): the sizes differ by search cost only.
        emb: list[float] = []
        srch: dict[int, list[float]] = {n: [] for n in sizes}
        for text in texts:
            t0 = time.perf_counter()
            v = embedder.encode_one(text, use_cache=False)
            emb.append(time.perf_counter() - t0)
            for n, index in indexes.items():
                t1 = time.perf_counter()
                index.search_vector(v, k, where)
                srch[n].append(time.perf_counter() - t1)
        for n, index in indexes.items():
            native = []
            for text in texts[:10]:  # qdrant-client local mode's own filtered query, for comparison
                v = embedder.encode_one(text)
                t0 = time.perf_counter()
                index.client.query_points(index.collection, query=v.tolist(), limit=k,
                                          query_filter=where.qdrant(index.scopes))
                native.append(time.perf_counter() - t0)
            total = [e + s_ for e, s_ in zip(emb, srch[n])]
            results["sizes"][n].update({
                "total_ms": {"p50": _pct(total, 50), "p99": _pct(total, 99)},
                "embed_ms": {"p50": _pct(emb, 50), "p99": _pct(emb, 99)},
                "search_ms": {"p50": _pct(srch[n], 50), "p99": _pct(srch[n], 99)},
                "qdrant_local_filtered_query_ms": {"p50": _pct(native, 50), "p99": _pct(native, 99)},
            })
            index.close()
        try:
            import qdrant_edge  # noqa: F401 - optional, for the comparison only
        except ImportError:
            results["qdrant_edge"] = "not installed (pip install qdrant-edge-py to compare)"
        else:
            qv = [embedder.encode_one(t) for t in texts]
            results["qdrant_edge"] = {n: edge_search_ms(vectors[:n], lessons[:n], qv, k, where, Path(tmp) / f"edge-{n}")
                                      for n in sizes}
    results["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if measure_memory:
        results["embedder_memory"] = embedder_rss_mb()
    return results


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(measure_retrieval(), indent=2))
