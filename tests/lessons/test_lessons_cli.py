"""``stockbot lessons ...`` through the argparse wiring the top-level CLI uses."""

from __future__ import annotations

import argparse

import pytest

from stockbot import config
from stockbot.lessons.cli import add_subparser
from stockbot.lessons.files import LessonStore
from stockbot.lessons.model import Status


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="stockbot")
    sub = parser.add_subparsers(dest="command")
    add_subparser(sub)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_list_and_show(seeds, capsys):
    assert run("lessons", "list", "--account", "acct1") == 0
    out = capsys.readouterr().out
    assert "LL-221" in out and "require_mleg" in out and "12 lesson(s)" in out
    assert run("lessons", "show", "LL-221", "--account", "acct1") == 0
    out = capsys.readouterr().out
    assert "## Root cause" in out and "kind: require_mleg" in out
    assert run("lessons", "show", "LL-999", "--account", "acct1") == 1
    assert "no lesson LL-999" in capsys.readouterr().err


def test_add_confirm_retire(seeds, capsys):
    assert run("lessons", "add", "--account", "acct1", "--title", "Never trade XYZ again", "--trigger",
               "XYZ halted twice mid-order", "--severity", "high", "--symbol", "xyz", "--component", "execution",
               "--guard", "{kind: block_symbol, symbol: XYZ}") == 0
    assert "LL-291.md" in capsys.readouterr().out
    x = LessonStore("acct1").get("LL-291")
    assert x.status is Status.DRAFT and x.tags.symbol == ("XYZ",) and x.guard.lesson_id == "LL-291"
    assert run("lessons", "confirm", "LL-291", "--account", "acct1") == 0
    assert LessonStore("acct1").get("LL-291").status is Status.CONFIRMED
    assert run("lessons", "retire", "ll-291", "--account", "acct1") == 0
    assert LessonStore("acct1").get("LL-291").status is Status.RETIRED
    assert run("lessons", "list", "--account", "acct1", "--status", "retired") == 0
    assert "LL-291" in capsys.readouterr().out
    # shared seeds are read-only at run time
    assert run("lessons", "retire", "LL-221", "--account", "acct1") == 1
    assert "read-only" in capsys.readouterr().err


def test_add_refuses_a_bad_guard(seeds, capsys):
    assert run("lessons", "add", "--title", "t", "--trigger", "x", "--guard", "{kind: teleport}") == 1
    assert "unknown guard kind 'teleport'" in capsys.readouterr().err
    assert not list(config.account_paths(None)["lessons"].glob("LL-*.md"))  # nothing half-written


def test_account_id_is_validated(seeds, capsys):
    with pytest.raises(SystemExit):
        run("lessons", "list", "--account", "../etc")
    assert "invalid account id" in capsys.readouterr().err


def test_reindex_and_search(seeds, embedder, capsys):
    assert run("lessons", "reindex", "--account", "acct1") == 0
    captured = capsys.readouterr()
    assert "indexed 12 lesson(s)" in captured.out and "index in sync" in captured.out
    assert "reindex lessons" in captured.err  # the progress bar
    assert run("lessons", "search", "iron condor partial fill", "--account", "acct1") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert "LL-221" in lines[0]


def test_search_while_the_daemon_holds_the_index(seeds, embedder, capsys):
    from stockbot.lessons.index import LessonIndex

    held = LessonIndex.open(embedder, "acct1")  # as a running daemon would
    try:
        assert run("lessons", "search", "iron condor partial fill", "--account", "acct1") == 0
        captured = capsys.readouterr()
        assert "LL-221" in captured.out.splitlines()[0] and "in use" in captured.err
        assert run("lessons", "reindex", "--account", "acct1") == 1
        assert "in use by another process" in capsys.readouterr().err
    finally:
        held.close()


def test_corrupt_file_is_named_and_the_rest_listed(seeds, capsys):
    bad = config.shared_lessons_dir() / "LL-500.md"
    bad.write_text("---\nid: LL-500\n")
    assert run("lessons", "list") == 0
    captured = capsys.readouterr()
    assert "12 lesson(s)" in captured.out and str(bad) in captured.err
