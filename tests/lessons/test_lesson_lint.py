"""Lesson lint: lessons whose guard or advice contradicts the broker are refused at load."""

from __future__ import annotations

import pytest

from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import LessonStore
from stockbot.lessons.lint import advice_problems, lint_lesson
from stockbot.lessons.model import parse_lesson

FILE = """---
id: LL-{n}
title: {title}
date: 2026-03-10
status: confirmed
{guard}
---

## Trigger
Something went wrong with a condor.

## Fix applied
{fix}

## Prevention
{prevention}
"""


def text(n=501, title="A lesson", guard="", fix="Handled.", prevention="Watch it."):
    return FILE.format(n=n, title=title, guard=guard, fix=fix, prevention=prevention)


@pytest.mark.parametrize("advice, rule", [
    ("Protect every iron condor with a bracket order (take profit and stop loss).", "bracket_options"),
    ("Attach an OCO exit to the credit spread when it fills.", "bracket_options"),
    ("When closing a spread, close the long leg first, then buy back the short.", "long_leg_first"),
    ("Sell the long put before the short put to free buying power.", "long_leg_first"),
    ("Enter condors in extended hours when the options are cheaper.", "options_extended_hours"),
    ("Send the double condor as one 8-leg mleg order.", "mleg_legs"),
])
def test_contradicting_advice_is_refused_with_the_rule(advice, rule):
    problems = lint_lesson(parse_lesson(text(prevention=advice)))
    assert problems and problems[0].startswith(f"prevention: {rule}")


@pytest.mark.parametrize("advice", [
    "Never use a bracket order for an options spread; exits are separate mleg orders.",
    "Close the short leg first, then the long leg (or the whole spread as one mleg order).",
    "Use bracket orders for stock entries.",
    "Options do not trade in extended hours.",
    "Send all four legs as one mleg order.",
])
def test_correct_advice_passes(advice):
    assert advice_problems(advice) == []


def test_no_op_guards_are_refused():
    for guard in ("guard: {kind: require_mleg, orders: [mleg]}", "guard: {kind: close_via_close_position, orders: [entry]}",
                  "guard: {kind: block_symbol, symbol: SPY, orders: [close]}",
                  "guard: {kind: block_symbol, symbol: SPY, expires: 2026-03-01}"):
        assert [p for p in lint_lesson(parse_lesson(text(guard=guard))) if p.startswith("guard_no_op")], guard


def test_load_refuses_the_file_naming_it_and_the_reason_and_save_refuses_to_write(isolated_roots):
    store = LessonStore("acct1")
    store.account_dir.mkdir(parents=True)
    (store.account_dir / "LL-501.md").write_text(text(prevention="Close the long leg first, then the short."))
    (store.account_dir / "LL-502.md").write_text(text(n=502))
    loaded = store.load()
    assert [x.id for x in loaded.lessons] == ["LL-502"]
    assert len(loaded.errors) == 1
    assert "LL-501.md" in loaded.errors[0] and "refused by lesson lint" in loaded.errors[0]
    assert "long_leg_first" in loaded.errors[0]
    bad = parse_lesson(text(n=503, fix="Use a bracket order for the condor."))
    with pytest.raises(LessonError, match="bracket_options"):
        store.save(bad)
    assert not (store.account_dir / "LL-503.md").exists()


def test_seed_lessons_pass_lint(seeds):
    loaded = LessonStore("acct1").load()
    assert len(loaded.lessons) == 12 and loaded.errors == ()
