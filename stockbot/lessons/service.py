"""LessonService: what the rest of the daemon asks of the lessons (retrieval and guards).

* ``startup()`` loads the files, reports corrupt ones, and checks (and repairs) index drift.
* ``for_context(ctx)`` builds a query from the trade context, returns the top k applicable
  lessons with scores; the engine injects them into the agents' prompts and records
  ``[r.as_record() for r in ...]`` with the decision.
* ``guards(now)`` returns the guards the risk gate must enforce. Which enforce is decided in
  ``enforcement.py``: confirmed lessons -> every unexpired guard; draft lessons -> only guards
  that require a safe order form (``require_mleg``) or block one symbol for a bounded time;
  retired or expired -> none.
  Guards come from the files, never from the index, so a broken index cannot disable a guard.

Lessons added by ``stockbot lessons add|confirm|retire`` (another process) or by capture are
picked up at the next call: the service notices the file change and re-syncs the index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import structlog

from stockbot.config import LessonSettings
from stockbot.domain import TradeContext
from stockbot.lessons.embedder import Embedder, get_embedder
from stockbot.lessons.enforcement import enforced_guards, guard_state
from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import LessonStore, LoadResult
from stockbot.lessons.guards import Guard
from stockbot.lessons.index import Drift, LessonIndex, Where
from stockbot.lessons.model import Lesson

log = structlog.get_logger()

# Query wording per strategy. Kept short on purpose: embedding cost grows with tokens and the
# query is embedded before every decision (about 33 tokens -> ~12 ms on 2 cores, 61 -> ~16-24 ms).
STRATEGY_WORDS = {
    "condor": "iron condor options",
    "equity": "stock long/short position",
    "index": "index stock long/short position",
}
PROMPT_MAX_CHARS = 2400
PROMPT_LESSON_CHARS = 420


@dataclass(frozen=True)
class RetrievedLesson:
    """A lesson returned for a decision, with its cosine similarity to the query."""

    lesson: Lesson
    score: float

    @property
    def id(self) -> str:
        return self.lesson.id

    def as_record(self) -> dict[str, Any]:
        """What the decision record keeps (``Store.record_decision(lessons=...)``)."""
        return {"id": self.lesson.id, "score": round(self.score, 4), "title": self.lesson.title,
                "status": self.lesson.status.value, "severity": self.lesson.severity.value,
                "guard": self.lesson.guard.kind if self.lesson.guard else None}

    def as_ref(self) -> dict[str, Any]:
        """Fields for ``stockbot.consensus.context.LessonRef`` (id, title, prevention, score)."""
        return {"id": self.lesson.id, "title": self.lesson.title,
                "prevention": self.lesson.prevention or self.lesson.fix_applied, "score": round(self.score, 4)}


@dataclass(frozen=True)
class StartupReport:
    lessons: int
    errors: tuple[str, ...]
    drift: Drift


def build_query(ctx: TradeContext) -> str:
    """The retrieval query for a trade context: strategy, symbol, order type, IV rank, market."""
    parts = [f"{STRATEGY_WORDS.get(ctx.strategy, ctx.strategy)} on {ctx.symbol}"]
    if ctx.order_type:
        parts.append(f"order type: {ctx.order_type}")
    if ctx.iv_rank is not None:
        parts.append(f"IV rank {ctx.iv_rank:.2f}")
    if ctx.market_condition:
        parts.append(f"market: {ctx.market_condition}")
    if ctx.quote_age_s is not None and ctx.quote_age_s > 60:
        parts.append(f"quotes {ctx.quote_age_s:.0f}s old")
    parts.append("failures in similar setups")
    return "; ".join(parts)


def prompt_block(retrieved: Sequence[RetrievedLesson], max_chars: int = PROMPT_MAX_CHARS) -> str:
    """Plain-text rendering of retrieved lessons for a prompt (callers fence it as data)."""
    if not retrieved:
        return ""
    lines: list[str] = []
    used = 0
    for r in retrieved:
        x = r.lesson
        text = (f"- {x.id} (similarity {r.score:.2f}, {x.status.value}, {x.severity.value}): {x.title}. "
                f"Root cause: {x.root_cause or 'unknown'} Prevention: {x.prevention or x.fix_applied or 'n/a'}")
        text = " ".join(text.split())[:PROMPT_LESSON_CHARS]
        if used + len(text) > max_chars:
            break
        lines.append(text)
        used += len(text) + 1
    return "\n".join(lines)


class LessonService:
    """Retrieval and guards for one account, over its LessonStore and LessonIndex."""

    def __init__(self, store: LessonStore, index: LessonIndex, settings: LessonSettings | None = None):
        self.store = store
        self.index = index
        self.settings = settings or LessonSettings()
        self._loaded: LoadResult | None = None
        self._signature: tuple | None = None  # files as last loaded
        self._synced: tuple | None = None  # files as last synced into the index
        self._expired_logged: set[str] = set()

    @classmethod
    def open(cls, account: str | None, settings: LessonSettings | None = None,
             embedder: Embedder | None = None) -> "LessonService":
        """Files at the account's paths; embedded Qdrant, or the server at ``settings.qdrant_url``."""
        settings = settings or LessonSettings()
        index = LessonIndex.open(embedder or get_embedder(), account, url=settings.qdrant_url)
        return cls(LessonStore(account), index, settings)

    def close(self) -> None:
        self.index.close()

    # ------------------------------------------------------------------ loading

    def startup(self) -> StartupReport:
        """Load files, log corrupt ones, check drift against the index and repair it."""
        loaded = self._reload()
        for err in loaded.errors:
            log.error("lesson_file_invalid", error=err)
        drift = self.index.sync(loaded.lessons)
        self._synced = self._signature
        if not drift.clean:
            log.warning("lesson_index_drift_repaired", missing=drift.missing, extra=drift.extra,
                        changed=drift.changed)
        log.info("lessons_loaded", count=len(loaded.lessons), errors=len(loaded.errors), index=self.index.describe)
        return StartupReport(len(loaded.lessons), loaded.errors, drift)

    def refresh(self) -> Drift | None:
        """Re-read the files and re-sync the index if any file changed since the last look."""
        sig = self.store.signature()
        if self._loaded is not None and sig == self._synced:
            return None
        loaded = self._reload() if sig != self._signature or self._loaded is None else self._loaded
        drift = self.index.sync(loaded.lessons)
        self._synced = self._signature
        if not drift.clean:
            log.info("lesson_index_resynced", missing=drift.missing, extra=drift.extra, changed=drift.changed)
        return drift

    def _reload(self) -> LoadResult:
        self._signature = self.store.signature()
        self._loaded = self.store.load()
        return self._loaded

    @property
    def loaded(self) -> LoadResult:
        if self._loaded is None:
            self.startup()
        assert self._loaded is not None
        return self._loaded

    def lessons(self) -> tuple[Lesson, ...]:
        return self.loaded.lessons

    @property
    def errors(self) -> tuple[str, ...]:
        """One line per lesson file that failed to load (the daemon should alert on these)."""
        return self.loaded.errors

    # ------------------------------------------------------------------ retrieval

    def search(self, text: str, k: int = 5, *, include_retired: bool = False) -> list[RetrievedLesson]:
        """Free-text search (``stockbot lessons search``)."""
        self.refresh()
        hits = self.index.search(text, k, Where(include_retired=include_retired))
        return [RetrievedLesson(lesson, score) for lesson, score in hits]

    def for_context(self, ctx: TradeContext, k: int | None = None) -> list[RetrievedLesson]:
        """Top-k lessons applicable to ``ctx`` (not retired; strategy/symbol tags match or are
        generic), best first, with scores. Raises LessonError if the index is unusable."""
        self.refresh()
        k = k or self.settings.top_k
        where = Where(strategy=ctx.strategy or None, symbol=ctx.symbol or None)
        try:
            hits = self.index.search(build_query(ctx), k, where)
        except LessonError:
            raise
        except Exception as exc:  # noqa: BLE001 - translate index faults at the boundary
            raise LessonError(f"lesson retrieval failed ({self.index.describe}): {exc}") from exc
        return [RetrievedLesson(lesson, score) for lesson, score in hits]

    # ------------------------------------------------------------------ guards

    def guards(self, now: datetime | None = None) -> list[Guard]:
        """Guards to enforce before every order (see ``enforcement``), read from the files
        (refreshed if they changed). With ``now``, expired guards are left out and logged once;
        without it they are still handed out, and their own check ignores them after expiry."""
        if self._loaded is None or self.store.signature() != self._signature:
            self._reload()
        if now is not None:
            for lesson in self.loaded.lessons:
                st = guard_state(lesson, now)
                if st.state == "expired" and lesson.id not in self._expired_logged:
                    self._expired_logged.add(lesson.id)
                    log.warning("lesson_guard_expired", lesson_id=lesson.id, kind=lesson.guard.kind, note=st.note)
        return enforced_guards(self.loaded.lessons, now)
