"""Self-healing on the local exchange, end to end, with no seed lessons.

The article's 2 a.m. failure (LL-221) happens for real on `stockbot sim`: a put spread sent leg by
leg, the long leg rejected, a naked short put left behind. Reconciliation closes the orphan through
close_position(); capture turns both failures into a lesson; the next similar decision retrieves
that lesson into its prompt and record, and the lesson's guard denies the repeat, so no order
reaches the exchange.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from pydantic import SecretStr

from stockbot.broker.alpaca import AlpacaBroker
from stockbot.broker.errors import RejectedError
from stockbot.config import AlpacaSettings, CondorSettings, LessonSettings, RiskSettings
from stockbot.consensus.context import LessonRef, MarketContext
from stockbot.consensus.prompt import build_prompt
from stockbot.consensus.schema import ParamBounds
from stockbot.domain import AssetClass, Leg, OrderClass, OrderIntent, PositionIntent, Side, TradeContext, utcnow
from stockbot.trading.reconcile import plan
from stockbot.lessons.capture import LessonCapture
from stockbot.lessons.failure import Failure
from stockbot.lessons.files import LessonStore
from stockbot.lessons.index import LessonIndex
from stockbot.lessons.service import LessonService, prompt_block
from stockbot.risk.gate import RiskContext, RiskGate
from stockbot.risk.states import TradingState
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import SimServer
from stockbot.store import Store

KEY, SECRET, ACCOUNT = "SIMKEY_HEAL", "SIMSECRET_HEAL", "heal"


def _put_spread(contracts) -> tuple[str, str]:
    """Two listed puts of one expiration, 5 apart, below spot: short the higher, buy the lower."""
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


def _ctx(iv_rank: float) -> TradeContext:
    return TradeContext(account=ACCOUNT, strategy="condor", symbol="SPY", now=utcnow(), order_type="multi-leg",
                        iv_rank=iv_rank, market_condition="range-bound")


async def test_orphan_put_is_closed_learned_and_not_repeated(embedder):
    settings = LessonSettings()
    async with SimServer(seed=11, always_open=True,
                         accounts=[AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal("100000"))]) as sim:
        broker = AlpacaBroker(AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET), base_url=sim.url))
        store = Store.for_account(ACCOUNT)
        index = LessonIndex.open(embedder, ACCOUNT)
        service = LessonService(LessonStore(ACCOUNT), index, settings)
        capture = LessonCapture(ACCOUNT, store=store, index=index, settings=settings)
        try:
            assert service.startup().lessons == 0  # nothing learned yet, no seeds
            today = (await broker.clock()).ts.date()  # dated: undated lists only this week's expirations
            short_put, long_put = _put_spread(await broker.option_contracts(
                "SPY", expiration_gte=today + timedelta(days=7), expiration_lte=today + timedelta(days=45)))
            sim.state.faults.add({"kind": "reject_single_leg_options", "symbols": [long_put], "sides": ["buy"]})

            # 1. the failure: legs one at a time; the short fills, the long is rejected
            legs = (Leg(short_put, Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
                    Leg(long_put, Side.BUY, 1, PositionIntent.BUY_TO_OPEN))
            for i, leg in enumerate(legs):
                single = OrderIntent(client_order_id=f"legacy-{i}", qty=Decimal(1), symbol=leg.symbol, side=leg.side,
                                     asset_class=AssetClass.OPTION, position_intent=leg.position_intent)
                if i == 0:
                    assert (await broker.submit(single)).status == "filled"
                else:
                    try:
                        await broker.submit(single)
                        raise AssertionError("the long leg should have been rejected")
                    except RejectedError as exc:
                        rejection = str(exc)
            attempted = OrderIntent(client_order_id="legacy", qty=Decimal(1), legs=legs, order_class=OrderClass.SIMPLE,
                                    asset_class=AssetClass.OPTION, purpose="put_spread_open")
            seq = store.append_event("order_rejected", {"client_order_id": "legacy-1", "error": rejection})
            first = capture.capture(Failure.for_order(
                "order_rejected", "execution", "put spread sent leg by leg: long put rejected after the short filled",
                attempted, _ctx(0.4), event_id=seq, reason=rejection))
            assert first is not None and first.action == "created"

            # 2. reconciliation finds the naked short put and closes it via close_position()
            actions = plan(await broker.positions(), await broker.orders(), [], [], set())
            assert [a.symbol for a in actions.close] == [short_put] and actions.orphans == (short_put,)
            for action in actions.close:
                await broker.close_position(action.symbol)
                capture.capture(Failure(kind="orphan_position", component="reconciliation",
                                        summary=f"naked short option {action.symbol} closed", symbol="SPY",
                                        strategy="condor", details={"symbol": action.symbol, "qty": str(action.qty)}))
            assert sim.state.requests.query(method="DELETE", path=f"/v2/positions/{short_put}")
            assert await broker.position(short_put) is None

            # 3. the next similar decision retrieves the lesson; its prompt and record carry it
            retrieved = service.for_context(_ctx(0.45))
            assert first.lesson_id in [r.id for r in retrieved]
            refs = tuple(LessonRef(id=r.id, title=r.lesson.title, prevention=r.lesson.prevention, score=r.score)
                         for r in retrieved)
            prompt = build_prompt(MarketContext(strategy="condor", symbol="SPY", spot=600.0, lessons=refs),
                                  ParamBounds.from_settings(CondorSettings()))
            assert first.lesson_id in prompt.text()
            store.record_decision("d-next", strategy="condor", action="ENTER", params={}, reason="after lesson",
                                  lessons=[r.as_record() for r in retrieved], prompt=prompt_block(retrieved))
            assert first.lesson_id in [x["id"] for x in store.decisions(1)[0].lessons]

            # 4. the repeat is denied by the learned guard, so nothing reaches the exchange
            posts_before = len(sim.state.requests.query(method="POST", path="/v2/orders"))
            gate = RiskGate(RiskSettings(), service.guards())
            now = utcnow()
            risk_ctx = RiskContext(now=now, trade=_ctx(0.45), trading_state=TradingState.ACTIVE,
                                   equity=Decimal(100000), start_of_day_equity=Decimal(100000),
                                   start_of_week_equity=Decimal(100000), orders_last_hour=0, orders_today=0,
                                   open_positions=0, market_open=True, live_allowed=True,
                                   risk_of_this_order=Decimal(500), quote_age_s=1.0)
            repeat = OrderIntent(client_order_id="repeat", qty=Decimal(1), legs=legs, order_class=OrderClass.SIMPLE,
                                 asset_class=AssetClass.OPTION, purpose="put_spread_open")
            denials = gate.evaluate(repeat, risk_ctx)
            assert f"lesson:{first.lesson_id}" in [d.rule for d in denials]
            assert not gate.check(repeat, risk_ctx).ok
            assert len(sim.state.requests.query(method="POST", path="/v2/orders")) == posts_before
        finally:
            store.close()
            index.close()
