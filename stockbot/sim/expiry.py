"""Exercise, assignment and expiration of listed options: American style, physically settled.

What the local exchange does (every rule here is at least as harsh as Alpaca's):

- **Expiration** (first processing after the session close of the expiration date): a contract
  $0.01 or more in the money against ``Market.settlement_price`` (the official close) is
  auto-exercised when long and assigned when short: 100 shares per contract change hands at the
  strike (activities ``OPEXC`` / ``OPASN`` + ``OPTRD``). Anything else expires (``OPEXP``).
  Nothing settles in cash. Open orders on a settled contract expire with it.
- **Manual exercise** (``POST /v2/positions/{symbol_or_contract_id}/exercise``): every available
  long contract of the position is exercised at once, in or out of the money.
- **Early assignment**: the admin route ``POST /_sim/assign`` assigns a short contract now (the
  injectable fault); and once per trading day, during the session, each short contract that is in
  the money with less than ``extrinsic_below`` ($0.05) of time value left is assigned with
  probability ``early_probability`` (default 0.25), drawn from a generator seeded by the market
  seed, the account, the contract and the date (deterministic for a seed). Deep in-the-money puts
  meet the rule on their own; a call keeps its carry as time value, and it is a dividend larger
  than that time value that gets it assigned before an ex-dividend date. The sim has no dividend
  calendar: raise ``extrinsic_below`` to the dividend (``POST /_sim/assignment``) to model one.
- **Expiry-day liquidation**: from 15:15 New York on an expiration date (checked once per account,
  underlying and expiration, at the first processing at or after 15:15), if exercising and
  assigning every in-the-money contract expiring that day at the current spot would leave the
  account with negative excess (it cannot cover the stock), the exchange closes those contracts
  itself with market orders, shorts first, as Alpaca's risk desk does. The orders carry ids the
  account never chose; no activity is written for them beyond their ``FILL``. When the sim first
  notices the day only after the close (one clock jump over both), the orders fill at the quotes
  of 15:15 and carry that time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, time, timedelta
from decimal import Decimal
from weakref import WeakKeyDictionary

import uuid

from stockbot.options.occ import parse_occ
from stockbot.sim.accounts import SIM_NAMESPACE, SimAccount
from stockbot.sim.activities import new_group, record
from stockbot.sim.clock import NY
from stockbot.sim.exchange_margin import ZERO, Pricer, apply_fill, valuate
from stockbot.sim.exchange_model import OPTION_MULTIPLIER, SimError, SimOrder, SimPosition

EXERCISE_THRESHOLD = Decimal("0.01")
LIQUIDATION_AT = time(15, 15)
DEFAULT_EARLY_PROBABILITY = 0.25
DEFAULT_EXTRINSIC_BELOW = Decimal("0.05")
CODE_SHORT = 40310001


@dataclass
class AssignmentModel:
    """Per-sim settings and memory of early assignment and expiry-day liquidation."""

    early_probability: float = DEFAULT_EARLY_PROBABILITY
    extrinsic_below: Decimal = DEFAULT_EXTRINSIC_BELOW
    drawn: set = field(default_factory=set)  # (account id, date): that day's early draws are done
    liquidation_checked: set = field(default_factory=set)  # (account id, underlying, expiration)

    def set(self, probability=None, extrinsic_below=None) -> None:
        if probability is not None:
            p = float(probability)
            if not 0 <= p <= 1:
                raise ValueError("early_probability must be in [0, 1]")
            self.early_probability = p
        if extrinsic_below is not None:
            self.extrinsic_below = Decimal(str(extrinsic_below))

    def to_json(self) -> dict:
        return {"early_probability": self.early_probability, "extrinsic_below": str(self.extrinsic_below)}


_MODELS: WeakKeyDictionary = WeakKeyDictionary()


def model_for(market) -> AssignmentModel:
    """The assignment model of the sim that owns ``market`` (created with the defaults)."""
    model = _MODELS.get(market)
    if model is None:
        model = _MODELS[market] = AssignmentModel()
    return model


def intrinsic(symbol: str, price: Decimal) -> Decimal:
    c = parse_occ(symbol)
    if c.right.value == "call":
        return max(ZERO, price - c.strike)
    return max(ZERO, c.strike - price)


def _ny(now: datetime) -> datetime:
    return now.astimezone(NY)


def _finish(account: SimAccount, order: SimOrder, status: str, now: datetime) -> None:
    """End a working order and release what it held (as ``exchange_fill.finish``, which imports
    this module: no import back)."""
    order.set_status(status, now)
    order.reserved = ZERO
    account.refresh_open(order)


def _finish_orders(account: SimAccount, symbol: str, status: str, now: datetime) -> None:
    if symbol in account.positions:
        return
    for order in list(account.open_orders.values()):
        if symbol in order.symbols():
            _finish(account, order, status, now)


def _reduce(account: SimAccount, symbol: str, change: Decimal) -> None:
    pos = account.positions[symbol]
    left = pos.qty + change
    if left == 0:
        del account.positions[symbol]
    else:
        account.positions[symbol] = SimPosition(symbol, left, pos.avg_entry_price, pos.asset_class)


def deliver(account: SimAccount, symbol: str, contracts: Decimal, now: datetime) -> list[dict]:
    """Exercise (long position) or assignment (short) of ``contracts`` (> 0) of ``symbol`` into
    stock at the strike. Returns the two activities written (OPEXC/OPASN and OPTRD)."""
    pos = account.positions[symbol]
    c = parse_occ(symbol)
    long = pos.qty > 0
    shares = contracts * OPTION_MULTIPLIER
    side = "buy" if (c.right.value == "call") == long else "sell"
    before = account.cash
    account.cash = apply_fill(account.positions, account.cash, c.underlying, "us_equity", side, shares, c.strike)
    _reduce(account, symbol, -contracts if long else contracts)
    group = new_group(account)
    first = record(account, "OPEXC" if long else "OPASN", symbol=symbol, qty=-contracts if long else contracts,
                   now=now, group_id=group, price=c.strike)
    trade = record(account, "OPTRD", symbol=c.underlying, qty=shares if side == "buy" else -shares, now=now,
                   group_id=group, price=c.strike, net_amount=account.cash - before, side=side)
    _finish_orders(account, symbol, "canceled", now)
    return [first, trade]


def held_by_orders(account: SimAccount, symbol: str, side: str) -> Decimal:
    held = ZERO
    for order in account.open_orders.values():
        for o in (order.legs or [order]):
            if o.symbol == symbol and o.side == side:
                held += o.qty
    return held


def exercise(account: SimAccount, clock, symbol: str, now: datetime) -> list[dict]:
    """The exercise route: every available long contract of ``symbol`` into stock, now."""
    pos = account.positions.get(symbol)
    if pos is None or pos.asset_class != "us_option":
        raise SimError(403, 40310000, "no available position for the specified contract")
    if pos.qty < 0:
        raise SimError(403, CODE_SHORT, "cannot exercise short position")
    d = _ny(now).date()
    if clock.is_trading_day(d) and clock.session_close_utc(d) <= now:
        raise SimError(403, 40310000, "exercise requests are not accepted between market close and midnight")
    available = pos.qty - held_by_orders(account, symbol, "sell")
    if available <= 0:
        raise SimError(403, 40310000, "no available position for the specified contract")
    return deliver(account, symbol, available, now)


def assign(account: SimAccount, symbol: str, now: datetime, qty: Decimal | None = None) -> list[dict]:
    """Assign ``qty`` (default: all) contracts of a short position now (the early-assignment fault)."""
    pos = account.positions.get(symbol)
    if pos is None or pos.qty >= 0:
        raise SimError(403, 40310000, f"no short position in {symbol} to assign")
    n = -pos.qty if qty is None else min(Decimal(qty), -pos.qty)
    if n <= 0:
        raise SimError(422, 42210000, "qty must be > 0")
    return deliver(account, symbol, n, now)


# --------------------------------------------------------------------- processing
def process(account: SimAccount, clock, market, now: datetime, expiration_close) -> bool:
    """Liquidation check, early assignment and expiration settlement for one account. True if
    anything changed. Called by the exchange whenever the account holds options."""
    model = model_for(market)
    changed = _early_assign(account, clock, market, now, model)
    today = _ny(now).date()
    if any(c.expiration <= today for _, c in _options(account)):  # liquidation and settlement are due only then
        changed |= _liquidate(account, clock, market, now, model, expiration_close)
        changed |= _settle(account, clock, market, now, expiration_close)
    return changed


@lru_cache(maxsize=4096)
def _contract(symbol: str):
    return parse_occ(symbol)  # parsed once per symbol: this runs on every request and tick


def _options(account: SimAccount) -> list[tuple[SimPosition, object]]:
    return [(p, _contract(p.symbol)) for p in list(account.positions.values()) if p.asset_class == "us_option"]


def _settle(account: SimAccount, clock, market, now: datetime, expiration_close) -> bool:
    changed = False
    for pos, c in _options(account):
        if expiration_close(clock, c.expiration) > now:
            continue
        try:
            settle = Decimal(market.settlement_price(c.underlying, c.expiration))
        except (KeyError, ValueError):
            settle = c.strike  # no price: at the money, expires
        if intrinsic(pos.symbol, settle) >= EXERCISE_THRESHOLD:
            deliver(account, pos.symbol, abs(pos.qty), now)
        else:
            record(account, "OPEXP", symbol=pos.symbol, qty=-pos.qty, now=now, group_id=new_group(account))
            del account.positions[pos.symbol]
        _finish_orders(account, pos.symbol, "expired", now)
        changed = True
    return changed


def _in_session(clock, now: datetime) -> bool:
    d = _ny(now).date()
    if not clock.is_trading_day(d):
        return False
    return clock.session_open_utc(d) <= now < clock.session_close_utc(d)


def _early_assign(account: SimAccount, clock, market, now: datetime, model: AssignmentModel) -> bool:
    d = _ny(now).date()
    if model.early_probability <= 0 or (account.id, d) in model.drawn or not _in_session(clock, now):
        return False
    model.drawn.add((account.id, d))
    pricer = Pricer(market)
    changed = False
    for pos, c in _options(account):
        if pos.qty >= 0 or c.expiration <= d:
            continue
        spot = pricer.spot(c.underlying)
        if spot is None:
            continue
        value = intrinsic(pos.symbol, spot)
        if value < EXERCISE_THRESHOLD or pricer.mark(pos.symbol, value) - value >= model.extrinsic_below:
            continue
        rng = random.Random(f"{market.seed}:{account.id}:{pos.symbol}:{d.isoformat()}")
        if rng.random() < model.early_probability:
            deliver(account, pos.symbol, -pos.qty, now)
            changed = True
    return changed


def _liquidate(account: SimAccount, clock, market, now: datetime, model: AssignmentModel,
               expiration_close) -> bool:
    changed = False
    groups: dict[tuple[str, object], list[SimPosition]] = {}
    for pos, c in _options(account):
        at = datetime.combine(c.expiration, LIQUIDATION_AT, _ny(now).tzinfo)
        if now < at or expiration_close(clock, c.expiration) + timedelta(hours=8) < now:
            continue  # not yet 15:15 of its expiration date, or long settled (a restored old state)
        groups.setdefault((c.underlying, c.expiration), []).append(pos)
    pricer = Pricer(market)
    for (underlying, expiration), members in groups.items():
        key = (account.id, underlying, expiration)
        if key in model.liquidation_checked:
            continue
        model.liquidation_checked.add(key)
        spot = pricer.spot(underlying)
        if spot is None:
            continue
        itm = [p for p in members if intrinsic(p.symbol, spot) >= EXERCISE_THRESHOLD]
        if not itm or _can_cover(account, itm, pricer):
            continue
        at = datetime.combine(expiration, LIQUIDATION_AT, _ny(now).tzinfo)
        # noticed only after the contracts stopped trading (a clock jump past the close): the
        # exchange acted at 15:15, so it fills at the quotes of 15:15
        when = now if now < expiration_close(clock, expiration) else at.astimezone(now.tzinfo)
        for pos in sorted(itm, key=lambda p: (p.qty > 0, p.symbol)):  # shorts first
            try:
                quote = market.option_quote_at(pos.symbol, when)
            except (KeyError, ValueError):
                continue  # cannot be quoted: it settles at the close instead
            _market_close(account, pos, (Decimal(quote.bid), Decimal(quote.ask)), when)
        changed = True
    return changed


def _can_cover(account: SimAccount, itm: list[SimPosition], pricer: Pricer) -> bool:
    """Would the account keep non-negative excess after exercise/assignment of ``itm``?"""
    positions = dict(account.positions)
    cash = account.cash
    for pos in itm:
        c = parse_occ(pos.symbol)
        side = "buy" if (c.right.value == "call") == (pos.qty > 0) else "sell"
        cash = apply_fill(positions, cash, c.underlying, "us_equity", side, abs(pos.qty) * OPTION_MULTIPLIER,
                          c.strike)
        del positions[pos.symbol]
    return valuate(cash, positions.values(), account.spec.multiplier, pricer).excess >= 0


def _market_close(account: SimAccount, pos: SimPosition, touch: tuple[Decimal, Decimal], now: datetime) -> SimOrder:
    """A filled market order of the exchange's own, closing ``pos`` at the touch (bid, ask)."""
    for order in list(account.open_orders.values()):  # the broker cancels what would conflict
        if pos.symbol in order.symbols():
            _finish(account, order, "canceled", now)
    side = "buy" if pos.qty < 0 else "sell"
    bid, ask = touch
    price = ask if side == "buy" else bid
    oid = str(uuid.uuid5(SIM_NAMESPACE, f"liquidation:{account.id}:{len(account.orders)}"))
    qty = abs(pos.qty)
    order = SimOrder(id=oid, client_order_id=oid, created_at=now, symbol=pos.symbol, asset_class="us_option",
                     side=side, qty=qty, type="market", time_in_force="day",
                     position_intent="buy_to_close" if side == "buy" else "sell_to_close", status="filled",
                     updated_at=now, filled_qty=qty, filled_avg_price=price, filled_at=now)
    account.cash = apply_fill(account.positions, account.cash, pos.symbol, "us_option", side, qty, price)
    account.add_order(order)
    return order
