"""``kill -9`` of the real daemon at six points of the order path, a restart after each, then a
clean SIGTERM stop; the broker (the sim, in its own process) and the store must agree."""

from __future__ import annotations

import pytest

from stockbot.chaos.killloop import PHASES, run_kill_loop

# One round per phase, in this order: before the POST, the start-up that must resolve it, during
# the POST, a resting order, after the fill was recorded but before the trade was booked, and
# after a closing fill was recorded but before the trade was closed with its P&L.
CI_PHASES = ["after_intent", "startup", "in_post", "resting", "after_fill", "close_ack"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return run_kill_loop(tmp_path_factory.mktemp("kill"), len(CI_PHASES), phases=CI_PHASES, say=lambda _m: None)


def test_every_round_was_killed_where_intended(result):
    rounds = result["per_round"]
    assert [r["phase"] for r in rounds] == CI_PHASES
    for r in rounds:  # a kill that never came (timeout) would make the round meaningless
        assert r["killed_by"] == ("self" if PHASES[r["phase"]].die_on else "parent"), r
    assert result["daemon_starts"] == len(CI_PHASES) + 1 and result["final"]["exit_code"] == 0
    assert result["broker"]["broker_orders"] >= 4  # the rounds did send orders


def test_no_reported_write_is_lost_and_every_restart_gets_ready(result):
    bad = result["bad"]
    assert (bad["lost_writes"], bad["db_open_errors"], bad["unexpected_exits"], bad["restart_not_ready"],
            bad["final_exit_nonzero"], bad["integrity_errors"]) == (0, 0, 0, 0, 0, 0)
    assert result["writes_claimed"] > 50


def test_no_duplicate_unknown_or_unresolved_order(result):
    bad = result["bad"]
    assert (bad["duplicate_client_ids"], bad["orders_unknown_to_store"], bad["double_entries"], bad["in_flight"],
            bad["status_mismatches"]) == (0, 0, 0, 0, 0)
    # the kill before the POST left an intent the restart proved never reached the broker
    assert result["resolved_at_startup"].get("not_received", 0) >= 1


def test_no_naked_short_at_the_broker(result):
    assert result["bad"]["naked_shorts"] == 0


def test_every_filled_entry_is_booked_and_no_leg_is_orphaned(result):
    # the after_fill kill leaves an entry the store has as filled without its trade: the restart
    # must book it (fixed in 12dc7eb), or its legs would be unmanaged or liquidated as orphans
    assert (result["bad"]["unbooked_fills"], result["bad"]["orphan_legs"]) == (0, 0)
    assert result["late_fills_booked"].get("opened", 0) >= 1 and result["orphan_legs_closed_at_startup"] == 0


def test_a_closing_fill_cut_off_by_the_kill_is_booked_with_its_pnl(result):
    # the close_ack kill leaves a closing mleg filled at the broker and in the store, its trade still
    # open: the restart must close the trade from that fill (found by this suite; was "closed elsewhere")
    assert result["bad"]["unbooked_closes"] == 0
    assert result["late_fills_booked"].get("closed", 0) >= 1
