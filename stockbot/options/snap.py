"""Snap aggregated condor parameters to what the chain lists. Pure.

The consensus takes the median of the agents' proposals, and a median need not exist on the
exchange: wing widths 5 and 10 give 7.5, DTEs 20 and 50 can give a window with no expiration in
it. ``snap_params`` moves each parameter to the nearest value the chain can fill (ties go to the
smaller width, the nearer expiration: the less risky side), so the builder is asked for a condor
that exists instead of refusing one that cannot. What was snapped is listed in ``clamped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal

from stockbot.config import CondorSettings
from stockbot.domain import OptionQuote, OptionRight
from stockbot.options.condor import CondorParams
from stockbot.options.dates import days_to_expiration
from stockbot.options.grid import nearest

WING_REGION = Decimal("0.25")  # strikes within 25% of spot: where shorts and wings of a condor sit


def listed_dtes(chain: Sequence[OptionQuote], underlying: str, now: datetime) -> list[int]:
    return sorted({days_to_expiration(q.contract.expiration, now) for q in chain
                   if q.contract.underlying == underlying})


def listed_widths(chain: Sequence[OptionQuote], underlying: str, spot: Decimal, now: datetime,
                  dte_range: tuple[int, int]) -> list[Decimal]:
    """Every distance between two listed strikes of one expiration and right near spot."""
    lo, hi = spot * (1 - WING_REGION), spot * (1 + WING_REGION)
    groups: dict[tuple[date, OptionRight], set[Decimal]] = {}
    for q in chain:
        c = q.contract
        if c.underlying != underlying or not lo <= c.strike <= hi:
            continue
        if not dte_range[0] <= days_to_expiration(c.expiration, now) <= dte_range[1]:
            continue
        groups.setdefault((c.expiration, c.right), set()).add(c.strike)
    widths: set[Decimal] = set()
    for strikes in groups.values():
        ks = sorted(strikes)
        widths.update(b - a for i, a in enumerate(ks) for b in ks[i + 1:])
    return sorted(widths)


def snap_params(params: CondorParams, chain: Sequence[OptionQuote], spot: Decimal, now: datetime,
                settings: CondorSettings) -> CondorParams:
    """``params`` moved onto the chain's expirations and strike grid (see the module docstring)."""
    notes = list(params.clamped)
    dmin, dmax = params.dte_min, params.dte_max
    dtes = [d for d in listed_dtes(chain, settings.underlying, now)
            if settings.dte_bounds[0] <= d <= settings.dte_bounds[1]]
    if dtes and not any(dmin <= d <= dmax for d in dtes):
        # Outside the window, the expiration nearest to it (ties: the earlier one).
        pick = min(dtes, key=lambda d: (dmin - d if d < dmin else d - dmax, d))
        notes.append(f"dte window [{dmin}, {dmax}] has no listed expiration; snapped to {pick} DTE")
        dmin = dmax = pick
    width = params.wing_width
    lo, hi = (Decimal(str(b)) for b in settings.width_bounds)
    widths = [w for w in listed_widths(chain, settings.underlying, Decimal(spot), now, (dmin, dmax)) if lo <= w <= hi]
    if widths and width not in widths:
        snapped = nearest(widths, width)
        if snapped is not None:  # always: widths is not empty
            notes.append(f"wing_width {width} is not on the strike grid; snapped to {snapped}")
            width = snapped
    return replace(params, wing_width=width, dte_min=dmin, dte_max=dmax, clamped=tuple(notes))
