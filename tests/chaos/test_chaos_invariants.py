"""The reliability suite's checkers catch what they claim to catch (a checker that always passes
would make every chaos count a meaningless 0): table tests on a real store and broker-shaped data."""

from __future__ import annotations

from decimal import Decimal

import pytest

from stockbot.chaos.invariants import check_broker, check_claims, naked_shorts
from stockbot.domain import OrderIntent, Side
from stockbot.store import Store

PUT_L, PUT_S = "SPY261231P00700000", "SPY261231P00705000"
CALL_S, CALL_L = "SPY261231C00800000", "SPY261231C00805000"
LEGS = [{"symbol": PUT_L, "qty": "1"}, {"symbol": PUT_S, "qty": "-1"},
        {"symbol": CALL_S, "qty": "-1"}, {"symbol": CALL_L, "qty": "1"}]


def _store(path, *, trade: bool = True, entry_status: str = "filled") -> None:
    with Store(path) as s:
        s.append_event("daemon_start", {})
        s.record_order_intent(OrderIntent(client_order_id="c-d1-open-0", qty=Decimal(1), symbol="SPY", side=Side.BUY,
                                          purpose="condor_open", decision_id="d1"))
        s.update_order("c-d1-open-0", status=entry_status, filled_qty=Decimal(1))
        if trade:
            s.record_trade(structure_id="d1", strategy="condor", status="open", qty=Decimal(1), legs=LEGS)


def _positions(**qty: str) -> list[dict]:
    base = {PUT_L: "1", PUT_S: "-1", CALL_S: "-1", CALL_L: "1"}
    base.update(qty)
    return [{"symbol": s, "qty": q} for s, q in base.items() if q != "0"]


BROKER_OK = [{"client_order_id": "c-d1-open-0", "status": "filled", "filled_qty": "1"}]


def test_claims_all_present_and_db_sound(tmp_path):
    db = tmp_path / "s.db"
    _store(db)
    got = check_claims(db, ["E 1 daemon_start", "I c-d1-open-0", "U c-d1-open-0 filled", "T d1 open", "noise"])
    assert (got.claimed, got.lost, got.open_error) == (4, [], None)


@pytest.mark.parametrize("line", ["E 1 decision", "E 99 daemon_start", "I c-never", "U c-d1-open-0 canceled",
                                  "T d9 open"])
def test_claims_detect_a_lost_or_different_write(tmp_path, line):
    db = tmp_path / "s.db"
    _store(db)
    assert check_claims(db, [line]).lost == [line]


def test_claims_on_a_torn_file_count_everything_lost(tmp_path):
    db = tmp_path / "s.db"
    _store(db)
    db.write_bytes(b"garbage" * 100)
    got = check_claims(db, ["E 1 daemon_start", "I c-d1-open-0"])
    assert got.open_error and len(got.lost) == 2


def test_broker_agreeing_with_the_store_has_no_bad_count(tmp_path):
    db = tmp_path / "s.db"
    _store(db)
    got = check_broker(BROKER_OK, _positions(), db)
    assert got.bad_counts() == dict.fromkeys(got.bad_counts(), 0)
    assert (got.entries_filled, got.open_condors, got.option_positions) == (1, 1, 4)


@pytest.mark.parametrize("broker, positions, trade, entry_status, bad", [
    (BROKER_OK * 2, _positions(), True, "filled", "duplicate_client_ids"),
    (BROKER_OK + [{"client_order_id": "stranger", "status": "new", "filled_qty": "0"}], _positions(), True,
     "filled", "orders_unknown_to_store"),
    (BROKER_OK, _positions(), False, "filled", "unbooked_fills"),
    (BROKER_OK, _positions(SPY261231C00805000="0"), True, "filled", "orphan_legs"),
    (BROKER_OK, _positions(SPY261231P00700000="0"), True, "filled", "naked_shorts"),
    (BROKER_OK, _positions(), True, "submitting", "in_flight"),
    ([{"client_order_id": "c-d1-open-0", "status": "canceled", "filled_qty": "1"}], _positions(), True, "filled",
     "status_mismatches"),
    (BROKER_OK, _positions(), True, "not_received", "status_mismatches"),
])
def test_broker_check_detects_each_violation(tmp_path, broker, positions, trade, entry_status, bad):
    db = tmp_path / "s.db"
    _store(db, trade=trade, entry_status=entry_status)
    counts = check_broker(broker, positions, db).bad_counts()
    assert counts[bad] >= 1, counts


def test_two_filled_entries_for_one_decision_are_a_double_entry(tmp_path):
    db = tmp_path / "s.db"
    _store(db)
    with Store(db) as s:
        s.record_order_intent(OrderIntent(client_order_id="c-d1-open-1", qty=Decimal(1), symbol="SPY",
                                          side=Side.BUY, purpose="condor_open", decision_id="d1"))
        s.update_order("c-d1-open-1", status="filled", filled_qty=Decimal(1))
    broker = BROKER_OK + [{"client_order_id": "c-d1-open-1", "status": "filled", "filled_qty": "1"}]
    got = check_broker(broker, _positions(), db)
    assert got.double_entries and got.bad_counts()["double_entries"] == 1


def test_naked_short_needs_cover_of_the_same_expiration_and_right():
    held = {PUT_S: Decimal(-2), PUT_L: Decimal(1), "SPY270115P00700000": Decimal(5)}
    assert len(naked_shorts(held)) == 1
    assert naked_shorts({PUT_S: Decimal(-1), PUT_L: Decimal(1)}) == []


def _closed_at_broker(db, *, booked: bool) -> list[dict]:
    """d1's closing mleg filled at the broker (no legs left); the store's trade closed with it or not."""
    with Store(db) as s:
        s.record_order_intent(OrderIntent(client_order_id="c-d1-close-0", qty=Decimal(1), symbol="SPY",
                                          side=Side.SELL, purpose="condor_close", decision_id="d1"))
        s.update_order("c-d1-close-0", status="filled", filled_qty=Decimal(1))
        s.record_trade(structure_id="d1", status="closed", exit_client_order_id="c-d1-close-0" if booked else None)
    return BROKER_OK + [{"client_order_id": "c-d1-close-0", "status": "filled", "filled_qty": "1"}]


@pytest.mark.parametrize("booked, bad", [(True, 0), (False, 1)])
def test_a_filled_close_must_be_its_trades_exit(tmp_path, booked, bad):
    # a trade marked closed without the fill that closed it lost its exit price and P&L
    db = tmp_path / "s.db"
    _store(db)
    broker = _closed_at_broker(db, booked=booked)
    counts = check_broker(broker, [], db).bad_counts()
    assert counts["unbooked_closes"] == bad and counts["orphan_legs"] == 0, counts
