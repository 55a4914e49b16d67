"""Matching, expiry and option settlement of the local exchange.

Simplifications (deliberate, so that fills are deterministic for a seed and a time):

- Orders fill only while the market is open (``SimClock.is_open``), in full or not at all
  (no partial fills, no queue position, no slippage, no fees).
- Market orders fill at the touch: buys at the ask, sells at the bid. Limit orders fill at the
  touch once it is at least as good as the limit (buy: ask <= limit; sell: bid >= limit), else they
  rest and are re-checked on every request of the account and on the periodic tick. A marketable
  limit may still be held back by the fill chance and delay (``fill_settings``).
  Stop orders trigger when the mid crosses the stop, then act as market (stop) or limit (stop_limit).
- mleg orders fill all legs together or none. Net price = sum over legs of +ratio x price for buys
  and -ratio x price for sells (positive = debit, negative = credit). With the default "touch"
  fill model leg prices are the touch (buy at ask, sell at bid); with "mid" they are mids. A limit
  mleg fills when net <= limit_price, so a credit limit of -1.20 fills when >= 1.20 can be received.
- DAY orders expire at the first session close after they were placed; GTC orders after 90 days;
  IOC/FOK orders are canceled when they cannot fill at once.
- Option expiration, exercise and assignment live in ``stockbot.sim.expiry``: contracts $0.01+ in
  the money at the close of their expiration date are exercised (long) or assigned (short) into
  100 shares each at the strike, the rest expire; early assignment and Alpaca's expiry-day
  liquidation are modelled there too. Nothing settles in cash. Open orders on a settled contract
  expire with it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from stockbot.options.occ import parse_occ  # noqa: F401 - exchange.py calls fill.parse_occ
from stockbot.sim.accounts import SimAccount
from stockbot.sim.exchange_margin import ZERO, Pricer, apply_fill
from stockbot.sim.exchange_model import SimOrder

NY = ZoneInfo("America/New_York")
GTC_DAYS = 90


def expiration_close(clock, expiration) -> datetime:
    """When a contract expiring on ``expiration`` stops trading (16:00 New York that day)."""
    try:
        return clock.session_close_utc(expiration)
    except Exception:  # a non-trading day: the close of that calendar day still bounds it
        return datetime.combine(expiration, time(16, 0), NY).astimezone(ZoneInfo("UTC"))


def day_order_expiry(clock, now: datetime) -> datetime:
    """The first session close strictly after ``now`` (when a DAY order expires)."""
    d = now.astimezone(NY).date()
    for _ in range(15):
        if clock.is_trading_day(d):
            close = clock.session_close_utc(d)
            if close > now:
                return close
        d += timedelta(days=1)
    return now + timedelta(days=1)


def order_expiry(clock, tif: str, now: datetime) -> datetime:
    if tif == "day":
        return day_order_expiry(clock, now)
    if tif == "gtc":
        return now + timedelta(days=GTC_DAYS)
    return now


def leg_price(pricer: Pricer, symbol: str, side: str, model: str = "touch") -> Decimal:
    bid, ask = pricer.touch(symbol)
    if model == "mid":
        return (bid + ask) / 2
    return ask if side == "buy" else bid


def simple_fill_price(order: SimOrder, pricer: Pricer) -> Decimal | None:
    """The price a simple order fills at now, or None when it does not fill (yet)."""
    bid, ask = pricer.touch(order.symbol)
    otype = order.type
    if otype in ("stop", "stop_limit") and not order.stop_triggered:
        mid = (bid + ask) / 2
        hit = mid >= order.stop_price if order.side == "buy" else mid <= order.stop_price
        if not hit:
            return None
        order.stop_triggered = True
    if otype in ("market", "stop"):
        return ask if order.side == "buy" else bid
    if order.side == "buy":
        return ask if ask <= order.limit_price else None
    return bid if bid >= order.limit_price else None


def mleg_prices(order: SimOrder, pricer: Pricer, model: str) -> tuple[Decimal, dict[str, Decimal]] | None:
    """(net price per parent unit, price per leg) if the mleg order fills now, else None."""
    prices = {leg.symbol: leg_price(pricer, leg.symbol, leg.side, model) for leg in order.legs}
    net = mleg_net(order, prices)
    if order.type == "limit" and net > order.limit_price:
        return None
    return net, prices


def mleg_net(order: SimOrder, prices: dict[str, Decimal]) -> Decimal:
    net = ZERO
    for leg in order.legs:
        sign = 1 if leg.side == "buy" else -1
        net += sign * leg.ratio_qty * prices[leg.symbol]
    return net


def try_fill(account: SimAccount, order: SimOrder, pricer: Pricer, now: datetime, model: str,
             may_fill=None) -> bool:
    """Fill ``order`` completely if it is marketable now; book cash and positions. Returns True
    when it filled. The caller has checked that the market is open. ``may_fill(order)``, asked
    only once the order is marketable, can still hold it back (the fill chance and delay of
    ``fill_settings``)."""
    if order.is_mleg:
        found = mleg_prices(order, pricer, model)
        if found is None or (may_fill is not None and not may_fill(order)):
            return False
        net, prices = found
        for leg in order.legs:
            leg_qty = order.qty * leg.ratio_qty
            account.cash = apply_fill(account.positions, account.cash, leg.symbol, "us_option",
                                      leg.side, leg_qty, prices[leg.symbol])
            _mark_filled(leg, leg_qty, prices[leg.symbol], now)
        _mark_filled(order, order.qty, net, now)
    else:
        price = simple_fill_price(order, pricer)
        if price is None or (may_fill is not None and not may_fill(order)):
            return False
        account.cash = apply_fill(account.positions, account.cash, order.symbol, order.asset_class,
                                  order.side, order.qty, price)
        _mark_filled(order, order.qty, price, now)
    order.reserved = ZERO
    account.refresh_open(order)
    return True


def _mark_filled(order: SimOrder, qty: Decimal, price: Decimal, now: datetime) -> None:
    order.status = "filled"
    order.filled_qty = qty
    order.filled_avg_price = price
    order.filled_at = now
    order.updated_at = now


def finish(account: SimAccount, order: SimOrder, status: str, now: datetime) -> None:
    """End a working order (canceled / expired / rejected) and release what it held."""
    order.set_status(status, now)
    order.reserved = ZERO
    account.refresh_open(order)


def expire_orders(account: SimAccount, now: datetime) -> bool:
    """Expire working orders whose time in force has run out. True if any changed."""
    changed = False
    for order in list(account.open_orders.values()):
        if order.expires_at is not None and order.expires_at <= now and order.time_in_force in ("day", "gtc"):
            finish(account, order, "expired", now)
            changed = True
    return changed


def settle_expired_options(account: SimAccount, clock, market, now: datetime) -> bool:
    """Exercise, assignment, expiry and expiry-day liquidation of the account's options
    (``stockbot.sim.expiry``: American style, physically settled). True if anything changed."""
    from stockbot.sim import expiry

    return expiry.process(account, clock, market, now, expiration_close)
