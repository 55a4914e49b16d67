"""Typed store rows: every column parsed once, the stored bytes exactly as before."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from decimal import Decimal

from stockbot.domain import Leg, LocalOrderStatus, OrderClass, OrderIntent, OrderPurpose, Side, TradeStatus
from stockbot.store import Store
from stockbot.store_rows import DecisionRow, OrderRow, TradeLeg, TradeRow, VoteRow

OPENED = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)
LEGS = (Leg("SPY260320P00550000", Side.BUY), Leg("SPY260320P00555000", Side.SELL))


def _intent() -> OrderIntent:
    return OrderIntent(client_order_id="a-d1-condor_open-0", qty=Decimal(2), order_class=OrderClass.MLEG, legs=LEGS,
                       order_type="limit", limit_price=Decimal("-1.35"), purpose=OrderPurpose.CONDOR_OPEN,
                       decision_id="d1")


def _columns(path, table: str) -> list[dict]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute(f"SELECT * FROM {table}")]


def test_an_order_reads_back_typed_and_its_columns_stay_text(tmp_path):
    path = tmp_path / "state.db"
    with Store(path) as s:
        s.record_order_intent(_intent())
        s.update_order("a-d1-condor_open-0", status="filled", broker_id="b-1", filled_qty=Decimal(2),
                       filled_avg_price=Decimal("-1.30"), raw={"id": "b-1", "status": "filled"})
        row = s.get_order("a-d1-condor_open-0")
        assert s.orders() == [row] and s.orders(status="filled") == [row]
    [stored] = _columns(path, "orders")
    assert isinstance(row, OrderRow)
    assert (row.qty, row.limit_price, row.filled_qty, row.filled_avg_price) == (
        Decimal(2), Decimal("-1.35"), Decimal(2), Decimal("-1.30"))
    assert row.purpose is OrderPurpose.CONDOR_OPEN and row.status == "filled" and row.broker_id == "b-1"
    assert row.created_ts == datetime.fromisoformat(stored["created_ts"]) and row.created_ts.tzinfo is not None
    assert row.intent == json.loads(stored["intent"]) and row.raw == {"id": "b-1", "status": "filled"}
    assert [leg["symbol"] for leg in row.intent_legs] == [leg.symbol for leg in LEGS] and row.intent_side is None
    # the database keeps the text it always kept
    assert {k: stored[k] for k in ("purpose", "status", "qty", "limit_price", "filled_qty", "filled_avg_price")} == {
        "purpose": "condor_open", "status": "filled", "qty": "2", "limit_price": "-1.35", "filled_qty": "2",
        "filled_avg_price": "-1.30"}
    assert row.as_json()["limit_price"] == "-1.35" and row.as_json()["created_ts"] == stored["created_ts"]


def test_unknown_stored_text_still_loads_as_text(tmp_path):
    path = tmp_path / "state.db"
    with Store(path) as s:
        s.record_order_intent(_intent(), status="submitting")
        assert s.get_order("a-d1-condor_open-0").status is LocalOrderStatus.SUBMITTING
    with sqlite3.connect(path) as db:  # e.g. an older stockbot's purpose, a broker status
        db.execute("UPDATE orders SET purpose = 'entry', status = 'pending_replace', filled_qty = NULL")
    with Store(path, readonly=True) as s:
        row = s.get_order("a-d1-condor_open-0")
    assert (row.purpose, row.status, row.filled_qty) == ("entry", "pending_replace", Decimal(0))
    assert type(row.purpose) is str and type(row.status) is str


def test_a_trade_round_trips_with_legs_and_meta(tmp_path):
    path = tmp_path / "state.db"
    with Store(path) as s:
        s.record_trade(structure_id="d1", strategy="condor", opened_ts=OPENED, status="open",
                       entry_client_order_id="c-1", qty=Decimal(2), entry_price=Decimal("1.35"),
                       legs=[TradeLeg("SPY260320P00550000", Decimal(2)), TradeLeg("SPY260320P00555000", Decimal(-2))],
                       meta={"credit": Decimal("1.35")})
        before = _columns(path, "trades")
        # the legacy write (dicts of strings) stores the very same bytes as TradeLeg rows
        s.record_trade(structure_id="d1", legs=[{"symbol": "SPY260320P00550000", "qty": "2"},
                                                {"symbol": "SPY260320P00555000", "qty": "-2"}])
        assert _columns(path, "trades") == before
        [t] = s.trades(status=TradeStatus.OPEN)
        s.record_trade(structure_id="d1", status="closed", closed_ts=OPENED, exit_price=Decimal("0.40"),
                       pnl=Decimal("190.00"))
        [closed] = s.trades(status="closed")
    assert isinstance(t, TradeRow) and t.is_open and t.status is TradeStatus.OPEN
    assert t.opened_ts == OPENED and t.closed_ts is None and t.qty == 2 and t.entry_price == Decimal("1.35")
    assert t.legs == (TradeLeg("SPY260320P00550000", Decimal(2)), TradeLeg("SPY260320P00555000", Decimal(-2)))
    assert t.meta == {"credit": "1.35"} and t.pnl is None and t.exit_price is None
    assert (closed.closed_ts, closed.exit_price, closed.pnl, closed.is_open) == (
        OPENED, Decimal("0.40"), Decimal("190.00"), False)
    assert json.loads(before[0]["legs"]) == t.as_json()["legs"]


def test_decisions_and_votes_read_back_typed(tmp_path):
    with Store(tmp_path / "state.db") as s:
        s.record_decision("d1", strategy="condor", action="ENTER", params={"dte": 30}, reason="3/3",
                          context={"iv": 0.2}, lessons=[{"id": "LL-1"}], prompt="p")
        s.record_vote("d1", agent="a", model="m", action="ENTER", confidence=0.7, latency_s=0.5, prompt_tokens=10,
                      completion_tokens=5, cost_usd=None, vote={"rationale": "why"}, raw_sha256="x", error=None)
        [d], [v] = s.decisions(), s.votes("d1")
    assert isinstance(d, DecisionRow) and isinstance(v, VoteRow)
    assert (d.params, d.context, d.lessons, d.prompt, d.ts.tzinfo is not None) == (
        {"dte": 30}, {"iv": 0.2}, [{"id": "LL-1"}], "p", True)
    assert (v.agent, v.confidence, v.vote, v.error, v.decision_id) == ("a", 0.7, {"rationale": "why"}, None, "d1")
    assert v.as_json()["ts"] == v.ts.isoformat()
