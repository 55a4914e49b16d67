"""IV rank: where today's implied volatility sits in its own recent range.

``rank = (current - min) / (max - min)`` over the last ``lookback`` sessions (default 252), as a
fraction in [0, 1] (``IVRank.percent`` gives 0-100). The series is the account's own record of
the daily at-the-money implied volatility (``atm_iv`` picks it from a chain). A new account has no
such history, so while it holds fewer than ``min_history`` points the rank is *bootstrapped* from
the realized volatility of daily closes (annualised close-to-close volatility over a rolling
``rv_window``, ranked the same way). The result says which method produced it.

Pure: no clock reads, no I/O; series are ordered oldest -> newest and the last point is "now".
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from stockbot.domain import OptionQuote, OptionRight
from stockbot.options.local_greeks import quote_iv

TRADING_DAYS_PER_YEAR = 252


class IVRankMethod(str, enum.Enum):
    IMPLIED = "implied"  # ranked over the recorded ATM implied-volatility series
    REALIZED = "realized"  # bootstrapped: ranked over rolling realized volatility of closes
    NONE = "none"  # not enough data for either: value is None (callers must fail closed)


@dataclass(frozen=True, slots=True)
class IVRank:
    """An IV rank and how it was obtained. ``value`` is in [0, 1] or None (method NONE)."""

    value: float | None
    method: IVRankMethod
    current: float | None = None  # the volatility being ranked (IV or realized), annualised
    low: float | None = None
    high: float | None = None
    samples: int = 0  # points in the ranking window
    reason: str = ""

    @property
    def percent(self) -> float | None:
        """The rank on the 0-100 scale traders quote ("IV rank 45")."""
        return None if self.value is None else 100.0 * self.value


def _clean(values: Iterable[float | Decimal | None]) -> list[float]:
    out = []
    for v in values:
        if v is None:
            continue
        f = float(v)
        if math.isfinite(f) and f > 0:
            out.append(f)
    return out


def rank_in_range(current: float, window: Sequence[float]) -> float:
    """``(current - min) / (max - min)`` clipped to [0, 1]; 0.5 when the range is flat."""
    lo, hi = min(window), max(window)
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        return 0.5
    return min(1.0, max(0.0, (current - lo) / (hi - lo)))


def rolling_realized_vol(closes: Sequence[float | Decimal], window: int = 20,
                         periods_per_year: int = TRADING_DAYS_PER_YEAR) -> list[float]:
    """Annualised close-to-close volatility of log returns over each rolling ``window``.

    Element i uses the ``window`` returns ending at close ``i + window``; the list is empty when
    there are fewer than ``window + 1`` closes. Non-positive closes are refused (ValueError).
    """
    if window < 2:
        raise ValueError("window must be >= 2")
    px = [float(c) for c in closes]
    if any(not (p > 0 and math.isfinite(p)) for p in px):
        raise ValueError("closes must be positive finite numbers")
    rets = [math.log(b / a) for a, b in zip(px, px[1:])]
    out: list[float] = []
    scale = math.sqrt(periods_per_year)
    for end in range(window, len(rets) + 1):
        chunk = rets[end - window:end]
        mean = sum(chunk) / window
        var = sum((r - mean) ** 2 for r in chunk) / (window - 1)
        out.append(math.sqrt(var) * scale)
    return out


def realized_vol(closes: Sequence[float | Decimal], window: int = 20,
                 periods_per_year: int = TRADING_DAYS_PER_YEAR) -> float | None:
    """The latest annualised realized volatility, or None with fewer than window+1 closes."""
    series = rolling_realized_vol(closes, window, periods_per_year)
    return series[-1] if series else None


def iv_rank(iv_history: Sequence[float | Decimal | None], closes: Sequence[float | Decimal] = (), *,
            lookback: int = TRADING_DAYS_PER_YEAR, min_history: int = 60, rv_window: int = 20) -> IVRank:
    """IV rank of the last point of ``iv_history`` over the last ``lookback`` points.

    With fewer than ``min_history`` valid IV points, falls back to ranking the latest rolling
    realized volatility of ``closes`` over its last ``lookback`` values (needs at least
    ``rv_window + 2`` closes, i.e. two realized values); otherwise method NONE and value None.
    Missing / non-positive IV points (None, 0, NaN) are skipped.
    """
    if lookback < 2 or min_history < 2:
        raise ValueError("lookback and min_history must be >= 2")
    ivs = _clean(iv_history)[-lookback:]
    if len(ivs) >= min_history:
        cur = ivs[-1]
        return IVRank(rank_in_range(cur, ivs), IVRankMethod.IMPLIED, cur, min(ivs), max(ivs), len(ivs),
                      f"{len(ivs)} recorded ATM IV points")
    try:
        rv = rolling_realized_vol(closes, rv_window)[-lookback:]
    except ValueError as exc:
        return IVRank(None, IVRankMethod.NONE, reason=f"bad closes: {exc}")
    if len(rv) >= 2:
        cur = rv[-1]
        return IVRank(rank_in_range(cur, rv), IVRankMethod.REALIZED, cur, min(rv), max(rv), len(rv),
                      f"bootstrapped from {rv_window}-day realized volatility: only {len(ivs)} IV points "
                      f"(< {min_history})")
    return IVRank(None, IVRankMethod.NONE,
                  reason=f"only {len(ivs)} IV points (< {min_history}) and {len(closes)} closes "
                         f"(< {rv_window + 2})")


def atm_iv(chain: Sequence[OptionQuote], spot: float | Decimal, today: date,
           target_dte: int = 30) -> float | None:
    """The at-the-money implied volatility to record for the day.

    Picks the expiration whose days-to-expiration is nearest ``target_dte`` (ties: the later one),
    the strike nearest ``spot`` among those with an IV, and averages the call's and put's IV at that
    strike (either alone if only one has an IV). None if no quote in the chain has a usable IV.
    An IV the feed left out is implied from the quote's mid (local_greeks.quote_iv, rate 0).
    """
    s = float(spot)
    if not s > 0:
        return None
    usable = []
    for q in chain:
        days = (q.contract.expiration - today).days
        if days <= 0:
            continue
        iv = quote_iv(q, s, days / 365.0)
        if iv is not None and math.isfinite(iv) and iv > 0:
            usable.append(q if iv == q.iv else replace(q, iv=iv))
    if not usable:
        return None
    expirations = {q.contract.expiration for q in usable}
    exp = min(expirations, key=lambda e: (abs((e - today).days - target_dte), -(e - today).days))
    rows = [q for q in usable if q.contract.expiration == exp]
    strike = min({q.contract.strike for q in rows}, key=lambda k: (abs(float(k) - s), float(k)))
    ivs = [q.iv for q in rows if q.iv is not None and q.contract.strike == strike
           and q.contract.right in (OptionRight.CALL, OptionRight.PUT)]
    return sum(ivs) / len(ivs) if ivs else None
