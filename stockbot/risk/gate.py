"""The pre-trade risk gate: every order passes ``RiskGate.check`` right before it is sent.

``check`` returns ``Approved()`` or ``Denied(reason, rule)`` — a value the caller records; it never
raises (an internal error is a ``Denied`` with rule ``gate_error``: no exception path approves).

Opening orders face every rule. Closing orders (``ctx.is_closing``) stay possible while halted,
REDUCING, past a loss limit or with the STOP flag — reducing risk must never be blocked by the
thing that wants risk reduced — but they still face the structural rules (mleg, whole condor,
intent consistency), trading hours, the fire counter (at twice the limits) and lesson guards.
Cancels are not orders and never come through here.

Rules (``Denied.rule``), in the order they are checked:
  qty, mleg_required (LL-221), mleg_shape, intent_mismatch, condor_structure, options_strategy,
  stop_flag, pattern_day_trader (LL-178), trading_state, daily_loss_limit, weekly_loss_limit, equity_floor, validation_gate,
  trading_hours, fire_counter_hour, fire_counter_day, max_open_positions, max_risk_per_trade,
  quote_freshness, lesson:<LL-id>.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from stockbot.config import RiskSettings
from stockbot.domain import AssetClass, OrderClass, OrderIntent, PositionIntent, TradeContext
from stockbot.options.condor import validate_condor_legs
from stockbot.options.occ import is_occ_symbol
from stockbot.risk.states import TradingState, loss_limit_breached, loss_share


@dataclass(frozen=True, slots=True)
class Approved:
    ok = True


@dataclass(frozen=True, slots=True)
class Denied:
    reason: str
    rule: str

    ok = False


@runtime_checkable
class GuardLike(Protocol):
    """A lesson guard: returns a denial reason, or None to let the order pass."""

    # Read-only, so a frozen dataclass (``stockbot.lessons.guards.Guard``) fits the protocol.
    @property
    def lesson_id(self) -> str: ...

    def check(self, intent: OrderIntent, ctx: TradeContext) -> str | None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskContext:
    """Everything the gate needs about the account and the moment. Money is Decimal.

    ``open_positions`` counts broker positions (each option leg is one); an opening order adds
    one per leg. ``risk_of_this_order`` is the order's max loss in $ (None = unknown, which denies
    an opening order). ``quote_age_s`` is the age of the quote the order was priced from (None =
    unknown, denies opening). ``live_allowed`` is ``validation.live_allowed(...)[0]`` for a live
    account; paper/sim accounts pass True.
    """

    now: datetime
    trade: TradeContext
    trading_state: TradingState
    equity: Decimal
    start_of_day_equity: Decimal
    start_of_week_equity: Decimal
    orders_last_hour: int
    orders_today: int
    open_positions: int
    market_open: bool
    live_allowed: bool  # required on purpose: a default here would fail open for live accounts
    stop_flag: bool = False
    is_closing: bool = False
    risk_of_this_order: Decimal | None = None
    quote_age_s: float | None = None
    pattern_day_trader: bool = False  # the broker flags the account (AccountSnapshot.pattern_day_trader)
    validation_reason: str = ""  # why live_allowed is what it is ("OVERRIDE: ..." when the override is used)


PDT_MIN_EQUITY = Decimal(25000)  # FINRA's pattern day trader equity minimum
_OPENING = {PositionIntent.BUY_TO_OPEN, PositionIntent.SELL_TO_OPEN}
_CLOSING = {PositionIntent.BUY_TO_CLOSE, PositionIntent.SELL_TO_CLOSE}

Rule = Callable[[OrderIntent, "RiskContext"], "Denied | None"]


class RiskGate:
    """Checks one order intent against the account's hard limits and the lesson guards."""

    def __init__(self, settings: RiskSettings, guards: Sequence[GuardLike] = ()):
        self.settings = settings
        self.guards = tuple(guards)
        self._structural: tuple[Rule, ...] = (lambda i, _ctx: order_shape_denial(i), self._intent_mismatch,
                                              self._condor_structure, self._options_strategy)
        self._opening: tuple[Rule, ...] = (self._stop_flag, self._pattern_day_trader, self._trading_state, self._daily_loss,
                                           self._weekly_loss, self._equity_floor, self._validation)
        self._always: tuple[Rule, ...] = (self._trading_hours, self._fire_hour, self._fire_day)
        self._sizing: tuple[Rule, ...] = (self._max_positions, self._max_risk, self._freshness)

    # ------------------------------------------------------------------ public

    def check(self, intent: OrderIntent, ctx: RiskContext) -> Approved | Denied:
        """The first rule that denies, or Approved. Never raises."""
        try:
            for rule in self._rules(ctx):
                denied = rule(intent, ctx)
                if denied is not None:
                    return denied
            return Approved()
        except Exception as exc:  # noqa: BLE001 - fail closed: a broken rule or context denies
            return Denied(f"risk gate error: {type(exc).__name__}: {exc}", "gate_error")

    def evaluate(self, intent: OrderIntent, ctx: RiskContext) -> list[Denied]:
        """Every denial (for logs and the dashboard); empty means approved."""
        out: list[Denied] = []
        for rule in self._rules(ctx):
            try:
                denied = rule(intent, ctx)
            except Exception as exc:  # noqa: BLE001 - fail closed, as in check()
                denied = Denied(f"risk gate error: {type(exc).__name__}: {exc}", "gate_error")
            if denied is not None:
                out.append(denied)
        return out

    def _rules(self, ctx: RiskContext) -> tuple[Rule, ...]:
        opening = () if ctx.is_closing else self._opening
        sizing = () if ctx.is_closing else self._sizing
        return self._structural + opening + self._always + sizing + (self._guards,)

    # ------------------------------------------------------------------ structural (all orders)

    def _intent_mismatch(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        intents = {leg.position_intent for leg in i.legs} | {i.position_intent}
        intents.discard(None)
        if ctx.is_closing and intents & _OPENING:
            return Denied("order is marked closing but carries an opening position intent", "intent_mismatch")
        if not ctx.is_closing and intents & _CLOSING:
            return Denied("order is marked opening but carries a closing position intent", "intent_mismatch")
        return None

    def _condor_structure(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if ctx.trade.strategy != "condor":
            return None
        n = i.option_leg_count
        if n > 1:
            why = validate_condor_legs(i.legs, closing=ctx.is_closing)
            if why:
                return Denied(f"not a whole iron condor: {why}", "condor_structure")
        elif n == 1 and not ctx.is_closing:
            return Denied("single-leg option order opening in the condor strategy (naked leg)", "condor_structure")
        return None

    def _options_strategy(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if ctx.is_closing or ctx.trade.strategy == "condor":
            return None
        if i.asset_class is AssetClass.OPTION or i.legs or (i.symbol and is_occ_symbol(i.symbol)):
            return Denied(f"strategy {ctx.trade.strategy!r} may not open option positions", "options_strategy")
        return None

    # ------------------------------------------------------------------ opening only

    def _stop_flag(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if ctx.stop_flag:
            return Denied("STOP flag present: only closing orders and cancels", "stop_flag")
        return None

    def _pattern_day_trader(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        # Alpaca refuses every day trade of a flagged account under $25k (403 / 40310100): an
        # entry now could not be closed today, and each one sent would only be rejected (LL-178).
        if ctx.pattern_day_trader and Decimal(ctx.equity) < PDT_MIN_EQUITY:
            return Denied(f"account flagged pattern day trader with equity {ctx.equity} < {PDT_MIN_EQUITY}: "
                          "no new entries until the flag clears", "pattern_day_trader")
        return None

    def _trading_state(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if ctx.trading_state is not TradingState.ACTIVE:
            return Denied(f"trading state {ctx.trading_state.value}: only closing orders and cancels", "trading_state")
        return None

    def _loss(self, start: Decimal, limit: float, rule: str, ctx: RiskContext) -> Denied | None:
        if loss_limit_breached(start, ctx.equity, limit):
            share = loss_share(start, ctx.equity)
            lost = "unknown (no start equity)" if share is None else f"{share:.2%}"
            return Denied(f"{rule.replace('_', ' ')} {limit:.2%} reached: lost {lost}", rule)
        return None

    def _daily_loss(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        return self._loss(ctx.start_of_day_equity, self.settings.daily_loss_limit, "daily_loss_limit", ctx)

    def _weekly_loss(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        return self._loss(ctx.start_of_week_equity, self.settings.weekly_loss_limit, "weekly_loss_limit", ctx)

    def _equity_floor(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if Decimal(ctx.equity) <= Decimal(self.settings.equity_floor):
            return Denied(f"equity {ctx.equity} at or below the floor {self.settings.equity_floor}", "equity_floor")
        return None

    def _validation(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if not ctx.live_allowed:
            return Denied("live trading not allowed: the paper-validation gate has not passed", "validation_gate")
        return None

    # ------------------------------------------------------------------ every order

    def _trading_hours(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        if self.settings.trading_hours_only and not ctx.market_open:
            return Denied("market is closed (trading hours only)", "trading_hours")
        return None

    def _fire(self, count: int, limit: int, window: str, rule: str, ctx: RiskContext) -> Denied | None:
        # Closing orders get twice the headroom so a busy day cannot trap a position, while a
        # runaway loop of closes is still stopped.
        cap = limit * 2 if ctx.is_closing else limit
        if count >= cap:
            return Denied(f"fire counter: {count} orders in the last {window} (limit {cap})", rule)
        return None

    def _fire_hour(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        return self._fire(ctx.orders_last_hour, self.settings.max_orders_per_hour, "hour", "fire_counter_hour", ctx)

    def _fire_day(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        return self._fire(ctx.orders_today, self.settings.max_orders_per_day, "day", "fire_counter_day", ctx)

    # ------------------------------------------------------------------ sizing (opening only)

    def _max_positions(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        new = len(i.legs) if i.legs else 1
        if ctx.open_positions + new > self.settings.max_open_positions:
            return Denied(f"{ctx.open_positions} open positions + {new} new > max {self.settings.max_open_positions}",
                          "max_open_positions")
        return None

    def _max_risk(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        risk = ctx.risk_of_this_order
        if risk is None:
            return Denied("risk of this order unknown", "max_risk_per_trade")
        budget = Decimal(ctx.equity) * Decimal(repr(self.settings.max_risk_per_trade))
        if Decimal(risk) > budget:
            return Denied(f"order risk ${risk} > {self.settings.max_risk_per_trade:.2%} of equity (${budget:.2f})",
                          "max_risk_per_trade")
        return None

    def _freshness(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        age, limit = ctx.quote_age_s, self.settings.max_quote_age_s
        if age is None:
            return Denied("no quote age: freshness unknown", "quote_freshness")
        if abs(age) > limit:
            what = "from the future (clock skew)" if age < 0 else "stale"
            return Denied(f"quote {what}: age {age:.1f}s, limit {limit:g}s", "quote_freshness")
        return None

    # ------------------------------------------------------------------ lessons

    def _guards(self, i: OrderIntent, ctx: RiskContext) -> Denied | None:
        for guard in self.guards:
            lesson = getattr(guard, "lesson_id", "?")
            try:
                reason = guard.check(i, ctx.trade)
            except Exception as exc:  # noqa: BLE001 - a broken guard fails closed
                return Denied(f"{lesson}: guard failed: {type(exc).__name__}: {exc}", f"lesson:{lesson}")
            if reason:
                return Denied(f"{lesson}: {reason}", f"lesson:{lesson}")
        return None


# ------------------------------------------------------------------ order shape (needs no context)

def _qty(i: OrderIntent) -> Denied | None:
    if not i.qty > 0:
        return Denied(f"order quantity {i.qty} is not positive", "qty")
    return None

def _mleg_required(i: OrderIntent) -> Denied | None:
    if (i.option_leg_count > 1 or i.legs) and i.order_class is not OrderClass.MLEG:
        return Denied(f"{i.option_leg_count}-leg order with order_class={i.order_class.value}: every multi-leg "
                      "options order must be one atomic mleg order (LL-221: no orphan legs)", "mleg_required")
    return None

def _mleg_shape(i: OrderIntent) -> Denied | None:
    if i.order_class is not OrderClass.MLEG:
        return None
    symbols = [leg.symbol for leg in i.legs]
    if not 2 <= len(symbols) <= 4:
        return Denied(f"mleg order with {len(symbols)} legs (2-4 allowed)", "mleg_shape")
    if len(set(symbols)) != len(symbols):
        return Denied("mleg order repeats a leg symbol", "mleg_shape")
    if not all(is_occ_symbol(s) for s in symbols):
        return Denied("mleg order has a leg that is not an OCC option symbol", "mleg_shape")
    if any(leg.ratio_qty < 1 for leg in i.legs):
        return Denied("mleg leg ratio below 1", "mleg_shape")
    if i.symbol or i.side is not None:
        return Denied("mleg order must not carry a top-level symbol or side", "mleg_shape")
    return None


def order_shape_denial(intent: OrderIntent) -> Denied | None:
    """Why an order may not exist in this shape (qty, LL-221 mleg rule, mleg legs), or None.

    Context-free, so the order executor applies it again right before the POST."""
    for rule in (_qty, _mleg_required, _mleg_shape):
        denied = rule(intent)
        if denied is not None:
            return denied
    return None
