"""Blast radius: ``stockbot lessons impact ID`` replays the account's recorded orders and decisions."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from lesson_helpers import condor_intent
from rowkit import decision_row, order_row

from stockbot.domain import AssetClass, OrderClass, OrderIntent, PositionIntent, Side
from stockbot.lessons.cli import add_subparser
from stockbot.lessons.files import LessonStore
from stockbot.lessons.guards import parse_guard
from stockbot.lessons.impact import intent_from_record, replay
from stockbot.store import Store, dumps
from stockbot.store_rows import OrderRow

NOW = datetime(2026, 3, 20, 15, tzinfo=timezone.utc)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="stockbot")
    add_subparser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return args.func(args)


def intent_row(intent: OrderIntent, ts: datetime) -> OrderRow:
    """The order row the store holds for ``intent`` (its intent as the stored JSON)."""
    return order_row(client_order_id=intent.client_order_id, created_ts=ts, decision_id=intent.decision_id,
                     intent=json.loads(dumps(intent)))


def test_intent_round_trips_through_the_record():
    x = condor_intent(OrderClass.MLEG, decision_id="d1")
    assert intent_from_record(dumps(x)) == x


def test_replay_counts_dates_and_trades_inside_the_window():
    decisions = [
        decision_row(decision_id="d1", ts=NOW - timedelta(days=2), strategy="condor", action="ENTER",
                     context={"symbol": "SPY", "iv_rank": {"value": 0.2}}),
        decision_row(decision_id="d2", ts=NOW - timedelta(days=1), strategy="condor", action="ENTER",
                     context={"symbol": "SPY", "iv_rank": {"value": 0.6}}),
        decision_row(decision_id="d3", ts=NOW - timedelta(days=40), strategy="condor", action="ENTER",
                     context={"symbol": "SPY", "iv_rank": 0.1}),
        decision_row(decision_id="d4", ts=NOW - timedelta(days=3), strategy="condor", action="HOLD",
                     context={"symbol": "SPY", "iv_rank": 0.1}),
    ]
    orders = [intent_row(condor_intent(decision_id="d1", client_order_id="c-d1"), NOW - timedelta(days=2))]
    guard = parse_guard({"kind": "min_iv_rank", "value": 0.3}, "LL-950")
    impact = replay(guard, orders, decisions, account="a", now=NOW, days=30)
    # d1's order (IV rank 0.2) is blocked; d2 recorded no order and passes; d3 is too old; d4 is a HOLD
    assert impact.replayed == 2
    assert [r.ref for r in impact.blocked] == ["c-d1"] and impact.dates == ["2026-03-18"]
    report = impact.report()
    assert "would have blocked 1 of 2" in report and "c-d1" in report and "2026-03-18" in report
    closes = OrderIntent(client_order_id="x", qty=Decimal(1), symbol="SPY", side=Side.SELL,
                         asset_class=AssetClass.EQUITY, position_intent=PositionIntent.SELL_TO_CLOSE,
                         purpose="exit")
    broad = parse_guard({"kind": "block_symbol", "symbol": "SPY"}, "LL-951")
    impact = replay(broad, orders + [intent_row(closes, NOW)], decisions, account="a", now=NOW, days=30)
    assert {r.ref for r in impact.blocked} == {"c-d1", "d2"}  # a close is never blocked by an entry guard


def test_impact_cli_reads_the_accounts_store(seeds, capsys):
    store = Store.for_account("acct1")
    store.record_decision("d-1", strategy="condor", action="ENTER", params={}, reason="r",
                          context={"symbol": "SPY", "iv_rank": {"value": 0.5}})
    store.record_order_intent(condor_intent(OrderClass.MLEG, client_order_id="c-ok", decision_id="d-1"))
    store.record_decision("d-2", strategy="condor", action="ENTER", params={}, reason="r",
                          context={"symbol": "QQQ", "iv_rank": {"value": 0.5}})
    store.close()
    assert run("lessons", "add", "--account", "acct1", "--title", "No QQQ condors", "--trigger", "QQQ gap",
               "--guard", "{kind: block_symbol, symbol: QQQ}") == 0
    new_id = LessonStore("acct1").load().lessons[-1].id
    assert LessonStore("acct1").get(new_id).guard.review_by is not None  # an added guard gets a review date
    capsys.readouterr()
    assert run("lessons", "impact", new_id, "--account", "acct1", "--days", "7") == 0
    out = capsys.readouterr().out
    assert "would have blocked 1 of 2" in out and "d-2" in out and "QQQ" in out
    assert run("lessons", "impact", "LL-221", "--account", "acct1") == 0  # the mleg entry passes require_mleg
    assert "would have blocked 0 of 2" in capsys.readouterr().out
    assert run("lessons", "confirm", new_id, "--account", "acct1") == 0
    assert f"stockbot lessons impact {new_id}" in capsys.readouterr().out


def test_impact_without_records_is_a_clear_error(seeds, capsys):
    assert run("lessons", "impact", "LL-221", "--account", "acct9") == 1
    assert "cannot read the account's records" in capsys.readouterr().err


def test_list_and_show_say_what_a_guard_does(seeds, capsys):
    assert run("lessons", "add", "--account", "acct1", "--title", "Cap QQQ size", "--trigger", "QQQ too big",
               "--guard", "{kind: max_qty, qty: 2, symbols: [QQQ]}") == 0
    new_id = LessonStore("acct1").load().lessons[-1].id
    capsys.readouterr()
    assert run("lessons", "show", new_id, "--account", "acct1") == 0
    out = capsys.readouterr().out
    assert f"proposed - draft: proposed max_qty guard, not enforced until `stockbot lessons confirm {new_id}`" in out
    assert "symbols=QQQ" in out and "review_by=" in out
    assert run("lessons", "list", "--account", "acct1") == 0
    out = capsys.readouterr().out
    assert "guard enforcing: confirmed; strategy=any symbols=any orders=option review_by=2027-06-30" in out
    from stockbot.status import account_status

    assert "lessons: 13; guards: 2 enforcing, 1 proposed" in account_status("acct1")
