"""Alpaca's order refusals that come from account rules, with the codes and messages Alpaca sends.

Each refusal here is produced by the rule it comes from (the exchange calls these checks before it
accepts an order) and the same refusals can be injected as faults (``faults.py`` kind
``reject_as``, by ``reason``), so the daemon meets them both ways.

| reason | HTTP / code | message | rule here |
|---|---|---|---|
| ``insufficient_qty`` | 403 / 40310000 | insufficient qty available for order (requested: N, available: M) | a close larger than the position |
| ``held_for_orders`` | 403 / 40310000 | same message, qty held by open orders | a close of qty already held by working orders |
| ``buying_power`` | 403 / 40310000 | insufficient buying power | the order needs more than the free excess |
| ``pattern_day_trader`` | 403 / 40310100 | trade denied due to pattern day trading protection | equity < $25,000, 3 day trades in the last 5 sessions, and this order would close a position opened today |
| ``options_tif`` | 422 / 42210000 | order_time_in_force provided not supported for options trading | an option order that is not ``day`` |
| ``uncovered`` | 403 / 40310000 | account not eligible to trade uncovered option contracts | selling a long option leg while a short of that underlying, right and expiration stays open (the "naked" refusal) |
| ``options_level`` | 403 / 40310000 | account not eligible to trade multi-leg option orders ... | a spread (mleg) below options level 3 |

Messages follow Alpaca's published errors and the wording seen on real accounts; where Alpaca's
exact text is not published, the sim keeps the words the daemon's translation keys on.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from stockbot.options.occ import is_occ_symbol, parse_occ
from stockbot.sim.exchange_model import SimError
from stockbot.sim.wire import CODE_FORBIDDEN, CODE_UNPROCESSABLE

CODE_PDT = 40310100
PDT_EQUITY = Decimal(25000)
PDT_MAX_DAY_TRADES = 3  # a 4th day trade within 5 sessions is refused below $25,000
PDT_WINDOW_DAYS = 5
MESSAGES = {
    "insufficient_qty": "insufficient qty available for order (requested: {requested}, available: {available})",
    "held_for_orders": "insufficient qty available for order (requested: {requested}, available: {available})",
    "buying_power": "insufficient buying power",
    "pattern_day_trader": "trade denied due to pattern day trading protection",
    "options_tif": "order_time_in_force provided not supported for options trading",
    "uncovered": "account not eligible to trade uncovered option contracts",
    "options_level": "account not eligible to trade multi-leg option orders (options trading level {level}, needs 3)",
}
STATUS = {"options_tif": 422}
CODES = {"pattern_day_trader": CODE_PDT, "options_tif": CODE_UNPROCESSABLE}
REASONS = tuple(MESSAGES)


def num(value: Decimal) -> str:
    """A quantity as Alpaca prints it in messages: ``2``, ``0.5`` (no trailing zeros)."""
    text = format(Decimal(value).normalize(), "f")
    return text


def refusal(reason: str, **fields) -> SimError:
    """The SimError Alpaca answers for ``reason`` (missing message fields read as "?")."""
    if reason not in MESSAGES:
        raise ValueError(f"unknown refusal reason {reason!r}; one of {', '.join(REASONS)}")
    values = {"requested": "?", "available": "0", "level": "?", **fields}
    return SimError(STATUS.get(reason, 403), CODES.get(reason, CODE_FORBIDDEN), MESSAGES[reason].format(**values))


# ------------------------------------------------------------------ pattern day trader
def _fills_by_day(account, tz) -> dict[tuple[str, object], set[str]]:
    """(symbol, New York date) -> the sides filled that day."""
    out: dict[tuple[str, object], set[str]] = {}
    for order in account.orders:
        for o in (order.legs or [order]):
            if o.filled_qty > 0 and o.filled_at is not None:
                out.setdefault((o.symbol, o.filled_at.astimezone(tz).date()), set()).add(o.side)
    return out


def day_trades(account, now: datetime, tz) -> int:
    """Day trades (a symbol bought and sold on the same day) in the last ``PDT_WINDOW_DAYS``
    sessions, counted per symbol and day (Alpaca counts round trips; one per symbol-day is the
    lenient end, so the sim refuses no sooner than Alpaca would)."""
    since = now.astimezone(tz).date() - timedelta(days=PDT_WINDOW_DAYS + 2)  # 5 sessions span <= 7 days
    return sum(1 for (sym, day), sides in _fills_by_day(account, tz).items()
               if day >= since and len(sides) == 2)


def check_pdt(account, symbols_sides: list[tuple[str, str]], now: datetime, tz) -> None:
    """Refuse an order that would be a 4th day trade in 5 sessions on an account below $25,000."""
    if account.last_equity >= PDT_EQUITY:
        return
    today = now.astimezone(tz).date()
    fills = _fills_by_day(account, tz)
    closes_today = any(sides and side not in sides for sym, side in symbols_sides
                       for sides in [fills.get((sym, today), set())])
    if closes_today and day_trades(account, now, tz) >= PDT_MAX_DAY_TRADES:
        raise refusal("pattern_day_trader")


# ------------------------------------------------------------------ uncovered (naked) legs
def check_uncovered(account, symbol: str, side: str, qty: Decimal) -> None:
    """Selling ``qty`` of a long option is refused while shorts of the same underlying, right and
    expiration would be left uncovered by longs (and, for calls, by 100 shares per contract)."""
    if side != "sell" or not is_occ_symbol(symbol):
        return
    pos = account.positions.get(symbol)
    if pos is None or pos.qty <= 0:
        return
    sold = min(qty, pos.qty)
    c = parse_occ(symbol)
    shorts = longs = Decimal(0)
    for sym, p in account.positions.items():
        if p.asset_class != "us_option":
            continue
        o = parse_occ(sym)
        if (o.underlying, o.right, o.expiration) != (c.underlying, c.right, c.expiration):
            continue
        if p.qty < 0:
            shorts += -p.qty
        else:
            longs += p.qty
    if shorts == 0:
        return
    cover = Decimal(0)
    if c.right.value == "call":
        stock = account.positions.get(c.underlying)
        cover = (stock.qty // 100) if stock is not None and stock.qty > 0 else Decimal(0)
    if longs - sold + cover < shorts:
        raise refusal("uncovered")


# ------------------------------------------------------------------ notional orders
def notional_spec(spec, pricer):
    """A notional stock market order as the fractional qty its dollars pay at the touch now."""
    bid, ask = pricer.touch(spec.symbol)
    price = ask if spec.side == "buy" else bid
    qty = (spec.notional / price).quantize(Decimal("0.000000001"), rounding=ROUND_DOWN)
    if qty <= 0:
        raise SimError(422, CODE_UNPROCESSABLE, "notional is too small for one share fraction")
    return replace(spec, qty=qty)
