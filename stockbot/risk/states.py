"""Trading states of one account and the pure function that picks the state.

- ACTIVE: normal trading.
- REDUCING: only closing orders (and cancels). Automatic and self-clearing: a loss limit hit
  today/this week, or the account is out of capital (no buying power for a new position —
  "out of capital", not "crashed"; it clears when the account is re-funded).
- HALTED: only closing orders (and cancels) too, but it needs a person: the operator's STOP flag,
  or equity at/below the configured floor. The daemon alerts and does not resume on its own.

The state is recomputed from current facts every time (no hidden memory), so a new trading day or
week clears a loss-limit REDUCING by itself once the caller passes the new start-of-day equity.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal

from stockbot.config import RiskSettings


class TradingState(str, enum.Enum):
    ACTIVE = "ACTIVE"
    REDUCING = "REDUCING"
    HALTED = "HALTED"

    @property
    def allows_opening(self) -> bool:
        return self is TradingState.ACTIVE


@dataclass(frozen=True, slots=True)
class StateInputs:
    """Facts the state depends on (computed by ``state_inputs`` or by the caller)."""

    stop_flag: bool = False
    daily_loss_breached: bool = False
    weekly_loss_breached: bool = False
    floor_breached: bool = False
    out_of_capital: bool = False


@dataclass(frozen=True, slots=True)
class StateDecision:
    state: TradingState
    reasons: tuple[str, ...] = ()
    changed: bool = False  # differs from the ``previous`` state given to ``transition``


def loss_share(start_equity: Decimal | float, equity: Decimal | float) -> float | None:
    """Loss since ``start_equity`` as a share of it (negative = gain); None if start <= 0."""
    start, now = Decimal(str(start_equity)), Decimal(str(equity))
    if start <= 0:
        return None
    return float((start - now) / start)


def loss_limit_breached(start_equity: Decimal | float, equity: Decimal | float, limit: float) -> bool:
    """True when the loss since ``start_equity`` reaches ``limit`` (a share, e.g. 0.03).

    A limit of 1.0 (100%) or more disables the check entirely (deliberately aggressive paper
    accounts). An unknown/non-positive start equity counts as breached (fail closed).
    """
    if limit >= 1.0:
        return False
    share = loss_share(start_equity, equity)
    return True if share is None else share >= limit


def state_inputs(settings: RiskSettings, *, stop_flag: bool, equity: Decimal, start_of_day_equity: Decimal,
                 start_of_week_equity: Decimal, out_of_capital: bool = False) -> StateInputs:
    """Compute the breach flags from equity numbers with the account's RiskSettings.

    The floor is breached when ``equity <= equity_floor`` (so with the default floor 0 an account
    with no equity left is halted).
    """
    return StateInputs(
        stop_flag=stop_flag,
        daily_loss_breached=loss_limit_breached(start_of_day_equity, equity, settings.daily_loss_limit),
        weekly_loss_breached=loss_limit_breached(start_of_week_equity, equity, settings.weekly_loss_limit),
        floor_breached=Decimal(equity) <= Decimal(settings.equity_floor),
        out_of_capital=out_of_capital,
    )


def transition(inputs: StateInputs, previous: TradingState | None = None) -> StateDecision:
    """The state for ``inputs``: HALTED beats REDUCING beats ACTIVE; every cause is a reason."""
    halted = []
    reducing = []
    if inputs.stop_flag:
        halted.append("stop_flag: operator STOP file present")
    if inputs.floor_breached:
        halted.append("equity_floor: equity at or below the floor")
    if inputs.daily_loss_breached:
        reducing.append("daily_loss_limit reached")
    if inputs.weekly_loss_breached:
        reducing.append("weekly_loss_limit reached")
    if inputs.out_of_capital:
        reducing.append("out_of_capital: no buying power for a new position")
    if halted:
        state = TradingState.HALTED
    elif reducing:
        state = TradingState.REDUCING
    else:
        state = TradingState.ACTIVE
    return StateDecision(state, tuple(halted + reducing), previous is not None and previous is not state)
