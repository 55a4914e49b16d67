"""alpaca-py models <-> the project's value types (Decimal money, aware UTC timestamps).

Kept apart from the client facade so the mapping can be table-tested without a network.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from stockbot.domain import (
    AccountSnapshot,
    AssetClass,
    Bar,
    BrokerOrder,
    Clock,
    OptionContract,
    OptionQuote,
    OptionRight,
    OrderClass,
    OrderIntent,
    Position,
    Quote,
    to_decimal,
)
from stockbot.options.occ import parse_occ


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else to_decimal(value)


def _enum(value: Any) -> str:
    return "" if value is None else str(getattr(value, "value", value))


def _utc(ts: datetime | None) -> datetime | None:
    if ts is None:
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def account(a: Any) -> AccountSnapshot:
    level = a.options_trading_level if a.options_trading_level is not None else a.options_approved_level
    return AccountSnapshot(
        account_number=a.account_number,
        status=_enum(a.status),
        equity=_dec(a.equity) or Decimal(0),
        last_equity=_dec(a.last_equity) or Decimal(0),
        cash=_dec(a.cash) or Decimal(0),
        buying_power=_dec(a.buying_power) or Decimal(0),
        options_buying_power=_dec(a.options_buying_power),
        multiplier=_dec(a.multiplier) or Decimal(1),
        shorting_enabled=bool(a.shorting_enabled),
        options_level=int(level or 0),
        pattern_day_trader=bool(a.pattern_day_trader),
        trading_blocked=bool(a.trading_blocked),
        account_blocked=bool(a.account_blocked),
    )


def order(o: Any) -> BrokerOrder:
    return BrokerOrder(
        id=str(o.id),
        client_order_id=o.client_order_id,
        status=_enum(o.status),
        qty=_dec(o.qty) or Decimal(0),
        filled_qty=_dec(o.filled_qty) or Decimal(0),
        created_at=_utc(o.created_at),
        symbol=o.symbol or "",
        side=_enum(o.side),
        order_type=_enum(o.order_type or o.type),
        order_class=_enum(o.order_class),
        limit_price=_dec(o.limit_price),
        filled_avg_price=_dec(o.filled_avg_price),
        legs=tuple(order(leg) for leg in (o.legs or ())),
    )


def position(p: Any) -> Position:
    qty = to_decimal(p.qty)
    # Alpaca reports short positions with a negative qty already; the side is the tie-breaker.
    if _enum(p.side) == "short" and qty > 0:
        qty = -qty
    return Position(
        symbol=p.symbol,
        qty=qty,
        avg_entry_price=to_decimal(p.avg_entry_price),
        asset_class=AssetClass(_enum(p.asset_class)) if _enum(p.asset_class) in ("us_equity", "us_option")
        else AssetClass.EQUITY,
        market_value=_dec(p.market_value),
        unrealized_pl=_dec(p.unrealized_pl),
        current_price=_dec(p.current_price),
    )


def clock(c: Any) -> Clock:
    return Clock(ts=_utc(c.timestamp), is_open=bool(c.is_open), next_open=_utc(c.next_open),
                 next_close=_utc(c.next_close))


def quote(symbol: str, q: Any) -> Quote:
    return Quote(symbol=symbol, bid=to_decimal(q.bid_price), ask=to_decimal(q.ask_price), ts=_utc(q.timestamp),
                 bid_size=to_decimal(q.bid_size or 0), ask_size=to_decimal(q.ask_size or 0))


def bar(symbol: str, b: Any) -> Bar:
    return Bar(symbol=symbol, ts=_utc(b.timestamp), open=to_decimal(b.open), high=to_decimal(b.high),
               low=to_decimal(b.low), close=to_decimal(b.close), volume=to_decimal(b.volume))


def option_contract(c: Any) -> OptionContract:
    return OptionContract(symbol=c.symbol, underlying=c.underlying_symbol, expiration=c.expiration_date,
                          right=OptionRight(_enum(c.type)), strike=to_decimal(c.strike_price))


def option_snapshot(symbol: str, s: Any) -> OptionQuote | None:
    """A chain row, or None when the snapshot has no quote (it cannot be priced)."""
    q = s.latest_quote
    if q is None:
        return None
    g = s.greeks
    return OptionQuote(
        contract=parse_occ(symbol),
        bid=to_decimal(q.bid_price), ask=to_decimal(q.ask_price), ts=_utc(q.timestamp),
        delta=None if g is None else g.delta, gamma=None if g is None else g.gamma,
        theta=None if g is None else g.theta, vega=None if g is None else g.vega,
        iv=s.implied_volatility,
    )


def order_request(intent: OrderIntent) -> Any:
    """Build the alpaca-py request for an intent (mleg when it has legs)."""
    from alpaca.trading.enums import OrderClass as AOrderClass
    from alpaca.trading.enums import OrderSide, PositionIntent, TimeInForce
    from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, OptionLegRequest

    common: dict[str, Any] = {
        "qty": float(intent.qty),
        "time_in_force": TimeInForce(intent.time_in_force),
        "client_order_id": intent.client_order_id,
    }
    if intent.order_class is OrderClass.MLEG:
        common["order_class"] = AOrderClass.MLEG
        common["legs"] = [
            OptionLegRequest(symbol=leg.symbol, ratio_qty=leg.ratio_qty, side=OrderSide(leg.side.value),
                             position_intent=PositionIntent(leg.position_intent.value) if leg.position_intent
                             else None)
            for leg in intent.legs
        ]
    else:
        common["symbol"] = intent.symbol
        common["side"] = OrderSide(intent.side.value) if intent.side else None
        if intent.position_intent:
            common["position_intent"] = PositionIntent(intent.position_intent.value)
    if intent.order_type == "limit":
        if intent.limit_price is None:
            raise ValueError("limit order without limit_price")
        return LimitOrderRequest(limit_price=float(intent.limit_price), **common)
    return MarketOrderRequest(**common)
