"""Alpaca JSON views of an account: ``/v2/account``, ``/v2/account/configurations``, positions.

Buying power follows ``exchange_margin`` (Reg-T style with the account multiplier, options not
marginable, defined-risk spreads reserve their max loss). ``last_equity`` is the equity the sim
marked when it first noticed the last session close. Option positions have no price history
here, so their ``lastday_price`` is the current mark (``change_today`` 0).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from stockbot.sim.accounts import SimAccount
from stockbot.sim.exchange_fill import NY
from stockbot.sim.exchange_margin import ZERO, Pricer
from stockbot.sim.exchange_model import cents
from stockbot.sim.wire import money, rfc3339


def account_json(exchange, account: SimAccount) -> dict[str, Any]:
    """The ``TradeAccount`` body."""
    spec = account.spec
    val = exchange.valuation(account)
    reserved = sum((o.reserved for o in account.open_orders.values()), ZERO)
    free = max(val.excess - reserved, ZERO)
    m = Decimal(spec.multiplier)
    return {
        "id": account.id,
        "account_number": account.account_number,
        "status": "ACTIVE",
        "currency": "USD",
        "buying_power": money(cents(free * m)),
        "regt_buying_power": money(cents(free * min(m, Decimal(2)))),
        "daytrading_buying_power": money(cents(free * m)) if spec.multiplier == 4 else "0",
        "non_marginable_buying_power": money(cents(free)),
        "options_buying_power": money(cents(free)),
        "cash": money(cents(account.cash)),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "pending_transfer_out": "0",
        "portfolio_value": money(val.equity),
        "pattern_day_trader": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": rfc3339(account.created_at),
        "trade_suspended_by_user": False,
        "multiplier": str(spec.multiplier),
        "shorting_enabled": spec.shorting,
        "equity": money(val.equity),
        "last_equity": money(cents(account.last_equity)),
        "long_market_value": money(val.long_market_value),
        "short_market_value": money(val.short_market_value),
        "initial_margin": money(val.initial_margin),
        "maintenance_margin": money(val.maintenance_margin),
        "last_maintenance_margin": money(val.maintenance_margin),
        "sma": money(cents(max(val.excess, ZERO))),
        "daytrade_count": 0,
        "balance_asof": account.balance_asof.isoformat(),
        "options_approved_level": spec.options_level,
        "options_trading_level": spec.options_level,
        "intraday_adjustments": "0",
        "pending_reg_taf_fees": "0",
    }


def account_configurations(account: SimAccount) -> dict[str, Any]:
    """The ``AccountConfiguration`` body (read-only in the sim)."""
    spec = account.spec
    return {
        "dtbp_check": "entry",
        "trade_confirm_email": "none",
        "suspend_trade": False,
        "no_shorting": not spec.shorting,
        "fractional_trading": True,
        "max_margin_multiplier": str(spec.multiplier),
        "max_options_trading_level": spec.options_level,
        "pdt_check": "entry",
        "ptp_no_exception_entry": False,
        "disable_overnight_trading": False,
    }


def positions_json(exchange, account: SimAccount, only: str | None = None) -> list[dict[str, Any]]:
    """Position bodies, marked at the mid now (``only``: one symbol)."""
    pricer = Pricer(exchange.market)
    now = exchange.clock.now()
    out = []
    for symbol in sorted(account.positions):
        if only is not None and symbol != only:
            continue
        pos = account.positions[symbol]
        current = pricer.mark(symbol, pos.avg_entry_price)
        if pos.asset_class == "us_option":
            lastday = current
        else:
            lastday = _lastday(exchange, symbol, now, current)
        free = exchange.available_to_close(account, symbol, "sell" if pos.qty > 0 else "buy")
        out.append(pos.to_json(current, lastday, free if pos.qty > 0 else -free))
    return out


def _lastday(exchange, symbol: str, now, fallback: Decimal) -> Decimal:
    """The close of the trading day before today (cached per symbol and day)."""
    cache: dict = exchange.lastday_cache
    d = now.astimezone(NY).date() - timedelta(days=1)
    for _ in range(15):
        if exchange.clock.is_trading_day(d):
            break
        d -= timedelta(days=1)
    key = (symbol, d)
    if key not in cache:
        try:
            cache[key] = Decimal(exchange.market.settlement_price(symbol, d))
        except (KeyError, ValueError):
            return fallback
    return cache[key]
