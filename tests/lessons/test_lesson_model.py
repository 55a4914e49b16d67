"""Lesson files: front-matter round trip, strict parsing, corrupt files, numbering, atomic writes."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from stockbot import config
from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import SHARED_SCOPE, LessonStore, account_scope
from stockbot.lessons.model import (Evidence, Lesson, Severity, Status, Tags, parse_lesson,
                                    render_lesson)

from lesson_helpers import REPO_SEEDS

GOOD = """---
id: LL-401
title: Example lesson
date: 2026-02-01
severity: high
status: draft
tags:
  strategy: [condor]
  symbol: [spy]
guard: {kind: max_qty, qty: 2}
occurrences:
  count: 3
  evidence:
  - {ts: '2026-02-01T15:00:00Z', event_id: 17, note: first}
  - 18
fingerprints: [abc]
---

# LL-401: Example lesson

## Trigger
Something happened.

## Impact
It cost money.

## Root cause
A bug.

## Fix applied
Fixed it.

## Prevention
Check first.

## Notes
Kept as written.
"""


def test_parse_full_lesson():
    x = parse_lesson(GOOD, "mem")
    assert x.id == "LL-401" and x.number == 401
    assert x.title == "Example lesson" and x.date == date(2026, 2, 1)
    assert x.severity is Severity.HIGH and x.status is Status.DRAFT
    assert x.tags.strategy == ("condor",) and x.tags.symbol == ("SPY",)
    assert x.guard is not None and x.guard.kind == "max_qty" and x.guard.lesson_id == "LL-401"
    assert x.occurrences == 3
    assert x.evidence[0] == Evidence(datetime(2026, 2, 1, 15, tzinfo=timezone.utc), 17, "first")
    assert x.evidence[1].event_id == 18
    assert x.trigger == "Something happened." and x.prevention == "Check first."
    assert x.extra_sections == (("Notes", "Kept as written."),)
    assert x.fingerprints == ("abc",)


def test_round_trip_is_exact():
    x = parse_lesson(GOOD, "mem")
    again = parse_lesson(render_lesson(x), "mem")
    assert again == x
    assert render_lesson(again) == render_lesson(x)


@pytest.mark.parametrize("path", sorted(REPO_SEEDS.glob("LL-*.md")), ids=lambda p: p.stem)
def test_every_seed_parses_and_round_trips(path: Path):
    x = parse_lesson(path.read_text(), path, scope=SHARED_SCOPE)
    assert x.status is Status.CONFIRMED and x.source == "seed"
    assert x.trigger and x.impact and x.root_cause and x.fix_applied and x.prevention
    assert parse_lesson(render_lesson(x), path, scope=SHARED_SCOPE) == x


def test_seed_store_has_the_article_lessons_and_eight_more():
    ids = {p.stem for p in REPO_SEEDS.glob("LL-*.md")}
    assert {"LL-221", "LL-282"} <= ids and len(ids) >= 10
    ll221 = parse_lesson((REPO_SEEDS / "LL-221.md").read_text(), REPO_SEEDS / "LL-221.md")
    assert ll221.guard is not None and ll221.guard.kind == "require_mleg"
    ll282 = parse_lesson((REPO_SEEDS / "LL-282.md").read_text(), REPO_SEEDS / "LL-282.md")
    assert ll282.guard is not None and ll282.guard.kind == "close_via_close_position"


@pytest.mark.parametrize("text, needle", [
    ("no front matter\n", "does not start with a '---'"),
    ("---\nid: LL-1\n", "not closed"),
    ("---\nid: [unclosed\n---\n## Trigger\nx\n", "not valid YAML"),
    ("---\n- a list\n---\n", "must be a mapping"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\ngaurd: {kind: require_mleg}\n---\n## Trigger\nx\n",
     "unknown front-matter key(s) gaurd"),
    ("---\nid: L-401\ntitle: t\ndate: 2026-01-01\n---\n## Trigger\nx\n", "not of the form LL-NNN"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\n---\n## Impact\nx\n", "missing '## Trigger'"),
    ("---\nid: LL-401\ntitle: t\ndate: yesterday\n---\n## Trigger\nx\n", "'date' must be YYYY-MM-DD"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\nseverity: huge\n---\n## Trigger\nx\n", "'severity' must be one of"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\nstatus: maybe\n---\n## Trigger\nx\n", "'status' must be one of"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\ntags: {color: [red]}\n---\n## Trigger\nx\n", "unknown tag key"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\nguard: {kind: teleport}\n---\n## Trigger\nx\n",
     "unknown guard kind 'teleport'"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\noccurrences: {count: -1}\n---\n## Trigger\nx\n", "non-negative"),
    ("---\nid: LL-401\ndate: 2026-01-01\n---\n## Trigger\nx\n", "missing title"),
    ("---\nid: LL-401\ntitle: t\ndate: 2026-01-01\n---\n## Trigger\nx\n## Trigger\ny\n", "appears twice"),
])
def test_parse_errors_name_the_file(text, needle):
    with pytest.raises(LessonError) as err:
        parse_lesson(text, "/x/LL-401.md")
    assert "/x/LL-401.md" in str(err.value)
    assert needle in str(err.value)


def test_file_name_must_match_id(tmp_path):
    path = tmp_path / "LL-999.md"
    path.write_text(GOOD)
    with pytest.raises(LessonError, match="does not match its id LL-401"):
        parse_lesson(path.read_text(), path)


def _store(account="acct1") -> LessonStore:
    return LessonStore(account)


def test_corrupt_files_are_reported_and_the_rest_load(seeds):
    store = _store()
    store.account_dir.mkdir(parents=True)
    (store.account_dir / "LL-300.md").write_text(GOOD.replace("LL-401", "LL-300"))
    (store.account_dir / "LL-301.md").write_text("---\nid: LL-301\ntitle: [broken\n---\n")
    (store.account_dir / "LL-302.md").write_bytes(b"\xff\xfe\x00garbage")
    (store.account_dir / "LL-303.md").write_text(GOOD.replace("LL-401", "LL-303").replace("max_qty, qty: 2",
                                                                                        "max_qty, qty: -2"))
    loaded = store.load()
    ids = {x.id for x in loaded.lessons}
    assert "LL-300" in ids and "LL-221" in ids and len(ids) == 13
    assert len(loaded.errors) == 3
    joined = "\n".join(loaded.errors)
    for bad in ("LL-301.md", "LL-302.md", "LL-303.md"):
        assert str(store.account_dir / bad) in joined
    assert "qty must be a positive number" in joined


def test_scopes_and_account_paths(seeds):
    store = _store("acct1")
    assert store.account_dir == config.account_paths("acct1")["lessons"]
    assert store.shared_dir == config.shared_lessons_dir()
    loaded = store.load()
    assert {x.scope for x in loaded.lessons} == {SHARED_SCOPE}
    assert account_scope("acct1") == store.scope == "account:acct1"
    assert LessonStore(None).account_dir == config.account_paths(None)["lessons"]


def test_next_free_number_spans_shared_and_account_files(seeds):
    store = _store()
    assert store.next_id() == "LL-291"  # highest seed is LL-290
    lesson = store.new_draft(title="t", trigger="x")
    a = store.create(lesson)
    b = store.create(lesson)
    assert (a.id, b.id) == ("LL-291", "LL-292")
    assert a.path == store.account_dir / "LL-291.md" and a.scope == store.scope
    # another account starts from the shared numbers, not from acct1's
    assert _store("acct2").next_id() == "LL-291"
    # a corrupt file still holds its number
    (store.account_dir / "LL-400.md").write_text("garbage")
    assert store.next_id() == "LL-401"


def test_reserved_numbers_are_never_reused(seeds):
    store = _store()
    first = store.reserve_id()
    second = store.reserve_id()
    assert first != second
    assert store.load().errors == ()  # a just-reserved empty file is not reported as corrupt
    store.release(first)
    assert not (store.account_dir / f"{first}.md").exists()


def test_shared_seeds_are_read_only(seeds):
    store = _store()
    ll221 = store.get("LL-221")
    assert ll221.scope == SHARED_SCOPE
    with pytest.raises(LessonError, match="read-only"):
        store.save(replace(ll221, title="changed"))
    with pytest.raises(LessonError, match="read-only"):
        store.set_status("LL-221", Status.RETIRED)


def test_status_changes_are_written_atomically(seeds, monkeypatch):
    store = _store()
    x = store.create(store.new_draft(title="t", trigger="x", tags=Tags(strategy=("condor",))))
    assert store.set_status(x.id, Status.CONFIRMED).status is Status.CONFIRMED
    assert store.get(x.id).status is Status.CONFIRMED
    before = (store.account_dir / f"{x.id}.md").read_text()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        store.set_status(x.id, Status.RETIRED)
    assert (store.account_dir / f"{x.id}.md").read_text() == before  # old file intact
    assert not [p for p in store.account_dir.iterdir() if p.name.endswith(".tmp")]  # no temp left behind


def test_occurrence_update_keeps_newest_evidence():
    x = parse_lesson(GOOD, "mem")
    y = x
    for i in range(60):
        y = y.with_occurrence(Evidence(event_id=i), "fp2" if i else None)
    assert y.occurrences == 63 and len(y.evidence) == 50 and y.evidence[-1].event_id == 59
    assert y.fingerprints == ("abc", "fp2")
    assert y.content_hash() == x.content_hash()  # evidence is not indexed content
    assert replace(x, prevention="other").content_hash() != x.content_hash()


def test_lesson_defaults():
    x = Lesson(id="LL-001", title="t", date=date(2026, 1, 1), trigger="x")
    assert x.status is Status.DRAFT and x.severity is Severity.MEDIUM and x.guard is None
    assert "Trigger: x" in x.embedding_text()


def test_zero_occurrences_is_kept():
    text = GOOD.replace("occurrences:\n  count: 3", "occurrences:\n  count: 0")
    assert parse_lesson(text, "mem").occurrences == 0
