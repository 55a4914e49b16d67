"""The StrEnums of order purposes and outcome states equal the strings already in state.db."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pytest

from stockbot.domain import (CycleStatus, LocalOrderStatus, ManageStatus, OrderIntent, OrderPurpose, Side,
                             TradeStatus)
from stockbot.store import Store

# The strings stored before the enums existed: a member must equal its old spelling exactly.
STORED = [
    (OrderPurpose.CONDOR_OPEN, "condor_open"), (OrderPurpose.CONDOR_CLOSE, "condor_close"),
    (OrderPurpose.CLOSE_POSITION, "close_position"), (OrderPurpose.EQUITY_OPEN, "equity_open"),
    (TradeStatus.OPEN, "open"), (TradeStatus.CLOSED, "closed"),
    (LocalOrderStatus.SUBMITTING, "submitting"), (LocalOrderStatus.UNKNOWN, "unknown"),
    (LocalOrderStatus.NOT_RECEIVED, "not_received"),
    (CycleStatus.ENTERED, "entered"), (CycleStatus.MARKET_CLOSED, "market_closed"),
    (ManageStatus.CLOSED_LEG_BY_LEG, "closed_leg_by_leg"),
]


@pytest.mark.parametrize("member, text", STORED, ids=[t for _, t in STORED])
def test_member_is_its_stored_string(member, text):
    assert member == text and str(member) == text and f"{member}" == text and hash(member) == hash(text)
    assert type(member)(text) is member  # a row read back as str turns into the member again


def test_a_purpose_round_trips_through_the_store_unchanged(tmp_path):
    path = tmp_path / "state.db"
    with Store(path) as store:
        intent = OrderIntent(client_order_id="c-1", qty=Decimal(1), symbol="SPY", side=Side.BUY,
                             purpose=OrderPurpose.EQUITY_OPEN, decision_id="d-1")
        store.record_order_intent(intent)
        store.record_trade(structure_id="s-1", strategy="equity", qty="1")
        row = store.get_order("c-1")
        assert row is not None and row.purpose == OrderPurpose.EQUITY_OPEN
        assert row.status == LocalOrderStatus.SUBMITTING
        assert [t.status for t in store.trades(status=TradeStatus.OPEN)] == ["open"]
    # On disk: plain TEXT, the same bytes as before the enums.
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT purpose, status, typeof(purpose) FROM orders").fetchall() == [
            ("equity_open", "submitting", "text")]
        assert db.execute("SELECT status FROM trades").fetchall() == [("open",)]
