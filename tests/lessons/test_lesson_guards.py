"""Guards: parsing (every kind, unknown kinds, bad params) and their checks, as tables."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
import yaml

from stockbot.domain import AssetClass, Leg, OrderClass, OrderIntent, PositionIntent, Side
from stockbot.lessons.errors import LessonError
from stockbot.lessons.guards import (CLOSE_POSITION_PURPOSE, GUARD_KINDS, is_closing, parse_guard,
                                     underlying_of)

from lesson_helpers import CONDOR_LEGS, condor_ctx, condor_intent

STOCK = OrderIntent(client_order_id="s-1", qty=Decimal(10), order_type="limit", symbol="AAPL", side=Side.BUY,
                    limit_price=Decimal("190.10"), purpose="entry")


def g(text: str):
    return parse_guard(yaml.safe_load(text), "LL-777", "/x/LL-777.md")


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize("text, kind", [
    ("{kind: require_mleg}", "require_mleg"),
    ("require_mleg", "require_mleg"),
    ("{kind: close_via_close_position}", "close_via_close_position"),
    ("{kind: require_limit}", "require_limit"),
    ("{kind: require_limit, asset_class: any}", "require_limit"),
    ("{kind: block_symbol, symbol: xyz}", "block_symbol"),
    ("{kind: max_qty, qty: 1}", "max_qty"),
    ("{kind: max_qty, qty: 2.5, symbol: SPY, strategy: condor}", "max_qty"),
    ("{kind: min_iv_rank, value: 0.3}", "min_iv_rank"),
    ('{kind: no_entry_window, start: "15:30", end: "16:00", tz: America/New_York}', "no_entry_window"),
    ("{kind: no_entry_window, start: 15:30, end: 16:00, days: [fri]}", "no_entry_window"),
    ("{kind: max_quote_age, seconds: 30}", "max_quote_age"),
])
def test_every_kind_parses(text, kind):
    guard = g(text)
    assert guard.kind == kind and guard.lesson_id == "LL-777"
    assert set(GUARD_KINDS) >= {kind}


def test_all_kinds_are_covered_by_the_table():
    assert set(GUARD_KINDS) == {"require_mleg", "close_via_close_position", "require_limit", "block_symbol",
                                "max_qty", "min_iv_rank", "no_entry_window", "max_quote_age"}


@pytest.mark.parametrize("text, needle", [
    ("{kind: teleport}", "unknown guard kind 'teleport'"),
    ("{symbol: SPY}", "unknown guard kind None"),
    ("[require_mleg]", "must be a mapping"),
    ("{kind: require_mleg, qty: 1}", "does not take qty"),
    ("{kind: block_symbol}", "symbol must be a ticker"),
    ("{kind: block_symbol, symbol: 'not a ticker!'}", "symbol must be a ticker"),
    ("{kind: max_qty}", "qty must be a positive number"),
    ("{kind: max_qty, qty: 0}", "qty must be a positive number"),
    ("{kind: max_qty, qty: lots}", "qty must be a positive number"),
    ("{kind: max_qty, qty: true}", "qty must be a positive number"),
    ("{kind: min_iv_rank, value: 30}", "IV rank fraction in [0, 1]"),
    ("{kind: min_iv_rank, value: high}", "value must be a number"),
    ("{kind: no_entry_window, start: '25:00', end: '16:00'}", "start must be HH:MM"),
    ("{kind: no_entry_window, start: '15:00'}", "end must be HH:MM"),
    ("{kind: no_entry_window, start: '15:00', end: '15:00'}", "must differ"),
    ("{kind: no_entry_window, start: '15:00', end: '16:00', tz: Mars/Olympus}", "unknown time zone"),
    ("{kind: no_entry_window, start: '15:00', end: '16:00', days: [someday]}", "days must be among"),
    ("{kind: max_quote_age, seconds: 0}", "seconds must be > 0"),
    ("{kind: require_limit, asset_class: crypto}", "asset_class must be"),
    ("{kind: require_mleg, strategy: futures}", "strategy must be condor, equity or index"),
])
def test_bad_guards_are_refused_naming_the_file(text, needle):
    with pytest.raises(LessonError) as err:
        g(text)
    assert "/x/LL-777.md" in str(err.value) and needle in str(err.value)


# ------------------------------------------------------------------ checks

LEGGED = condor_intent(OrderClass.SIMPLE)
MLEG = condor_intent(OrderClass.MLEG)
CLOSE_COUNTER = OrderIntent(client_order_id="x", qty=Decimal(10), symbol="AAPL", side=Side.SELL,
                            position_intent=PositionIntent.SELL_TO_CLOSE, purpose="exit")
CLOSE_VIA_API = OrderIntent(client_order_id="x", qty=Decimal(10), symbol="AAPL", side=Side.SELL,
                            position_intent=PositionIntent.SELL_TO_CLOSE, purpose=CLOSE_POSITION_PURPOSE)
CONDOR_CLOSE = condor_intent(OrderClass.MLEG, purpose="close", legs=tuple(
    Leg(x.symbol, Side.BUY if x.side is Side.SELL else Side.SELL, 1,
        PositionIntent.BUY_TO_CLOSE if x.side is Side.SELL else PositionIntent.SELL_TO_CLOSE) for x in CONDOR_LEGS))
OPTION_MARKET = OrderIntent(client_order_id="o", qty=Decimal(1), order_type="market", symbol="SPY260417P00540000",
                            side=Side.BUY, asset_class=AssetClass.OPTION, purpose="entry")
NY_1545 = datetime(2026, 3, 13, 19, 45, tzinfo=timezone.utc)  # Friday 15:45 in New York (EDT)
NY_1100 = datetime(2026, 3, 13, 15, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("guard, intent, ctx, denied", [
    # require_mleg: every order with >1 option legs must be mleg; it also applies to closes
    ("{kind: require_mleg}", LEGGED, condor_ctx(), True),
    ("{kind: require_mleg}", MLEG, condor_ctx(), False),
    ("{kind: require_mleg}", STOCK, condor_ctx(), False),
    ("{kind: require_mleg}", OPTION_MARKET, condor_ctx(), False),
    ("{kind: require_mleg}", condor_intent(OrderClass.SIMPLE, purpose="close"), condor_ctx(), True),
    ("{kind: require_mleg, strategy: equity}", LEGGED, condor_ctx(), False),
    # close_via_close_position
    ("{kind: close_via_close_position}", CLOSE_COUNTER, condor_ctx(strategy="equity"), True),
    ("{kind: close_via_close_position}", CLOSE_VIA_API, condor_ctx(strategy="equity"), False),
    ("{kind: close_via_close_position}", CONDOR_CLOSE, condor_ctx(), False),
    ("{kind: close_via_close_position}", STOCK, condor_ctx(), False),
    # require_limit
    ("{kind: require_limit}", OPTION_MARKET, condor_ctx(), True),
    ("{kind: require_limit}", MLEG, condor_ctx(), False),
    ("{kind: require_limit}", OrderIntent(client_order_id="m", qty=Decimal(1), symbol="AAPL", side=Side.BUY),
     condor_ctx(), False),
    ("{kind: require_limit, asset_class: any}",
     OrderIntent(client_order_id="m", qty=Decimal(1), symbol="AAPL", side=Side.BUY), condor_ctx(), True),
    # block_symbol: by symbol, by option underlying, entries only
    ("{kind: block_symbol, symbol: AAPL}", STOCK, condor_ctx(symbol="AAPL"), True),
    ("{kind: block_symbol, symbol: SPY}", MLEG, condor_ctx(), True),
    ("{kind: block_symbol, symbol: QQQ}", MLEG, condor_ctx(), False),
    ("{kind: block_symbol, symbol: AAPL}", CLOSE_COUNTER, condor_ctx(symbol="AAPL"), False),
    # max_qty
    ("{kind: max_qty, qty: 5}", STOCK, condor_ctx(), True),
    ("{kind: max_qty, qty: 10}", STOCK, condor_ctx(), False),
    ("{kind: max_qty, qty: 5, symbol: MSFT}", STOCK, condor_ctx(symbol="AAPL"), False),
    ("{kind: max_qty, qty: 5}", CLOSE_COUNTER, condor_ctx(), False),
    # min_iv_rank (fail closed when unknown)
    ("{kind: min_iv_rank, value: 0.3}", MLEG, condor_ctx(iv_rank=0.2), True),
    ("{kind: min_iv_rank, value: 0.3}", MLEG, condor_ctx(iv_rank=0.3), False),
    ("{kind: min_iv_rank, value: 0.3}", MLEG, condor_ctx(iv_rank=None), True),
    ("{kind: min_iv_rank, value: 0.3, strategy: condor}", STOCK, condor_ctx(strategy="equity", iv_rank=None), False),
    # no_entry_window (local time of the zone, optional weekdays)
    ('{kind: no_entry_window, start: "15:30", end: "16:00"}', MLEG, condor_ctx(now=NY_1545), True),
    ('{kind: no_entry_window, start: "15:30", end: "16:00"}', MLEG, condor_ctx(now=NY_1100), False),
    ('{kind: no_entry_window, start: "15:30", end: "16:00", days: [mon]}', MLEG, condor_ctx(now=NY_1545), False),
    ('{kind: no_entry_window, start: "22:00", end: "02:00", tz: UTC}', MLEG,
     condor_ctx(now=datetime(2026, 3, 13, 1, 0, tzinfo=timezone.utc)), True),
    ('{kind: no_entry_window, start: "15:30", end: "16:00"}', CONDOR_CLOSE, condor_ctx(now=NY_1545), False),
    # max_quote_age
    ("{kind: max_quote_age, seconds: 10}", MLEG, condor_ctx(quote_age_s=30.0), True),
    ("{kind: max_quote_age, seconds: 10}", MLEG, condor_ctx(quote_age_s=3.0), False),
    ("{kind: max_quote_age, seconds: 10}", MLEG, condor_ctx(quote_age_s=None), True),
])
def test_guard_checks(guard, intent, ctx, denied):
    reason = g(guard).check(intent, ctx)
    assert (reason is not None) == denied, reason
    if denied:
        assert reason.startswith("LL-777 (")


def test_denial_reason_explains():
    reason = g("{kind: require_mleg}").check(LEGGED, condor_ctx())
    assert "LL-777 (require_mleg)" in reason and "order_class=mleg" in reason and "4 option legs" in reason


def test_is_closing_and_underlying():
    assert is_closing(CLOSE_COUNTER) and is_closing(CONDOR_CLOSE) and is_closing(CLOSE_VIA_API)
    assert not is_closing(MLEG) and not is_closing(STOCK)
    assert underlying_of("SPY260417P00540000") == "SPY" and underlying_of("AAPL") == "AAPL"


def test_unquoted_yaml_times_are_written_back_as_hh_mm():
    guard = g("{kind: no_entry_window, start: 15:30, end: 16:00}")
    assert guard.spec["start"] == "15:30" and guard.spec["end"] == "16:00"
