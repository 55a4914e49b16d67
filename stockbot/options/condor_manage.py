"""Pricing, sizing and management decisions for an open iron condor. Pure.

Sign convention (the one place it is spelled out): internally a *credit* is a positive amount of
money received per share and a *debit* a positive amount paid. The ladders return **Alpaca mleg
limit prices**, ready for ``OrderIntent.limit_price``: negative = credit, positive = debit.
So opening a condor with a $1.20 credit is ``limit_price = Decimal("-1.20")``, and closing it for
a $0.60 debit is ``limit_price = Decimal("0.60")``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from stockbot.config import CondorSettings
from stockbot.options.condor import CONTRACT_MULTIPLIER, IronCondor
from stockbot.options.dates import days_to_expiration

CENT = Decimal("0.01")


def _d(x: Decimal | int | float | str) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(repr(x) if isinstance(x, float) else str(x))


def price_ladder(credit_mid: Decimal, credit_natural: Decimal, step: Decimal, max_steps: int, *,
                 min_credit: Decimal | None = None) -> list[Decimal]:
    """Limit prices (mleg sign: credit negative) from the mid credit toward the natural credit.

    Rung i is ``credit_mid - i * step`` for i = 0..max_steps, rounded to the cent toward the
    natural price but never past it; the ladder stops at the natural credit (so it has at most
    ``max_steps + 1`` distinct rungs, first = mid). Rungs whose credit is below ``min_credit``
    are dropped (an empty list means: do not trade). When the natural is not worse than the mid
    (locked quotes) the ladder is the single natural/mid price. ``step`` must be > 0.

    Example: mid 1.23, natural 1.05, step 0.05, 4 steps -> [-1.23, -1.18, -1.13, -1.08, -1.05]
    (the last rung, 1.03, is clipped to the natural 1.05).
    """
    mid, nat, step = _d(credit_mid), _d(credit_natural), _d(step)
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    if max_steps < 0:
        raise ValueError(f"max_steps must be >= 0, got {max_steps}")
    nat_c = nat.quantize(CENT, rounding=ROUND_CEILING)  # natural rounded toward the mid
    credits: list[Decimal] = []
    if nat_c >= mid:
        credits = [max(mid.quantize(CENT, rounding=ROUND_FLOOR), nat.quantize(CENT, rounding=ROUND_FLOOR))]
    else:
        for i in range(max_steps + 1):
            c = max((mid - i * step).quantize(CENT, rounding=ROUND_FLOOR), nat_c)
            if not credits or c != credits[-1]:
                credits.append(c)
            if c == nat_c:
                break
    if min_credit is not None:
        credits = [c for c in credits if c >= _d(min_credit)]
    return [_limit(-c) for c in credits]


def closing_price_ladder(debit_mid: Decimal, debit_natural: Decimal, step: Decimal, max_steps: int, *,
                         max_debit: Decimal | None = None) -> list[Decimal]:
    """Limit prices (mleg sign: debit positive) from the mid debit up toward the natural debit.

    Same rules as ``price_ladder`` mirrored: rounded up to the cent, never above the natural
    debit; rungs above ``max_debit`` are dropped.
    """
    min_credit = None if max_debit is None else -_d(max_debit)
    return price_ladder(-_d(debit_mid), -_d(debit_natural), step, max_steps, min_credit=min_credit)


def _limit(x: Decimal) -> Decimal:
    return Decimal("0.00") if x == 0 else x.quantize(CENT)


def contracts_for(max_loss_per_contract: Decimal, equity: Decimal, max_risk_share: float = 0.05,
                  validation_open: bool = True) -> int:
    """How many contracts fit the risk budget ``equity x max_risk_share``.

    ``floor(budget / max_loss_per_contract)``; 0 if even one contract exceeds the budget, if the
    max loss is not positive (bad data fails closed) or equity is not positive; at most 1 while
    the paper-validation gate is still open (``validation_open=True``).
    """
    loss, eq = _d(max_loss_per_contract), _d(equity)
    if loss <= 0 or eq <= 0 or max_risk_share <= 0:
        return 0
    n = int((eq * _d(max_risk_share)) // loss)
    n = max(n, 0)
    return min(n, 1) if validation_open else n


# --------------------------------------------------------------------------- management


class CloseReason(str, enum.Enum):
    EXPIRATION = "expiration"  # expiration day (or later) reached: never hold into it
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TIME_EXIT = "time_exit"  # DTE floor reached


@dataclass(frozen=True, slots=True)
class Hold:
    detail: str = ""

    close = False


@dataclass(frozen=True, slots=True)
class Close:
    reason: CloseReason
    detail: str = ""

    close = True


def manage_decision(condor: IronCondor, current_debit_to_close: Decimal | None, now: datetime,
                    settings: CondorSettings, *, entry_credit: Decimal | None = None) -> Hold | Close:
    """Hold or close an open condor. First rule that fires wins, in this order:

    1. expiration: DTE <= 0 (New York date on or after expiration) -> Close(EXPIRATION).
    2. stop loss: loss >= stop_loss_mult x credit, i.e. debit_to_close >= credit x (1 + mult).
       With the default 2.0 and a 1.00 credit: close when it costs 3.00 to close (a 2.00 loss).
    3. take profit: profit >= take_profit_pct x credit, i.e. debit <= credit x (1 - pct).
    4. time exit: DTE <= max(exit_dte, 1) -> Close(TIME_EXIT), so a condor is never carried into
       expiration day even with exit_dte = 0.
    ``credit`` is ``entry_credit`` if given, else ``condor.credit`` (the fill, else the mid).
    A missing/negative debit (no quotes) skips the price rules; time rules still apply.
    """
    credit = _d(entry_credit) if entry_credit is not None else condor.credit
    dte = days_to_expiration(condor.expiration, now)
    if dte <= 0:
        return Close(CloseReason.EXPIRATION, f"DTE {dte}: expiration day reached")
    debit = None if current_debit_to_close is None else _d(current_debit_to_close)
    if debit is not None and debit >= 0 and credit > 0:
        stop_at = credit * (1 + _d(settings.stop_loss_mult))
        if debit >= stop_at:
            return Close(CloseReason.STOP_LOSS, f"debit {debit} >= {stop_at} (loss {debit - credit} >= "
                         f"{settings.stop_loss_mult:g} x credit {credit})")
        take_at = credit * (1 - _d(settings.take_profit_pct))
        if debit <= take_at:
            return Close(CloseReason.TAKE_PROFIT, f"debit {debit} <= {take_at} (profit {credit - debit} >= "
                         f"{settings.take_profit_pct:.0%} of credit {credit})")
    floor = max(settings.exit_dte, 1)
    if dte <= floor:
        return Close(CloseReason.TIME_EXIT, f"DTE {dte} <= exit floor {floor}")
    if debit is None or debit < 0:
        return Hold(f"DTE {dte}; no usable debit to close, price rules skipped")
    pnl = (credit - debit) * CONTRACT_MULTIPLIER
    return Hold(f"DTE {dte}; debit {debit} vs credit {credit} (P&L {pnl:+.2f}/contract)")
