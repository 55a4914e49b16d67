"""Corrupted and locked state databases: a clear error naming the file, bytes untouched,
nothing lost once the lock is gone."""

from __future__ import annotations

import pytest

from stockbot.chaos import storage


@pytest.fixture(scope="module")
def corrupted(tmp_path_factory):
    rows = storage.corrupted_cases(tmp_path_factory.mktemp("corrupt"))
    damaged = [r for r in rows if "observation" not in r["case"]]
    assert len(damaged) == len(storage.CORRUPTIONS)
    return damaged


def test_corrupted_state_db_is_refused_and_never_rewritten(corrupted):
    for row in corrupted:
        assert [p for p in row["problems"] if not p.startswith("stockbot status")] == [], row
        assert row["bytes_untouched"] and "state.db" in row["message"]
    runs = [r["run"] for r in corrupted if "run" in r]  # the output naming the file is checked in the case
    assert len(runs) == 3 and all(run["exit_code"] == 2 for run in runs)  # damage is not retried by systemd
    assert any(r["case"] == "truncated to 0 bytes" for r in corrupted)


def test_status_names_the_accounts_own_corrupt_file(corrupted):
    assert [p for r in corrupted for p in r["problems"] if p.startswith("stockbot status")] == []


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """(write lock row, exclusive-mode row), the store's busy timeout cut to 1 s."""
    return storage.locked_cases(tmp_path_factory.mktemp("locks"), busy_timeout_s=1.0, with_cli=False)


def test_locked_state_db_fails_after_the_busy_timeout_without_damage(locked):
    write_lock, exclusive = locked
    for row in (write_lock, exclusive):
        assert row["ok"], row
        assert "locked" in row["message"] and row["integrity_after"] == "ok"
        assert row["events_after"] == storage.EVENTS
    assert write_lock["readers_still_read"]
    assert exclusive["store_error"] and exclusive["names_file"]


def test_a_write_under_another_process_lock_is_a_store_error_naming_the_file(locked):
    # a raw sqlite3.OperationalError until 5a00fb6: `stockbot stop` printed a traceback
    write_lock, _ = locked
    assert write_lock["store_error"] and write_lock["names_file"], write_lock["message"]
