"""Guards with a scope and an end; drafts propose blocking guards; expired guards stop and say so."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import yaml
from lesson_helpers import NOW, condor_ctx, condor_intent

from stockbot.domain import AssetClass, OrderIntent, PositionIntent, Side
from stockbot.lessons.enforcement import enforced_guards, guard_state
from stockbot.lessons.errors import LessonError
from stockbot.lessons.guards import parse_guard
from stockbot.lessons.model import Lesson, Status, parse_lesson, render_lesson


def g(text: str):
    return parse_guard(yaml.safe_load(text), "LL-777", "/x/LL-777.md")


def stock(symbol="QQQ", **kw):
    base = dict(client_order_id="s-1", qty=Decimal(10), symbol=symbol, side=Side.BUY, order_type="market",
                asset_class=AssetClass.EQUITY, position_intent=PositionIntent.BUY_TO_OPEN, purpose="entry")
    base.update(kw)
    return OrderIntent(**base)


def lesson(guard_text: str | None, status=Status.DRAFT, day=date(2026, 3, 10), source="captured") -> Lesson:
    guard = parse_guard(yaml.safe_load(guard_text), "LL-900") if guard_text else None
    return Lesson(id="LL-900", title="t", date=day, trigger="x", status=status, guard=guard, source=source)


def test_symbols_scope_limits_a_guard_to_those_symbols():
    guard = g("{kind: require_limit, asset_class: any, symbols: [qqq]}")
    assert guard.symbols == ("QQQ",)
    assert guard.check(stock("QQQ"), condor_ctx(strategy="equity", symbol="QQQ"))
    assert guard.check(stock("IWM"), condor_ctx(strategy="equity", symbol="IWM")) is None


def test_orders_scope_limits_a_guard_to_those_order_kinds():
    guard = g("{kind: max_qty, qty: 5, orders: [equity]}")
    assert guard.check(stock(), condor_ctx(strategy="equity", symbol="QQQ"))
    assert guard.check(condor_intent(qty=Decimal(9)), condor_ctx()) is None  # options are out of scope
    with pytest.raises(LessonError, match="orders must be among"):
        g("{kind: max_qty, qty: 5, orders: [bracket]}")


def test_expired_guard_stops_enforcing_and_says_so():
    text = "{kind: block_symbol, symbol: SPY, expires: 2026-03-12}"
    guard = g(text)
    assert guard.spec["expires"] == "2026-03-12"  # dates written back as text (hashable as JSON)
    assert guard.check(condor_intent(), condor_ctx(now=NOW))  # 2026-03-10
    later = NOW + timedelta(days=3)
    assert guard.check(condor_intent(), condor_ctx(now=later)) is None
    st = guard_state(lesson(text, Status.CONFIRMED), later)
    assert st.state == "expired" and "no longer enforced" in st.note
    assert enforced_guards([lesson(text, Status.CONFIRMED)], later) == []


def test_review_date_is_reported_but_keeps_enforcing():
    text = "{kind: min_iv_rank, value: 0.3, review_by: 2026-03-01}"
    st = guard_state(lesson(text, Status.CONFIRMED), NOW)
    assert st.enforcing and st.review_due


@pytest.mark.parametrize("text, state", [
    ("{kind: require_mleg, orders: [option]}", "enforcing"),  # only requires the safe form
    ("{kind: close_via_close_position}", "enforcing"),
    ("{kind: block_symbol, symbol: SPY, expires: 2026-03-16}", "enforcing"),  # one symbol, 6 days
    ("{kind: block_symbol, symbol: SPY, expires: 2026-04-30}", "proposed"),  # too long for a draft
    ("{kind: block_symbol, symbol: SPY}", "proposed"),  # no end at all
    ("{kind: max_qty, qty: 1}", "proposed"),
    ("{kind: no_entry_window, start: '09:30', end: '16:00'}", "proposed"),  # would stop all trading
])
def test_drafts_only_enforce_safe_form_or_bounded_symbol_guards(text, state):
    st = guard_state(lesson(text), NOW)
    assert st.state == state
    if state == "proposed":
        assert "stockbot lessons confirm LL-900" in st.note
        assert guard_state(lesson(text, Status.CONFIRMED), NOW).enforcing


def test_scope_round_trips_through_the_file():
    x = lesson("{kind: block_symbol, symbol: SPY, symbols: [SPY], orders: [entry], expires: 2026-03-15, "
               "review_by: 2026-03-14}", Status.CONFIRMED)
    back = parse_lesson(render_lesson(x))
    assert back.guard.expires == date(2026, 3, 15) and back.guard.orders == ("entry",)
    assert back.content_hash() == x.content_hash()


def test_service_logs_expired_guards_once(seeds, memory_index, capsys):
    from stockbot.lessons.files import LessonStore
    from stockbot.lessons.service import LessonService

    store = LessonStore("acct1")
    x = store.create(store.new_draft(title="Block SPY for a week", trigger="halt", date=date(2026, 3, 1),
                                     status=Status.CONFIRMED))
    store.save(replace(x, guard=parse_guard({"kind": "block_symbol", "symbol": "SPY", "expires": "2026-03-05"},
                                            x.id)))
    service = LessonService(store, memory_index("acct1"))
    before = datetime(2026, 3, 4, 15, tzinfo=timezone.utc)
    assert x.id in {gd.lesson_id for gd in service.guards(now=before)}
    assert x.id not in {gd.lesson_id for gd in service.guards(now=NOW)}
    service.guards(now=NOW)
    out = capsys.readouterr().out + capsys.readouterr().err
    assert out.count("lesson_guard_expired") == 1


def test_a_captured_halt_blocks_one_symbol_for_five_days_then_stops(seeds):
    from stockbot.lessons.capture import LessonCapture
    from stockbot.lessons.failure import Failure
    from stockbot.lessons.files import LessonStore

    capture = LessonCapture("acct1", clock=lambda: NOW)
    res = capture.capture(Failure("symbol_halted", "engine.entry", "XYZ halted (LUDP) while pricing an entry",
                                  {"reason": "LUDP halt"}, symbol="XYZ", ts=NOW))
    x = LessonStore("acct1").get(res.lesson_id)
    assert x.status is Status.DRAFT and x.guard.kind == "block_symbol" and x.guard.expires == date(2026, 3, 15)
    assert guard_state(x, NOW).enforcing  # bounded: enforced without confirmation
    ctx = condor_ctx(symbol="XYZ")
    assert x.guard.check(stock("XYZ"), ctx) and x.guard.check(stock("QQQ"), condor_ctx(symbol="QQQ")) is None
    assert guard_state(x, NOW + timedelta(days=6)).state == "expired"
