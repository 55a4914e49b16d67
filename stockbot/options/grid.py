"""Strike-grid helpers shared by the condor builder and the parameter snapper. Pure.

Their own module so that ``condor`` (the builder) and ``snap`` (which builds on ``condor``'s
types) both import them without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from stockbot.domain import OptionQuote, OptionRight


def nearest(values: Sequence[Decimal], target: Decimal) -> Decimal | None:
    """The value nearest ``target``; ties go to the smaller one (None when there are none)."""
    return min(values, key=lambda v: (abs(v - target), v)) if values else None


def common_wing_widths(rows: Sequence[OptionQuote], short_call: Decimal, short_put: Decimal) -> list[Decimal]:
    """Widths with a listed wing on both sides of these shorts (one expiration's rows)."""
    calls = {q.contract.strike - short_call for q in rows
             if q.contract.right is OptionRight.CALL and q.contract.strike > short_call}
    puts = {short_put - q.contract.strike for q in rows
            if q.contract.right is OptionRight.PUT and q.contract.strike < short_put}
    return sorted(calls & puts)


__all__ = ["common_wing_widths", "nearest"]
