"""A short trading session under faults of every kind injected by the sim: the daemon stays up
and healthy, every fault that reached its code is on record, and the invariants hold."""

from __future__ import annotations

import pytest

from stockbot.chaos.faultsession import MENU, run_fault_session

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_fault_session(tmp_path_factory.mktemp("faults"), 12, 0.05, seed=3, prime=True, say=lambda _m: None)


def test_daemon_stays_up_healthy_and_stops_cleanly(result):
    assert result["ready"] and result["died_at_s"] is None
    assert result["exit_code"] == 0 and result["settled"]
    assert result["watchdog_pings"] > 3 and result["longest_watchdog_gap_s"] < 45
    assert result["stream_connections_at_end"] >= 1  # the feed came back after the drop


def test_faults_of_every_order_path_kind_were_hit_and_recorded(result):
    hit = result["faults_hit"]
    assert set(hit) >= {kind for kind, _ in MENU}
    for kind in ("order_504_after", "agent_500", "stream_drop"):
        assert hit[kind] >= 1, hit
    acct = result["account"]
    assert acct["order_posts_failed"] >= 1 and acct["unrecorded"] == 0, acct["unrecorded_examples"]
    assert acct["lessons_captured"] >= 1 and acct["votes_with_error"] >= 1


def test_invariants_hold_after_the_faults(result):
    assert result["bad"] == dict.fromkeys(result["bad"], 0), result["bad"]
    assert result["corrupt_lesson_reported"] and result["claims"]["claimed"] > 20
