"""The trading engine of the local exchange: orders, cancels, closes, expiry, checks.

All state changes happen on the server's event loop, one request at a time, so every operation
here is atomic: an mleg order books all its legs or none. Matching rules live in
``exchange_fill`` (with its documented simplifications), exercise, assignment and expiry (physical
settlement) in ``expiry``, margin rules in ``exchange_margin``, JSON views in ``exchange_views``.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Callable

from stockbot.options.occ import is_occ_symbol
from stockbot.sim import exchange_fill as fill
from stockbot.sim import exchange_rules as rules
from stockbot.sim.accounts import SIM_NAMESPACE, Accounts, SimAccount
from stockbot.sim.exchange_margin import ZERO, Pricer, apply_fill, valuate
from stockbot.sim.exchange_model import SimError, SimOrder, SimPosition
from stockbot.sim.exchange_parse import OrderSpec, invalid, parse_order, to_decimal
from stockbot.sim.fill_settings import FillSettings
from stockbot.sim.trade_updates import TradeUpdateHub
from stockbot.sim.wire import CODE_FORBIDDEN, CODE_NOT_FOUND, CODE_UNPROCESSABLE

FILL_MODELS = ("touch", "mid")


def forbidden(message: str) -> SimError:
    return SimError(403, CODE_FORBIDDEN, message)


class Exchange:
    """Order handling for every account of one sim."""

    def __init__(self, clock, market, accounts: Accounts, *, seed: int = 0, faults=None,
                 on_change: Callable[[], None] | None = None, mleg_fill: str = "touch") -> None:
        if mleg_fill not in FILL_MODELS:
            raise ValueError(f"mleg_fill must be one of {FILL_MODELS}")
        self.clock = clock
        self.market = market
        self.accounts = accounts
        self.faults = faults
        self.seed = seed
        self.mleg_fill = mleg_fill
        self.on_change = on_change or (lambda: None)
        self.order_seq = 0
        self._last_ts: datetime | None = None
        self._known: dict[str, bool] = {}
        self._close_cache = None
        self.lastday_cache: dict = {}  # (symbol, date) -> previous close, for position views
        self.fill = FillSettings()  # chance and delay of marketable limit fills
        self.trade_updates = TradeUpdateHub()  # the /stream websocket's trade_updates

    def publish(self, account: SimAccount) -> None:
        """Push one trade update per order change of ``account`` to its stream listeners."""
        self.trade_updates.publish(account, self.clock.now())

    # ----------------------------------------------------------------- helpers
    def now(self) -> datetime:
        """The sim time, strictly increasing between calls (orders sort and page by it)."""
        now = self.clock.now()
        if self._last_ts is not None and now <= self._last_ts:
            now = self._last_ts + timedelta(microseconds=1)
        self._last_ts = now
        return now

    def new_id(self) -> str:
        self.order_seq += 1
        return str(uuid.uuid5(SIM_NAMESPACE, f"order:{self.seed}:{self.order_seq}"))

    def pricer(self) -> Pricer:
        return Pricer(self.market)

    def is_known(self, symbol: str) -> bool:
        """Whether ``symbol`` (stock or listed OCC option) trades here; cached per symbol."""
        known = self._known.get(symbol)
        if known is None:
            try:
                known = bool(self.market.is_listed_option(symbol) if is_occ_symbol(symbol)
                             else self.market.has_symbol(symbol))
            except (KeyError, ValueError):
                known = False
            if is_occ_symbol(symbol):
                return known  # listings move with the clock; do not cache options
            self._known[symbol] = known
        return known

    # ---------------------------------------------------------------- process
    def process(self, account: SimAccount, pricer: Pricer | None = None) -> None:
        """Bring one account up to the sim time: expire orders, settle expired options and
        fill working orders that became marketable."""
        self.trade_updates.track(account)
        now = self.clock.now()
        changed = fill.expire_orders(account, now)
        if any(p.asset_class == "us_option" for p in account.positions.values()):
            changed |= fill.settle_expired_options(account, self.clock, self.market, now)
        if account.open_orders and self.clock.is_open(now):
            pricer = pricer or self.pricer()
            for order in sorted(account.open_orders.values(), key=lambda o: o.created_at):
                changed |= self._work(account, order, pricer, now)
        changed |= self._roll_day(account, now, pricer)
        if changed:
            self.publish(account)
            self.on_change()

    def process_all(self) -> None:
        pricer = self.pricer()
        for account in self.accounts:
            self.process(account, pricer)

    def _work(self, account: SimAccount, order: SimOrder, pricer: Pricer, now: datetime) -> bool:
        changed = False
        if order.status == "accepted":
            order.set_status("new", now)
            changed = True
        try:
            filled = fill.try_fill(account, order, pricer, now, self.mleg_fill,
                                   lambda o: self.fill.may_fill(o, now, self.seed))
        except (KeyError, ValueError):  # the market cannot quote it (e.g. a delisted contract)
            filled = False
        if not filled and order.time_in_force in ("ioc", "fok"):
            fill.finish(account, order, "canceled", now)
            return True
        return changed or filled

    def _roll_day(self, account: SimAccount, now: datetime, pricer: Pricer | None) -> bool:
        """After a session close, ``last_equity`` becomes the equity of the account at that point
        (marked when the sim first notices the close: on the next request or tick)."""
        closed = self.last_close_date(now)
        if closed <= account.balance_asof:
            return False
        account.last_equity = self.valuation(account, pricer).equity
        account.balance_asof = closed
        return True

    def last_close_date(self, now: datetime):
        """The trading day of the most recent session close at or before ``now``."""
        today = now.astimezone(fill.NY).date()
        cache = self._close_cache
        if cache is not None and cache[0] == today and now < cache[2]:
            return cache[1]
        d = today
        for _ in range(15):
            if self.clock.is_trading_day(d) and self.clock.session_close_utc(d) <= now:
                break
            d -= timedelta(days=1)
        # the answer holds until today's close (if today trades and has not closed yet)
        if d != today and self.clock.is_trading_day(today):
            until = self.clock.session_close_utc(today)
        else:
            until = datetime.combine(today + timedelta(days=1), datetime.min.time(), fill.NY)
        self._close_cache = (today, d, until)
        return d

    def valuation(self, account: SimAccount, pricer: Pricer | None = None):
        return valuate(account.cash, account.positions.values(), account.spec.multiplier, pricer or self.pricer())

    # ----------------------------------------------------------------- orders
    def submit(self, account: SimAccount, body, *, publish: bool = True) -> SimOrder:
        """Validate, check and place an order; fill it at once when it is marketable."""
        self.trade_updates.track(account)
        spec = parse_order(body, self.is_known)
        if spec.notional is not None:
            spec = rules.notional_spec(spec, self.pricer())
        if spec.client_order_id is not None and spec.client_order_id in account.by_client_id:
            raise SimError(422, CODE_UNPROCESSABLE, "client_order_id must be unique")
        if self.faults is not None:
            self.faults.check_order(account.key_id, spec)
        pricer = self.pricer()
        self._check_permissions(account, spec)
        reserve = self._check_buying_power(account, spec, pricer)
        order = self._build(account, spec, reserve)
        account.add_order(order)
        now = order.created_at
        if self.clock.is_open(now):
            self._work(account, order, pricer, now)
        elif order.time_in_force in ("ioc", "fok"):
            fill.finish(account, order, "canceled", now)
        if publish:
            self.publish(account)
        self.on_change()
        return order

    def _build(self, account: SimAccount, spec: OrderSpec, reserve: Decimal) -> SimOrder:
        now = self.now()
        status = "new" if self.clock.is_open(now) else "accepted"
        expires = fill.order_expiry(self.clock, spec.time_in_force, now)
        oid = self.new_id()
        order = SimOrder(id=oid, client_order_id=spec.client_order_id or oid, created_at=now,
                         symbol=spec.symbol, asset_class=spec.asset_class, side=spec.side, qty=spec.qty,
                         type=spec.type, time_in_force=spec.time_in_force, order_class=spec.order_class,
                         limit_price=spec.limit_price, stop_price=spec.stop_price,
                         position_intent=spec.position_intent or (
                             self._intent(account, spec.symbol, spec.side) if spec.symbol else None),
                         status=status,
                         extended_hours=spec.extended_hours, expires_at=expires, updated_at=now,
                         reserved=reserve, notional=None if spec.notional is None else str(spec.notional))
        for leg in spec.legs:
            lid = self.new_id()
            order.legs.append(SimOrder(
                id=lid, client_order_id=lid, created_at=now, symbol=leg.symbol, asset_class="us_option",
                side=leg.side, qty=spec.qty * leg.ratio_qty, type=spec.type, time_in_force=spec.time_in_force,
                order_class="mleg", position_intent=leg.position_intent or self._intent(account, leg.symbol, leg.side),
                status=status,
                expires_at=expires, updated_at=now, ratio_qty=leg.ratio_qty, parent_id=oid))
        return order

    def _intent(self, account: SimAccount, symbol: str, side: str) -> str:
        pos = account.positions.get(symbol)
        held = pos.qty if pos else ZERO
        if side == "buy":
            return "buy_to_close" if held < 0 else "buy_to_open"
        return "sell_to_close" if held > 0 else "sell_to_open"

    def _check_permissions(self, account: SimAccount, spec: OrderSpec) -> None:
        level = account.spec.options_level
        legs = spec.legs or ()
        if spec.order_class == "mleg":
            if level < 3:
                raise rules.refusal("options_level", level=level)
            for leg in legs:
                self._check_close_qty(account, leg.symbol, leg.side, spec.qty * leg.ratio_qty, leg.position_intent)
            rules.check_pdt(account, [(leg.symbol, leg.side) for leg in legs], self.clock.now(), fill.NY)
            return
        self._check_close_qty(account, spec.symbol, spec.side, spec.qty, spec.position_intent)
        rules.check_pdt(account, [(spec.symbol, spec.side)], self.clock.now(), fill.NY)
        rules.check_uncovered(account, spec.symbol, spec.side, spec.qty)
        pos = account.positions.get(spec.symbol)
        held = pos.qty if pos else ZERO
        after = held + (spec.qty if spec.side == "buy" else -spec.qty)
        if spec.asset_class == "us_equity":
            if after < 0 and not account.spec.shorting:
                raise forbidden("account is not allowed to short (shorting is disabled for this account)")
            if after < 0 and spec.qty != spec.qty.to_integral_value():
                raise forbidden("fractional orders cannot open or increase a short position")
            return
        if level == 0:
            raise forbidden("account is not approved for options trading (options trading level 0)")
        if spec.side == "buy" and after > 0 and level < 2:
            raise forbidden(f"account is not eligible to buy options (options trading level {level}, needs 2)")
        if spec.side == "sell" and after < 0 and level < 3 and self._uncovered_call(account, spec, after):
            stock = account.positions.get(fill.parse_occ(spec.symbol).underlying)
            raise forbidden(f"insufficient underlying qty available for covered call (required: {int(-after * 100)}, "
                            f"available: {int(stock.qty) if stock and stock.qty > 0 else 0})")

    def _uncovered_call(self, account: SimAccount, spec: OrderSpec, after: Decimal) -> bool:
        contract = fill.parse_occ(spec.symbol)
        if contract.right.value != "call":
            return False
        stock = account.positions.get(contract.underlying)
        covered = (stock.qty if stock and stock.qty > 0 else ZERO) / 100
        return -after > covered

    def available_to_close(self, account: SimAccount, symbol: str, side: str) -> Decimal:
        """What an order on ``side`` can still close of the position: its size less what working
        orders on the same side already hold (Alpaca's ``held_for_orders``)."""
        pos = account.positions.get(symbol)
        size = (-pos.qty if side == "buy" else pos.qty) if pos else ZERO
        held = ZERO
        for order in account.open_orders.values():
            for o in (order.legs or [order]):
                if o.symbol == symbol and o.side == side:
                    held += o.qty
        return max(size, ZERO) - held

    def _check_close_qty(self, account: SimAccount, symbol: str, side: str, qty: Decimal, intent: str | None) -> None:
        if intent not in ("buy_to_close", "sell_to_close"):
            return
        available = self.available_to_close(account, symbol, side)
        if available < qty:
            raise rules.refusal("insufficient_qty", requested=rules.num(qty), available=rules.num(max(available, ZERO)))

    def _check_buying_power(self, account: SimAccount, spec: OrderSpec, pricer: Pricer) -> Decimal:
        """Refuse the order when it needs more buying power than is free; return what it holds."""
        try:
            before = self.valuation(account, pricer)
            positions = dict(account.positions)
            cash = account.cash
            for symbol, side, qty, asset_class, price in self._estimated_fills(spec, pricer):
                cash = apply_fill(positions, cash, symbol, asset_class, side, qty, price)
            after = valuate(cash, positions.values(), account.spec.multiplier, pricer)
        except (KeyError, ValueError):
            raise invalid("the sim cannot quote this symbol now") from None
        need = before.excess - after.excess
        if need <= 0:
            return ZERO
        held = sum((o.reserved for o in account.open_orders.values()), ZERO)
        available = before.excess - held
        if need > available:
            raise forbidden(f"insufficient buying power (required: {need.quantize(Decimal('0.01'))}, "
                            f"available: {max(available, ZERO).quantize(Decimal('0.01'))})")
        return need

    def _estimated_fills(self, spec: OrderSpec, pricer: Pricer):
        if spec.order_class == "mleg":
            for leg in spec.legs:
                yield (leg.symbol, leg.side, spec.qty * leg.ratio_qty, "us_option",
                       fill.leg_price(pricer, leg.symbol, leg.side, self.mleg_fill))
            return
        bid, ask = pricer.touch(spec.symbol)
        price = ask if spec.side == "buy" else bid
        if spec.limit_price is not None and spec.side == "buy":
            price = max(price, spec.limit_price)
        yield spec.symbol, spec.side, spec.qty, spec.asset_class, price

    # ---------------------------------------------------------------- lookups
    def get_order(self, account: SimAccount, order_id: str) -> SimOrder:
        order = account.by_id.get(order_id)
        if order is None:
            raise SimError(404, CODE_NOT_FOUND, "order not found")
        return order

    def cancel(self, account: SimAccount, order_id: str) -> SimOrder:
        """Cancel a working order (204); a leg alone or a finished order is refused (422)."""
        self.trade_updates.track(account)
        order = self.get_order(account, order_id)
        if order.parent_id is not None:
            raise SimError(422, CODE_UNPROCESSABLE, "cannot cancel individual legs of a mleg order")
        if not order.is_open:
            raise SimError(422, CODE_UNPROCESSABLE, f"order is already in \"{order.status}\" state")
        fill.finish(account, order, "canceled", self.now())
        self.publish(account)
        self.on_change()
        return order

    def cancel_all(self, account: SimAccount) -> list[SimOrder]:
        self.trade_updates.track(account)
        canceled = []
        for order in list(account.open_orders.values()):
            fill.finish(account, order, "canceled", self.now())
            canceled.append(order)
        if canceled:
            self.publish(account)
            self.on_change()
        return canceled

    # -------------------------------------------------------------- positions
    def close_position(self, account: SimAccount, symbol: str, qty=None, percentage=None) -> SimOrder:
        """A market order that closes all, ``qty`` or ``percentage`` of a position."""
        pos = account.positions.get(symbol)
        if pos is None:
            raise SimError(404, CODE_NOT_FOUND, "position not found")
        held = abs(pos.qty)
        if qty not in (None, "") and percentage not in (None, ""):
            raise invalid("only one of qty or percentage may be given")
        if qty not in (None, ""):
            amount = to_decimal(qty, "qty")
        elif percentage not in (None, ""):
            pct = to_decimal(percentage, "percentage")
            if not 0 < pct <= 100:
                raise invalid("percentage must be in (0, 100]")
            amount = held * pct / 100
            step = Decimal(1) if pos.asset_class == "us_option" else Decimal("0.000000001")
            amount = amount.quantize(step, rounding=ROUND_DOWN)
        else:
            amount = held
        if amount <= 0:
            raise invalid("qty must be > 0")
        side = "sell" if pos.qty > 0 else "buy"
        available = self.available_to_close(account, symbol, side)
        if amount > available:
            raise rules.refusal("insufficient_qty", requested=rules.num(amount), available=rules.num(max(available, ZERO)))
        body = {"symbol": symbol, "qty": str(amount), "side": side, "type": "market", "time_in_force": "day",
                "position_intent": "sell_to_close" if side == "sell" else "buy_to_close"}
        return self.submit(account, body)

    def close_all(self, account: SimAccount, cancel_orders: bool) -> list[dict]:
        """Close every position (short options first, so no leg is left naked in between)."""
        if cancel_orders:
            self.cancel_all(account)
        ordered = sorted(account.positions.values(),
                         key=lambda p: (p.asset_class != "us_option", p.qty > 0, p.symbol))
        results = []
        for pos in ordered:
            try:
                order = self.close_position(account, pos.symbol)
                results.append({"symbol": pos.symbol, "status": 200, "body": order.to_json()})
            except SimError as err:
                results.append({"symbol": pos.symbol, "status": err.status,
                                "body": {"code": err.code, "message": err.message, "symbol": pos.symbol}})
        return results

    def plant_position(self, account: SimAccount, symbol: str, qty: Decimal, avg_entry_price: Decimal,
                       adjust_cash: bool = False) -> SimPosition:
        """Put a position on the book directly (tests of orphans and naked shorts).
        With ``adjust_cash`` the cash moves as if it had been traded at ``avg_entry_price``."""
        asset_class = "us_option" if is_occ_symbol(symbol) else "us_equity"
        if qty == 0:
            account.positions.pop(symbol, None)
            self.on_change()
            return SimPosition(symbol, qty, avg_entry_price, asset_class)
        if adjust_cash:
            side = "buy" if qty > 0 else "sell"
            account.cash = apply_fill(account.positions, account.cash, symbol, asset_class, side, abs(qty), avg_entry_price)
        else:
            account.positions[symbol] = SimPosition(symbol, qty, avg_entry_price, asset_class)
        self.on_change()
        return account.positions[symbol]
