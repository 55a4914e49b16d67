"""Shared values for the lessons tests (trade contexts and iron condor intents)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from stockbot import config
from stockbot.domain import AssetClass, Leg, OrderClass, OrderIntent, PositionIntent, Side, TradeContext

REPO_SEEDS = config.DEFAULT_MEMORY_ROOT / "lessons"

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=timezone.utc)  # 11:00 New York


def condor_ctx(**kw) -> TradeContext:
    base = dict(account="acct1", strategy="condor", symbol="SPY", now=NOW, order_type="mleg limit", iv_rank=0.42,
                market_condition="range-bound, low trend", quote_age_s=2.0)
    base.update(kw)
    return TradeContext(**base)


CONDOR_LEGS = (
    Leg("SPY260417C00600000", Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
    Leg("SPY260417C00605000", Side.BUY, 1, PositionIntent.BUY_TO_OPEN),
    Leg("SPY260417P00540000", Side.SELL, 1, PositionIntent.SELL_TO_OPEN),
    Leg("SPY260417P00535000", Side.BUY, 1, PositionIntent.BUY_TO_OPEN),
)


def condor_intent(order_class: OrderClass = OrderClass.MLEG, **kw) -> OrderIntent:
    base = dict(client_order_id="c-1", qty=Decimal(1), order_type="limit", legs=CONDOR_LEGS,
                limit_price=Decimal("-1.25"), order_class=order_class, asset_class=AssetClass.OPTION,
                purpose="entry")
    base.update(kw)
    return OrderIntent(**base)
