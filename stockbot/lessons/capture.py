"""LessonCapture: every failure path calls ``capture(failure)``; it never raises.

Flow for one failure:

1. fingerprint it; if the same fingerprint was captured less than ``capture_min_interval_s`` ago,
   count it as suppressed (persisted) and stop: a timeout storm writes one lesson, not a thousand;
2. find the lesson it belongs to: the one that already carries this fingerprint, else the most
   similar existing lesson with cosine similarity >= ``dedup_threshold`` (needs an index);
3. append a ``lesson_captured`` event to the state store (when one is given); its seq is the evidence;
4. update that lesson's occurrence count and evidence (shared seed lessons are read-only, so their
   occurrences for this account are kept in the capture state), or write a new draft ``LL-NNN``
   under the next free number, drafted from the failure context (see ``drafts.py``);
5. upsert the lesson into the index so the very next decision can retrieve it.

The rate-limit clock, suppressed counts and fingerprint -> lesson map live in
``account_paths(id)["capture_state"]`` (atomic JSON), so they survive a restart; fingerprints are
also written into the lesson files, so dedup still works if that state file is lost.
Blocking work (embedding, file writes, an optional LLM call): async callers use ``acapture``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Protocol

import structlog

from stockbot import config
from stockbot.config import LessonSettings
from stockbot.domain import utcnow
from stockbot.lessons.drafts import Draft, LLMDrafter, rule_draft
from stockbot.lessons.failure import Failure, fingerprint
from stockbot.fsutil import atomic_write_text
from stockbot.lessons.files import SHARED_SCOPE, LessonStore
from stockbot.lessons.guards import parse_guard
from stockbot.lessons.index import LessonIndex
from stockbot.lessons.lint import advice_problems
from stockbot.lessons.model import MAX_EVIDENCE, Evidence, Lesson, Status
from stockbot.log import redactor

log = structlog.get_logger()


class EventSink(Protocol):
    """The part of ``stockbot.store.Store`` capture uses."""

    def append_event(self, kind: str, payload: dict[str, Any] | None = None) -> int: ...


@dataclass(frozen=True)
class CaptureResult:
    """What capture did: ``created`` a draft, ``updated`` an existing lesson, or ``rate_limited``."""

    action: str
    lesson_id: str | None
    fingerprint: str
    occurrences: int
    similarity: float | None = None
    shared: bool = False
    event_seq: int | None = None
    guard: str | None = None


class LessonCapture:
    """Turns failures into lessons for one account."""

    def __init__(self, account: str | None, store: EventSink | None = None, index: LessonIndex | None = None,
                 settings: LessonSettings | None = None, *, lessons: LessonStore | None = None,
                 drafter: LLMDrafter | None = None, state_path: Path | None = None,
                 clock: Callable[[], datetime] = utcnow):
        self.account = config.validate_account_id(account)
        self.events = store
        self.index = index
        self.settings = settings or LessonSettings()
        self.lessons = lessons or LessonStore(account)
        if drafter is None and self.settings.llm_drafter_model:
            drafter = LLMDrafter(self.settings.llm_drafter_model)
        self.drafter = drafter
        self.state_path = state_path or config.account_paths(account)["capture_state"]
        self.clock = clock
        self._lock = threading.Lock()

    async def acapture(self, failure: Failure) -> CaptureResult | None:
        """``capture`` in a worker thread, for the asyncio loop."""
        return await asyncio.to_thread(self.capture, failure)

    def capture(self, failure: Failure) -> CaptureResult | None:
        """Record ``failure`` as a lesson occurrence or a new draft. Never raises; None on an
        internal error (which is logged)."""
        try:
            with self._lock:
                return self._capture(failure)
        except Exception as exc:  # noqa: BLE001 - capture must never break the trading path
            try:
                log.error("lesson_capture_failed", kind=getattr(failure, "kind", "?"),
                          error=f"{type(exc).__name__}: {exc}"[:500])
            except Exception:  # noqa: BLE001
                pass
            return None

    # ------------------------------------------------------------------ internals

    def _capture(self, failure: Failure) -> CaptureResult:
        scrub = redactor().scrub  # lesson files, events and prompts never carry keys or tokens
        failure = replace(failure, summary=scrub(failure.summary), impact=scrub(failure.impact),
                          details=scrub({str(k): v for k, v in dict(failure.details).items()}))
        fp = fingerprint(failure)
        now = self.clock()
        state = self._load_state()
        entry = state["fingerprints"].setdefault(fp, {"suppressed": 0})
        last = entry.get("last_ts")
        elapsed = (now - datetime.fromisoformat(last)).total_seconds() if last else None
        # a clock that went backwards (elapsed < 0) must not silence capture until it catches up
        if elapsed is not None and 0 <= elapsed < self.settings.capture_min_interval_s:
            entry["suppressed"] = int(entry.get("suppressed", 0)) + 1
            self._save_state(state)
            log.info("lesson_capture_rate_limited", kind=failure.kind, fingerprint=fp, lesson_id=entry.get("lesson_id"),
                     suppressed=entry["suppressed"])
            return CaptureResult("rate_limited", entry.get("lesson_id"), fp, int(entry.get("count", 0)))

        loaded = self.lessons.load()
        by_id = loaded.by_id()
        draft = rule_draft(failure)
        target, similarity = self._find_existing(fp, entry, by_id, draft)
        if target is None and self.drafter is not None:
            refined = self.drafter.refine(draft, failure)
            problems = advice_problems(refined.fix_applied) + advice_problems(refined.prevention)
            if problems:  # lint would refuse the file: keep the rule-based text rather than lose the lesson
                log.warning("lesson_llm_draft_refused", kind=failure.kind, problems=problems[:3])
            else:
                draft = refined
        new_id = self.lessons.reserve_id() if target is None else None
        try:
            seq = self._append_event(failure, fp, target.id if target else new_id)
            seen = failure.ts if isinstance(failure.ts, datetime) and failure.ts.tzinfo else now
            evidence = Evidence(ts=seen, event_id=seq if seq is not None else failure.event_id,
                                note=_note(failure, seq))
            extra = int(entry.get("suppressed", 0))
            if new_id is not None:
                lesson = self._create(new_id, fp, draft, evidence, extra, now)
        except BaseException:
            if new_id is not None:
                self.lessons.release(new_id)
            raise
        if new_id is not None:
            action, shared, count = "created", False, lesson.occurrences
        elif target.scope == SHARED_SCOPE:
            lesson = target
            count = self._shared_occurrence(state, target, evidence, extra)
            action, shared = "updated", True
        else:
            lesson = self.lessons.save(target.with_occurrence(evidence, fp, extra))
            action, shared, count = "updated", False, lesson.occurrences
        entry.update(lesson_id=lesson.id, last_ts=now.isoformat(), suppressed=0, count=count)
        self._save_state(state)
        if self.index is not None and not shared:
            try:
                self.index.upsert([lesson])
            except Exception as exc:  # noqa: BLE001 - drift is repaired at the next sync
                log.warning("lesson_index_upsert_failed", lesson_id=lesson.id, error=str(exc)[:300])
        log.warning("lesson_captured", action=action, lesson_id=lesson.id, kind=failure.kind, fingerprint=fp,
                    occurrences=count, similarity=similarity, event_seq=seq)
        return CaptureResult(action, lesson.id, fp, count, similarity, shared, seq,
                             lesson.guard.kind if lesson.guard else None)

    def _find_existing(self, fp: str, entry: dict, by_id: dict[str, Lesson],
                       draft: Draft) -> tuple[Lesson | None, float | None]:
        known = entry.get("lesson_id")
        if known in by_id and by_id[known].status is not Status.RETIRED:
            return by_id[known], None
        for lesson in by_id.values():  # state lost or stale: the files remember fingerprints too
            if fp in lesson.fingerprints and lesson.status is not Status.RETIRED:
                return lesson, None
        if self.index is None:
            return None, None
        try:
            self.index.sync(list(by_id.values()))
            probe = Lesson(id="LL-000", title=draft.title, date=utcnow().date(), trigger=draft.trigger,
                           impact=draft.impact, root_cause=draft.root_cause, prevention=draft.prevention,
                           tags=draft.tags)
            for lesson, score in self.index.similar(probe, k=3):
                if lesson.status is not Status.RETIRED and score >= self.settings.dedup_threshold:
                    return by_id.get(lesson.id, lesson), round(score, 4)
        except Exception as exc:  # noqa: BLE001 - without similarity we still dedup by fingerprint
            log.warning("lesson_similarity_unavailable", error=f"{type(exc).__name__}: {exc}"[:300])
        return None, None

    def _create(self, lesson_id: str, fp: str, draft: Draft, evidence: Evidence, extra: int,
                now: datetime) -> Lesson:
        guard = parse_guard(draft.guard, lesson_id, f"draft {lesson_id}") if draft.guard else None
        lesson = Lesson(
            id=lesson_id, title=draft.title, date=now.date(), trigger=draft.trigger, impact=draft.impact,
            root_cause=draft.root_cause, fix_applied=draft.fix_applied, prevention=draft.prevention,
            severity=draft.severity, status=Status.DRAFT, tags=draft.tags, occurrences=1 + extra,
            evidence=(evidence,), guard=guard, fingerprints=(fp,), source="captured", scope=self.lessons.scope)
        return self.lessons.save(lesson)

    def _shared_occurrence(self, state: dict, lesson: Lesson, evidence: Evidence, extra: int) -> int:
        rec = state["shared_occurrences"].setdefault(lesson.id, {"count": 0, "evidence": []})
        rec["count"] = int(rec.get("count", 0)) + 1 + extra
        rec["evidence"] = (rec.get("evidence", []) + [evidence.as_dict()])[-MAX_EVIDENCE:]
        return lesson.occurrences + rec["count"]

    def _append_event(self, failure: Failure, fp: str, lesson_id: str | None) -> int | None:
        if self.events is None:
            return None
        payload = {"kind": failure.kind, "component": failure.component, "summary": failure.summary[:300],
                   "fingerprint": fp, "failure_event_id": failure.event_id, "lesson_id": lesson_id,
                   "symbol": failure.symbol, "strategy": failure.strategy}
        try:
            return int(self.events.append_event("lesson_captured", payload))
        except Exception as exc:  # noqa: BLE001 - the lesson is still worth writing
            log.warning("lesson_event_append_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            return None

    # ------------------------------------------------------------------ state file

    def _load_state(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"version": 1, "fingerprints": {}, "shared_occurrences": {}}
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return empty
        except (OSError, ValueError) as exc:
            log.error("capture_state_unreadable", path=str(self.state_path), error=str(exc)[:200])
            try:
                self.state_path.replace(self.state_path.with_suffix(".corrupt.json"))
            except OSError:
                pass
            return empty
        if not isinstance(raw, dict):
            return empty
        for key in ("fingerprints", "shared_occurrences"):
            if not isinstance(raw.get(key), dict):
                raw[key] = {}
        return raw

    def _save_state(self, state: dict[str, Any]) -> None:
        atomic_write_text(self.state_path, json.dumps(state, indent=1, sort_keys=True, default=str))


def shared_occurrences(account: str | None, lesson_id: str, state_path: Path | None = None) -> dict[str, Any]:
    """This account's recorded occurrences of a shared seed lesson (count and evidence)."""
    path = state_path or config.account_paths(account)["capture_state"]
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        rec = raw.get("shared_occurrences", {}).get(lesson_id) or {}
        return {"count": int(rec.get("count", 0)), "evidence": list(rec.get("evidence", []))}
    except (OSError, ValueError, AttributeError, TypeError):
        return {"count": 0, "evidence": []}


def _note(failure: Failure, seq: int | None) -> str:
    note = f"{failure.kind}: {failure.summary.strip()}"[:160]
    if failure.event_id is not None:
        note += f" (failure event {failure.event_id})"
    if seq is not None:
        note += f" (lesson_captured {seq})"
    return note

