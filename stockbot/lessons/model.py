"""The lesson model and its Markdown file format.

A lesson is one Markdown file ``LL-NNN.md``: a YAML front-matter block between ``---`` lines,
then a title line and the sections ``## Trigger``, ``## Impact``, ``## Root cause``,
``## Fix applied``, ``## Prevention``. People read and diff these files; the vector index is
derived from them. Parsing is strict: an unknown front-matter key or guard kind is an error
naming the file, because a silently ignored ``gaurd:`` would be a guard that never fires.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Mapping

import yaml

from stockbot.lessons.errors import LessonError
from stockbot.lessons.guards import Guard, as_date, parse_guard

LESSON_ID_RE = re.compile(r"^LL-(\d{3,6})$")
TAG_KEYS = ("strategy", "symbol", "order_type", "component")
FRONT_KEYS = {"id", "title", "date", "severity", "status", "tags", "guard", "occurrences",
              "fingerprints", "source"}
SECTIONS = (("trigger", "Trigger"), ("symptoms", "Symptoms"), ("impact", "Impact"), ("root_cause", "Root cause"),
            ("fix_applied", "Fix applied"), ("prevention", "Prevention"))
# Optional sections: not written when empty (a lesson without symptoms renders as before).
OPTIONAL_SECTIONS = {"symptoms"}
_SECTION_BY_HEADING = {h.lower(): name for name, h in SECTIONS}
# How the index turns a lesson into a vector; part of the content hash, so changing the method
# shows as drift and the index re-embeds every lesson.
VECTOR_METHOD = "whole+fields-mean/v1"
MAX_EVIDENCE = 50  # keep the newest references; the count keeps growing


class Status(str, enum.Enum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    RETIRED = "retired"


class Severity(str, enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Tags:
    """What a lesson applies to. An empty tuple means "any" (a generic lesson)."""

    strategy: tuple[str, ...] = ()
    symbol: tuple[str, ...] = ()
    order_type: tuple[str, ...] = ()
    component: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {k: list(getattr(self, k)) for k in TAG_KEYS}

    def text(self) -> str:
        parts = [f"{k.replace('_', ' ')}: {', '.join(getattr(self, k))}" for k in TAG_KEYS if getattr(self, k)]
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One occurrence reference: the state-store event id (seq) and/or a short note."""

    ts: datetime | None = None
    event_id: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.ts is not None:
            out["ts"] = self.ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.event_id is not None:
            out["event_id"] = self.event_id
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class Lesson:
    """One lesson learned. ``scope`` ("shared" or the account's scope) and ``path`` come from
    where the file was loaded and are not written into it."""

    id: str
    title: str
    date: date
    trigger: str
    symptoms: str = ""  # how the failure looks to an operator (messages, what one sees): for retrieval
    impact: str = ""
    root_cause: str = ""
    fix_applied: str = ""
    prevention: str = ""
    severity: Severity = Severity.MEDIUM
    status: Status = Status.DRAFT
    tags: Tags = Tags()
    occurrences: int = 1
    evidence: tuple[Evidence, ...] = ()
    guard: Guard | None = None
    fingerprints: tuple[str, ...] = ()
    source: str = "manual"
    extra_sections: tuple[tuple[str, str], ...] = ()
    scope: str = ""
    path: Path | None = field(default=None, compare=False)

    @property
    def number(self) -> int:
        return lesson_number(self.id)

    def embedding_text(self) -> str:
        """The text the index embeds: title and trigger first (the model truncates long input)."""
        parts = [self.title, f"Trigger: {self.trigger}"]
        for name, heading in SECTIONS[1:]:
            value = getattr(self, name)
            if value:
                parts.append(f"{heading}: {value}")
        if self.tags.text():
            parts.append(self.tags.text())
        return "\n".join(parts)

    def embedding_fields(self) -> list[str]:
        """The fields embedded one by one next to the whole text (see ``index.lesson_vectors``)."""
        return [self.title, self.trigger, self.symptoms, self.impact, self.root_cause, self.fix_applied,
                self.prevention]

    def content_hash(self) -> str:
        """Hash of exactly what the index holds (text, status, tags, guard...); evidence and
        occurrence counts are not indexed, so updating them is not drift."""
        blob = json.dumps({
            "text": self.embedding_text(), "status": self.status.value, "severity": self.severity.value,
            "tags": self.tags.as_dict(), "guard": self.guard.spec if self.guard else None,
            "vector": VECTOR_METHOD, "fields": self.embedding_fields(),
        }, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def with_occurrence(self, evidence: Evidence | None, fingerprint: str | None, extra: int = 0) -> "Lesson":
        """A copy with the count bumped (plus ``extra`` suppressed repeats) and the evidence added."""
        ev = self.evidence + ((evidence,) if evidence is not None else ())
        fps = self.fingerprints
        if fingerprint and fingerprint not in fps:
            fps = fps + (fingerprint,)
        return replace(self, occurrences=self.occurrences + 1 + extra, evidence=ev[-MAX_EVIDENCE:],
                       fingerprints=fps)

    def summary_line(self) -> str:
        return f"{self.id} [{self.status.value}/{self.severity.value}] {self.title}"


def lesson_number(lesson_id: str) -> int:
    m = LESSON_ID_RE.fullmatch(lesson_id)
    if not m:
        raise LessonError(f"invalid lesson id {lesson_id!r}: expected LL-NNN")
    return int(m.group(1))


def format_id(number: int) -> str:
    return f"LL-{number:03d}"


# --------------------------------------------------------------------------- parsing


def parse_lesson(text: str, source: str | Path = "<text>", scope: str = "") -> Lesson:
    """Parse one lesson file. Raises LessonError naming ``source`` on any problem."""
    src = str(source)
    front, body = _split_front_matter(text, src)
    unknown = sorted(set(front) - FRONT_KEYS)
    if unknown:
        raise LessonError(f"{src}: unknown front-matter key(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(sorted(FRONT_KEYS))})")
    lesson_id = _req_str(front, "id", src)
    if not LESSON_ID_RE.fullmatch(lesson_id):
        raise LessonError(f"{src}: id {lesson_id!r} is not of the form LL-NNN")
    if isinstance(source, Path) and source.stem != lesson_id:
        raise LessonError(f"{src}: file name does not match its id {lesson_id}")
    sections, extra, heading_title = _parse_body(body, src)
    title = str(front.get("title") or heading_title or "").strip()
    if not title:
        raise LessonError(f"{src}: missing title (front-matter 'title' or a '# LL-NNN: title' line)")
    if not sections.get("trigger"):
        raise LessonError(f"{src}: missing '## Trigger' section")
    occ = front.get("occurrences")
    if occ is None:
        occ = {}
    if isinstance(occ, int) and not isinstance(occ, bool):
        occ = {"count": occ}
    if not isinstance(occ, dict) or set(occ) - {"count", "evidence"}:
        raise LessonError(f"{src}: 'occurrences' must be a mapping with 'count' and 'evidence'")
    guard_spec = front.get("guard")
    guard = parse_guard(guard_spec, lesson_id, src) if guard_spec is not None else None
    try:
        return Lesson(
            id=lesson_id, title=title, date=_as_date(front.get("date"), src),
            severity=_enum(Severity, front.get("severity", "medium"), "severity", src),
            status=_enum(Status, front.get("status", "draft"), "status", src),
            tags=_parse_tags(front.get("tags"), src),
            occurrences=_non_negative_int(occ.get("count", 1), "occurrences.count", src),
            evidence=tuple(_parse_evidence(e, src) for e in (occ.get("evidence") or [])),
            guard=guard,
            fingerprints=tuple(str(f) for f in (front.get("fingerprints") or [])),
            source=str(front.get("source") or "manual"),
            extra_sections=tuple(extra), scope=scope,
            path=source if isinstance(source, Path) else None,
            **{name: sections.get(name, "") for name, _ in SECTIONS},
        )
    except (TypeError, ValueError) as exc:
        raise LessonError(f"{src}: {exc}") from None


def _split_front_matter(text: str, src: str) -> tuple[dict[str, Any], str]:
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise LessonError(f"{src}: does not start with a '---' front-matter block")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise LessonError(f"{src}: front-matter block is not closed with '---'") from None
    try:
        front = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise LessonError(f"{src}: front matter is not valid YAML{where}: "
                          f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(front, dict):
        raise LessonError(f"{src}: front matter must be a mapping")
    return front, "\n".join(lines[end + 1:])


def _parse_body(body: str, src: str) -> tuple[dict[str, str], list[tuple[str, str]], str]:
    sections: dict[str, str] = {}
    extra: list[tuple[str, str]] = []
    title = ""
    current: str | None = None
    buf: list[str] = []

    def flush() -> None:
        if current is None:
            return
        text = "\n".join(buf).strip()
        key = _SECTION_BY_HEADING.get(current.lower())
        if key:
            if key in sections:
                raise LessonError(f"{src}: section '## {current}' appears twice")
            sections[key] = text
        else:
            extra.append((current, text))

    for line in body.splitlines():
        if line.startswith("## "):
            flush()
            current, buf = line[3:].strip(), []
        elif line.startswith("# ") and current is None and not title:
            title = re.sub(r"^LL-\d+\s*[:\-—]\s*", "", line[2:].strip())
        elif current is not None:
            buf.append(line)
    flush()
    return sections, extra, title


def _req_str(front: Mapping[str, Any], key: str, src: str) -> str:
    value = front.get(key)
    if not isinstance(value, str) or not value.strip():
        raise LessonError(f"{src}: missing or empty '{key}'")
    return value.strip()


def _as_date(value: Any, src: str) -> date:
    got = as_date(value)
    if got is None:
        raise LessonError(f"{src}: 'date' must be YYYY-MM-DD, got {value!r}")
    return got


def _enum(cls: type[enum.Enum], value: Any, key: str, src: str) -> Any:
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(m.value for m in cls)  # type: ignore[attr-defined]
        raise LessonError(f"{src}: '{key}' must be one of {allowed}, got {value!r}") from None


def _non_negative_int(value: Any, key: str, src: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise LessonError(f"{src}: '{key}' must be a non-negative integer, got {value!r}")
    return value


def _parse_tags(raw: Any, src: str) -> Tags:
    if raw is None:
        return Tags()
    if not isinstance(raw, dict):
        raise LessonError(f"{src}: 'tags' must be a mapping of {', '.join(TAG_KEYS)}")
    unknown = sorted(set(raw) - set(TAG_KEYS))
    if unknown:
        raise LessonError(f"{src}: unknown tag key(s) {', '.join(unknown)} (allowed: {', '.join(TAG_KEYS)})")
    out: dict[str, tuple[str, ...]] = {}
    for key in TAG_KEYS:
        value = raw.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
            raise LessonError(f"{src}: tags.{key} must be a list of strings")
        items = [str(v).strip() for v in value if str(v).strip()]
        out[key] = tuple(v.upper() if key == "symbol" else v.lower() for v in items)
    return Tags(**out)


def _parse_evidence(raw: Any, src: str) -> Evidence:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return Evidence(event_id=raw)
    if not isinstance(raw, dict) or set(raw) - {"ts", "event_id", "note"}:
        raise LessonError(f"{src}: each evidence entry must be a mapping of ts, event_id, note")
    ts = raw.get("ts")
    if isinstance(ts, str):
        try:
            ts = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        except ValueError:
            raise LessonError(f"{src}: evidence ts {ts!r} is not ISO-8601") from None
    if ts is not None and (not isinstance(ts, datetime) or ts.tzinfo is None):
        raise LessonError(f"{src}: evidence ts must be a timezone-aware timestamp, got {ts!r}")
    event_id = raw.get("event_id")
    if event_id is not None and (isinstance(event_id, bool) or not isinstance(event_id, int)):
        raise LessonError(f"{src}: evidence event_id must be an integer, got {event_id!r}")
    return Evidence(ts=ts, event_id=event_id, note=str(raw.get("note") or ""))


# --------------------------------------------------------------------------- rendering


def render_lesson(lesson: Lesson) -> str:
    """The file text of ``lesson``; ``parse_lesson(render_lesson(x))`` equals ``x``."""
    front: dict[str, Any] = {
        "id": lesson.id,
        "title": lesson.title,
        "date": lesson.date.isoformat(),
        "severity": lesson.severity.value,
        "status": lesson.status.value,
        "source": lesson.source,
        "tags": {k: v for k, v in lesson.tags.as_dict().items() if v},
        "guard": dict(lesson.guard.spec) if lesson.guard else None,
        "occurrences": {"count": lesson.occurrences, "evidence": [e.as_dict() for e in lesson.evidence]},
        "fingerprints": list(lesson.fingerprints),
    }
    if not front["tags"]:
        del front["tags"]
    if front["guard"] is None:
        del front["guard"]
    if not front["fingerprints"]:
        del front["fingerprints"]
    yml = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    out = ["---", yml.rstrip("\n"), "---", "", f"# {lesson.id}: {lesson.title}", ""]
    for name, heading in SECTIONS:
        if name in OPTIONAL_SECTIONS and not getattr(lesson, name).strip():
            continue
        out += [f"## {heading}", getattr(lesson, name).strip(), ""]
    for heading, text in lesson.extra_sections:
        out += [f"## {heading}", text.strip(), ""]
    return "\n".join(out).rstrip("\n") + "\n"
