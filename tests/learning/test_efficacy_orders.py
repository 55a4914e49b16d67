"""Efficacy, order-path classes: the failure happens on the sim, is learned, and its repeat is
prevented (see conftest.py for the loop and the summary)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from learning_helpers import ACCOUNT

from stockbot.broker.errors import AmbiguousSubmitError, InsufficientFundsError, PatternDayTraderError, RejectedError
from stockbot.trading.executor import OrderExecutor
from stockbot.config import CondorSettings, RiskSettings
from stockbot.domain import AssetClass, Leg, OrderClass, OrderIntent, PositionIntent, Side, TradeContext, utcnow
from stockbot.strategies.condor.engine import buying_power
from stockbot.trading.reconciler import Reconciler
from stockbot.strategies.condor.recovery import CondorBooker
from stockbot.lessons.failure import Failure
from stockbot.options.condor_manage import contracts_for, price_ladder
from stockbot.risk.gate import RiskContext, RiskGate
from stockbot.risk.states import TradingState

pytestmark = pytest.mark.slow


def trade(strategy="condor", symbol="SPY", **kw) -> TradeContext:
    return TradeContext(account=ACCOUNT, strategy=strategy, symbol=symbol, now=utcnow(), **kw)


def risk_ctx(t: TradeContext, equity=Decimal(100000), **kw) -> RiskContext:
    base = dict(now=t.now, trade=t, trading_state=TradingState.ACTIVE, equity=equity, start_of_day_equity=equity,
                start_of_week_equity=equity, orders_last_hour=0, orders_today=0, open_positions=0, market_open=True,
                live_allowed=True, risk_of_this_order=Decimal(100), quote_age_s=1.0)
    base.update(kw)
    return RiskContext(**base)


def stock(cid: str, qty=10, side=Side.BUY, **kw) -> OrderIntent:
    base = dict(client_order_id=cid, qty=Decimal(qty), symbol="SPY", side=side, asset_class=AssetClass.EQUITY,
                position_intent=PositionIntent.BUY_TO_OPEN if side is Side.BUY else PositionIntent.SELL_TO_CLOSE,
                purpose="entry" if side is Side.BUY else "exit")
    base.update(kw)
    return OrderIntent(**base)


async def listed_puts(broker) -> list:
    """Contracts 7-45 days out on the exchange's calendar: without dates Alpaca lists only this
    week's, and on a Friday after the close that is nothing (the test must not depend on the hour)."""
    today = (await broker.clock()).ts.date()
    return await broker.option_contracts("SPY", expiration_gte=today + timedelta(days=7),
                                         expiration_lte=today + timedelta(days=45))


def put_spread(contracts) -> tuple[str, str]:
    puts: dict[date, dict[Decimal, str]] = {}
    for c in contracts:
        if c.right.value == "put":
            puts.setdefault(c.expiration, {})[c.strike] = c.symbol
    for exp in sorted(puts):
        strikes = puts[exp]
        for k in sorted(strikes, reverse=True):
            if k - 5 in strikes and k < max(strikes) * Decimal("0.95"):
                return strikes[k], strikes[k - 5]
    raise AssertionError("no put spread listed")


async def test_sequential_legs_orphan_short(make_loop, record):
    loop = await make_loop()
    short_put, long_put = put_spread(await listed_puts(loop.broker))
    loop.sim.state.faults.add({"kind": "reject_single_leg_options", "symbols": [long_put], "sides": ["buy"]})
    legs = (Leg(short_put, Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
            Leg(long_put, Side.BUY, 1, PositionIntent.BUY_TO_OPEN))
    # 1. the old way: one leg at a time; the short fills, the long wing is refused -> naked short
    def single(cid: str, leg: Leg) -> OrderIntent:
        return OrderIntent(client_order_id=cid, qty=Decimal(1), symbol=leg.symbol, side=leg.side,
                           asset_class=AssetClass.OPTION, position_intent=leg.position_intent)

    assert (await loop.broker.submit(single("leg-0", legs[0]))).status == "filled"
    with pytest.raises(RejectedError) as err:
        await loop.broker.submit(single("leg-1", legs[1]))
    assert await loop.broker.position(short_put) is not None  # the orphan
    attempted = OrderIntent(client_order_id="legacy", qty=Decimal(1), legs=legs, order_class=OrderClass.SIMPLE,
                            asset_class=AssetClass.OPTION, purpose="put_spread_open")
    # 2. learned: a draft with the safe-form guard require_mleg, enforced at once
    got = loop.learn(Failure.for_order("order_rejected", "execution", "put spread sent leg by leg: long put rejected "
                                       "after the short filled", attempted, trade(order_type="multi-leg"),
                                       reason=str(err.value)), expect="LL-221")
    assert got.action == "created" and got.guard == "require_mleg"
    await loop.broker.close_position(short_put)
    # 3. the repeat is denied by the learned guard (and the seed's) before anything is sent
    posts = len(loop.posts())
    gate = RiskGate(RiskSettings(), loop.service.guards(now=utcnow()))
    rules = {d.rule for d in gate.evaluate(replace(attempted, client_order_id="again"), risk_ctx(trade()))}
    assert f"lesson:{got.lesson_id}" in rules or "lesson:LL-221" in rules
    assert not gate.check(replace(attempted, client_order_id="again"), risk_ctx(trade())).ok
    assert len(loop.posts()) == posts
    record("sequential legs / orphan short", "guard", f"require_mleg ({got.lesson_id} drafted, LL-221 seed) denies "
           "a multi-leg order that is not mleg")


async def test_hand_built_closing_order(make_loop, record):
    loop = await make_loop()
    await loop.broker.submit(stock("open-1", qty=10))
    # 1. a hand-built "close" that inverted the side wrong: it buys again instead of selling
    wrong = stock("close-hand", qty=10, side=Side.BUY, purpose="exit", position_intent=PositionIntent.BUY_TO_OPEN)
    await loop.broker.submit(wrong)
    pos = await loop.broker.position("SPY")
    assert pos is not None and pos.qty == 20  # the position meant to be closed doubled
    loop.learn(Failure("reconcile_mismatch", "engine.manage", "position still open after a hand-built closing "
                       "counter-order (side inverted by hand)", {"reason": "position not closed", "symbol": "SPY"},
                       strategy="equity", symbol="SPY"), expect="LL-282",
               query="closing a position with a hand-built counter-order failed")
    # 2. the repeat: the seed guard refuses a hand-built close; close_position() does it right
    gate = RiskGate(RiskSettings(), loop.service.guards(now=utcnow()))
    hand = stock("close-hand-2", qty=20, side=Side.SELL)
    denied = gate.check(hand, risk_ctx(trade("equity"), is_closing=True))
    assert not denied.ok and denied.rule == "lesson:LL-282"
    await loop.broker.close_position("SPY")
    assert await loop.broker.position("SPY") is None
    record("hand-built closing orders", "guard", "close_via_close_position (LL-282) refuses hand-built closes; "
           "close_position() flattens")


async def test_stale_quotes(make_loop, record):
    loop = await make_loop()
    quote = (await loop.broker.latest_quotes(["SPY"]))["SPY"]
    loop.sim.state.stream.set_silent(True)  # the feed goes quiet; the last quote ages
    age = 600.0
    loop.learn(Failure("stale_quotes", "broker.stream", "silent quote stream: SPY quote 600s old while pricing an "
                       "entry", {"reason": "no quote for 600s", "symbol": "SPY"}, symbol="SPY"), expect="LL-134")
    gate = RiskGate(RiskSettings(), loop.service.guards(now=quote.ts))
    entry = stock("stale-entry")
    denied = gate.check(entry, risk_ctx(trade("equity"), quote_age_s=age))
    assert not denied.ok and denied.rule == "quote_freshness"
    assert gate.check(entry, risk_ctx(trade("equity"), quote_age_s=1.0)).ok
    loop.sim.state.stream.set_silent(False)
    record("stale quotes", "code", "risk gate quote_freshness refuses entries on quotes older than RISK_MAX_QUOTE_AGE_S")


async def test_duplicate_after_retried_submit(make_loop, record):
    loop = await make_loop()
    fault = {"kind": "http_error", "method": "POST", "path": "/v2/orders", "status": 504, "after": True, "times": 1}
    loop.sim.state.faults.add(dict(fault))
    # 1. the old way: the POST times out (504 after it landed) and is simply sent again
    with pytest.raises(AmbiguousSubmitError):
        await loop.broker.submit(stock("naive-0"))
    await loop.broker.submit(stock("naive-1"))
    assert (await loop.broker.position("SPY")).qty == 20  # twice the intended size
    loop.learn(Failure("duplicate_order", "execution", "duplicate order after a retried submit that timed out (504)",
                       {"reason": "504 after the order was accepted, resent"}, symbol="SPY"), expect="LL-163")
    await loop.broker.close_position("SPY")
    # 2. the repeat through the production executor: looked up by client_order_id, never resent
    loop.sim.state.faults.add(dict(fault))
    posts = len(loop.posts())
    order = await OrderExecutor(loop.broker, loop.store, lookup_delay_s=0.01).submit(stock("exec-0"))
    assert order.client_order_id == "exec-0" and len(loop.posts()) == posts + 1
    assert (await loop.broker.position("SPY")).qty == 10
    record("duplicate after a retried submit", "code", "OrderExecutor resolves an ambiguous submit by client_order_id")


async def test_pdt_lockout(make_loop, record):
    loop = await make_loop()
    loop.sim.state.faults.add({"kind": "reject_orders", "status": 403, "code": 40310100, "times": 1,
                               "message": "trade denied due to pattern day trading protection"})
    with pytest.raises(PatternDayTraderError) as err:  # classified at the broker boundary (40310100)
        await loop.broker.submit(stock("pdt-0"))
    assert len(loop.posts()) == 1  # a rejection is never retried
    loop.learn(Failure.for_order("pdt_lockout", "engine.entry", f"pattern day trader protection: {err.value}",
                                 stock("pdt-0"), trade("equity"), code=err.value.code), expect="LL-178")
    # the repeat: the broker's account view now carries the PDT flag; no entry is sent
    account = replace(await loop.broker.account(), pattern_day_trader=True, equity=Decimal(18000))
    gate = RiskGate(RiskSettings(), loop.service.guards(now=utcnow()))
    denied = gate.check(stock("pdt-1"), risk_ctx(trade("equity"), equity=account.equity,
                                                  pattern_day_trader=account.pattern_day_trader))
    assert not denied.ok and denied.rule == "pattern_day_trader"
    assert len(loop.posts()) == 1
    record("PDT lockout", "code", "40310100 -> PatternDayTraderError (never retried); gate rule pattern_day_trader")


async def test_out_of_buying_power(make_loop, record):
    loop = await make_loop(equity="2000")
    with pytest.raises(InsufficientFundsError) as err:
        await loop.broker.submit(stock("big-0", qty=100))
    loop.learn(Failure.for_order("out_of_capital", "engine.entry", f"entry refused: {err.value}", stock("big-0", qty=100),
                                 trade("equity"), reason=str(err.value)), expect="LL-189")
    # the repeat: sizing reads the broker's current account; a condor of $400 max loss sizes to 0
    account = await loop.broker.account()
    assert contracts_for(Decimal(400), account.equity, RiskSettings().max_risk_per_trade) == 0
    assert buying_power(account) < Decimal(100) * Decimal(600)
    gate = RiskGate(RiskSettings())
    denied = gate.check(stock("big-1", qty=100), risk_ctx(trade("equity"), equity=account.equity,
                                                           risk_of_this_order=Decimal(60000)))
    assert not denied.ok and denied.rule == "max_risk_per_trade"
    record("out of buying power", "code", "sizing from the broker's equity/buying power (contracts_for -> 0, "
           "max_risk_per_trade)")


async def test_price_increments(make_loop, record):
    loop = await make_loop()
    short_put, long_put = put_spread(await listed_puts(loop.broker))
    loop.sim.state.faults.add({"kind": "reject_orders", "status": 422, "code": 42210000, "times": 1,
                               "message": "invalid limit_price 1.237: not a multiple of the price increment"})
    spread = OrderIntent(client_order_id="tick-0", qty=Decimal(1), order_type="limit", limit_price=Decimal("-1.237"),
                         legs=(Leg(short_put, Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
                               Leg(long_put, Side.BUY, 1, PositionIntent.BUY_TO_OPEN)),
                         order_class=OrderClass.MLEG, asset_class=AssetClass.OPTION, purpose="condor_open")
    with pytest.raises(RejectedError) as err:
        await loop.broker.submit(spread)
    loop.learn(Failure.for_order("order_rejected", "engine.entry", f"mleg limit rejected: {err.value}", spread,
                                 trade(), reason=str(err.value)), expect="LL-244")
    c = CondorSettings()
    rungs = price_ladder(Decimal("1.237"), Decimal("1.05"), c.price_step, c.max_price_steps)
    assert rungs and all(r == r.quantize(Decimal("0.01")) for r in rungs)
    order = await loop.broker.submit(replace(spread, client_order_id="tick-1", limit_price=rungs[-1]))
    assert order.status in ("new", "accepted", "filled", "partially_filled")
    record("price increments", "code", "price_ladder rounds every rung to the cent tick")


async def test_fill_while_down(make_loop, record):
    loop = await make_loop()
    intent = stock("down-0")
    loop.store.record_order_intent(intent)  # durable before the POST...
    await loop.broker.submit(intent)  # ...then the process dies before recording the fill
    assert loop.store.get_order("down-0").status == "submitting"
    loop.learn(Failure("reconcile_mismatch", "engine.reconcile", "order filled while the daemon was down: local "
                       "state still shows it open", {"reason": "order state unknown after restart"}), expect="LL-290")
    executor = OrderExecutor(loop.broker, loop.store, lookup_delay_s=0.01)
    await Reconciler(ACCOUNT, loop.broker, loop.store, executor, booker=CondorBooker(loop.store, loop.broker)).run(startup=True)
    assert loop.store.get_order("down-0").status == "filled"
    assert executor.pending() == []
    record("fills while down", "code", "start-up reconciliation resolves every unknown order at the broker first")
