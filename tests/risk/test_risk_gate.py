"""Table tests for the pre-trade risk gate."""

from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from stockbot.config import RiskSettings
from stockbot.domain import (AssetClass, Leg, OrderClass, OrderIntent, PositionIntent, Side, TradeContext)
from stockbot.options.condor import closing_legs, condor_from_symbols
from stockbot.risk.gate import Approved, Denied, GuardLike, RiskContext, RiskGate
from stockbot.risk.states import TradingState

D = Decimal
NOW = datetime(2025, 11, 3, 15, 0, tzinfo=timezone.utc)
IC = condor_from_symbols(["SPY251212C00640000", "SPY251212C00645000", "SPY251212P00570000", "SPY251212P00565000"],
                         D("1.20"))
OPEN_CONDOR = OrderIntent("c-open", D(1), "limit", legs=IC.legs, limit_price=D("-1.20"), order_class=OrderClass.MLEG,
                          asset_class=AssetClass.OPTION)
CLOSE_CONDOR = replace(OPEN_CONDOR, client_order_id="c-close", legs=closing_legs(IC), limit_price=D("0.40"))
STOCK_BUY = OrderIntent("s-buy", D(10), symbol="AAPL", side=Side.BUY)
STOCK_SELL = OrderIntent("s-sell", D(10), symbol="AAPL", side=Side.SELL, position_intent=PositionIntent.SELL_TO_CLOSE)
# The LL-221 failure: two option legs sent as something other than one mleg order.
PUT_SPREAD_SIMPLE = OrderIntent("bad", D(1), legs=IC.legs[2:], asset_class=AssetClass.OPTION)
SINGLE_SHORT_PUT = OrderIntent("naked", D(1), symbol=IC.short_put.symbol, side=Side.SELL,
                               asset_class=AssetClass.OPTION, position_intent=PositionIntent.SELL_TO_OPEN)
ORPHAN_CLOSE = OrderIntent("orphan", D(1), symbol=IC.short_put.symbol, side=Side.BUY,
                           asset_class=AssetClass.OPTION, position_intent=PositionIntent.BUY_TO_CLOSE)


def ctx(strategy="condor", **kw):
    base = dict(now=NOW, trade=TradeContext(account="t", strategy=strategy, symbol="SPY", now=NOW),
                trading_state=TradingState.ACTIVE, equity=D(100000), start_of_day_equity=D(100000),
                start_of_week_equity=D(100000), orders_last_hour=0, orders_today=0, open_positions=0,
                market_open=True, live_allowed=True, risk_of_this_order=D(380), quote_age_s=1.0)
    base.update(kw)
    return RiskContext(**base)


GATE = RiskGate(RiskSettings())


def rule(result):
    return None if isinstance(result, Approved) else result.rule


@pytest.mark.parametrize(
    "intent, context, expected",
    [
        # happy paths
        (OPEN_CONDOR, ctx(), None),
        (CLOSE_CONDOR, ctx(is_closing=True), None),
        (STOCK_BUY, ctx("equity"), None),
        # LL-221: a multi-leg options order that is not mleg is denied, opening or closing
        (PUT_SPREAD_SIMPLE, ctx(), "mleg_required"),
        (PUT_SPREAD_SIMPLE, ctx(is_closing=True), "mleg_required"),
        (replace(OPEN_CONDOR, order_class=OrderClass.SIMPLE), ctx(), "mleg_required"),
        (replace(OPEN_CONDOR, order_class=OrderClass.SIMPLE), ctx("equity"), "mleg_required"),
        # mleg shape
        (replace(OPEN_CONDOR, legs=IC.legs[:1]), ctx(), "mleg_shape"),
        (replace(OPEN_CONDOR, legs=IC.legs + IC.legs[:1]), ctx(), "mleg_shape"),
        (replace(OPEN_CONDOR, legs=(IC.legs[0], IC.legs[0])), ctx(), "mleg_shape"),
        (replace(OPEN_CONDOR, legs=(IC.legs[0], Leg("SPY", Side.BUY))), ctx(), "mleg_shape"),
        (replace(OPEN_CONDOR, symbol="SPY"), ctx(), "mleg_shape"),
        # a condor that is not the whole 4-leg structure
        (replace(OPEN_CONDOR, legs=IC.legs[2:]), ctx(), "condor_structure"),
        (replace(OPEN_CONDOR, legs=IC.legs[:3]), ctx(), "condor_structure"),
        (replace(CLOSE_CONDOR, legs=closing_legs(IC)[:2]), ctx(is_closing=True), "condor_structure"),
        (SINGLE_SHORT_PUT, ctx(), "condor_structure"),
        (ORPHAN_CLOSE, ctx(is_closing=True), None),  # closing an orphan leg is allowed
        # open/close flags must agree with the position intents
        (OPEN_CONDOR, ctx(is_closing=True), "intent_mismatch"),
        (CLOSE_CONDOR, ctx(), "intent_mismatch"),
        (STOCK_SELL, ctx("equity"), "intent_mismatch"),
        (STOCK_SELL, ctx("equity", is_closing=True), None),
        # options in a stock strategy
        (OPEN_CONDOR, ctx("equity"), "options_strategy"),
        (ORPHAN_CLOSE, ctx("index", is_closing=True), None),
        # quantity
        (replace(STOCK_BUY, qty=D(0)), ctx("equity"), "qty"),
    ],
)
def test_structure_rules(intent, context, expected):
    assert rule(GATE.check(intent, context)) == expected


@pytest.mark.parametrize(
    "kw, expected_open",
    [
        (dict(stop_flag=True), "stop_flag"),
        (dict(trading_state=TradingState.REDUCING), "trading_state"),
        (dict(trading_state=TradingState.HALTED), "trading_state"),
        (dict(equity=D(97000)), "daily_loss_limit"),  # exactly 3%
        (dict(equity=D(97001), start_of_week_equity=D(97001)), None),
        (dict(equity=D(98000), start_of_day_equity=D(98000), start_of_week_equity=D(104300)), "weekly_loss_limit"),
        (dict(start_of_day_equity=D(0)), "daily_loss_limit"),  # unknown start fails closed
        (dict(live_allowed=False), "validation_gate"),
        (dict(risk_of_this_order=D(5000)), None),  # exactly 5% of equity
        (dict(risk_of_this_order=D("5000.01")), "max_risk_per_trade"),
        (dict(risk_of_this_order=None), "max_risk_per_trade"),
        (dict(open_positions=4), None),  # 4 + 4 legs = 8 = max
        (dict(open_positions=5), "max_open_positions"),
        (dict(quote_age_s=15.0), None),
        (dict(quote_age_s=15.1), "quote_freshness"),
        (dict(quote_age_s=None), "quote_freshness"),
        (dict(quote_age_s=-30.0), "quote_freshness"),
    ],
)
def test_opening_limits_and_closing_allowed(kw, expected_open):
    assert rule(GATE.check(OPEN_CONDOR, ctx(**kw))) == expected_open
    # every one of these lets a closing order through: halted / REDUCING / STOP allow closing
    assert rule(GATE.check(CLOSE_CONDOR, ctx(is_closing=True, **kw))) is None


def test_loss_limit_one_disables():
    aggressive = RiskGate(RiskSettings(daily_loss_limit=1.0, weekly_loss_limit=1.0, max_risk_per_trade=1.0))
    crater = ctx("index", equity=D(1000), start_of_day_equity=D(1_000_000), start_of_week_equity=D(1_000_000),
                 risk_of_this_order=D(10))
    assert isinstance(aggressive.check(STOCK_BUY, crater), Approved)
    assert rule(GATE.check(STOCK_BUY, crater)) == "daily_loss_limit"


@pytest.mark.parametrize(
    "floor, equity, expected",
    [(D(0), D(0), "equity_floor"), (D(0), D(-10), "equity_floor"), (D(50000), D(50000), "equity_floor"),
     (D(50000), D("50000.01"), None)],
)
def test_equity_floor(floor, equity, expected):
    gate = RiskGate(RiskSettings(equity_floor=floor, daily_loss_limit=1.0, weekly_loss_limit=1.0, max_risk_per_trade=1.0))
    assert rule(gate.check(STOCK_BUY, ctx("equity", equity=equity, risk_of_this_order=D(0)))) == expected
    assert rule(gate.check(STOCK_SELL, ctx("equity", equity=equity, is_closing=True))) is None


@pytest.mark.parametrize(
    "hours_only, market_open, closing, expected",
    [(True, True, False, None), (True, False, False, "trading_hours"), (True, False, True, "trading_hours"),
     (False, False, False, None)],
)
def test_trading_hours(hours_only, market_open, closing, expected):
    gate = RiskGate(RiskSettings(trading_hours_only=hours_only))
    intent = CLOSE_CONDOR if closing else OPEN_CONDOR
    assert rule(gate.check(intent, ctx(market_open=market_open, is_closing=closing))) == expected


@pytest.mark.parametrize(
    "hour, day, closing, expected",
    [
        (9, 29, False, None),
        (10, 0, False, "fire_counter_hour"),  # the 11th order in an hour
        (0, 30, False, "fire_counter_day"),
        (10, 30, True, None),  # closing orders get twice the headroom
        (19, 59, True, None),
        (20, 0, True, "fire_counter_hour"),
        (0, 60, True, "fire_counter_day"),
    ],
)
def test_fire_counter(hour, day, closing, expected):
    intent = CLOSE_CONDOR if closing else OPEN_CONDOR
    assert rule(GATE.check(intent, ctx(orders_last_hour=hour, orders_today=day, is_closing=closing))) == expected


def test_zero_order_limit_blocks_everything():
    gate = RiskGate(RiskSettings(max_orders_per_day=0))
    assert rule(gate.check(OPEN_CONDOR, ctx())) == "fire_counter_day"
    assert rule(gate.check(CLOSE_CONDOR, ctx(is_closing=True))) == "fire_counter_day"


class NoMarketOrders:
    lesson_id = "LL-900"

    def check(self, intent, ctx):
        return "market orders on options widen the fill" if intent.order_type == "market" else None


class NeedsIvRank:
    lesson_id = "LL-901"

    def check(self, intent, ctx):
        return None if ctx.iv_rank is not None else "no IV rank in the trade context"


class Broken:
    lesson_id = "LL-902"

    def check(self, intent, ctx):
        raise RuntimeError("boom")


def test_guards_are_protocol_objects():
    assert isinstance(NoMarketOrders(), GuardLike)


@pytest.mark.parametrize(
    "guards, intent, context, expected",
    [
        ([NoMarketOrders()], OPEN_CONDOR, ctx(), None),
        ([NoMarketOrders()], replace(OPEN_CONDOR, order_type="market", limit_price=None), ctx(), "lesson:LL-900"),
        ([NoMarketOrders(), NeedsIvRank()], OPEN_CONDOR, ctx(), "lesson:LL-901"),
        ([NeedsIvRank()], OPEN_CONDOR, ctx(trade=TradeContext("t", "condor", "SPY", NOW, iv_rank=0.4)), None),
        ([Broken()], OPEN_CONDOR, ctx(), "lesson:LL-902"),  # a broken guard fails closed
        ([NeedsIvRank()], CLOSE_CONDOR, ctx(is_closing=True), "lesson:LL-901"),  # guards see closes too
    ],
)
def test_lesson_guards(guards, intent, context, expected):
    got = RiskGate(RiskSettings(), guards).check(intent, context)
    assert rule(got) == expected
    if expected:
        assert got.reason.startswith(expected.split(":")[1])


def test_denied_is_a_value_and_gate_never_raises():
    bad_ctx = ctx(equity="not money")  # a broken context must deny, not raise
    got = GATE.check(OPEN_CONDOR, bad_ctx)
    assert isinstance(got, Denied) and not got.ok and got.rule == "gate_error"
    assert Approved().ok


def test_evaluate_lists_every_denial():
    rules = [d.rule for d in GATE.evaluate(OPEN_CONDOR, ctx(stop_flag=True, market_open=False, quote_age_s=None))]
    assert rules == ["stop_flag", "trading_hours", "quote_freshness"]
    assert GATE.evaluate(OPEN_CONDOR, ctx()) == []
