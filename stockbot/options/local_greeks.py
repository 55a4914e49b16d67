"""Delta and implied volatility for quotes the feed sent without them.

Alpaca's option snapshots leave out ``greeks`` and ``impliedVolatility`` for some contracts (deep in
the money, no bid, no trades; see ALPACA_NOTES.md). Every consumer of a chain falls back the same
way, in this order:

1. the feed's value;
2. delta from the feed's IV (Black-Scholes at the quote's time to expiry);
3. IV implied by the quote's mid (``pricing.implied_vol``, bracketed Newton), then delta from it.

Step 3 needs a two-sided quote (bid > 0, ask >= bid) and time left (t > 0): a one-sided mid implies
nothing, so such a quote stays without a delta/IV and callers skip it (fail closed).
Pure: no clock reads; time to expiry is New York calendar days / 365, as the condor builder uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import TypeGuard

from stockbot.domain import OptionQuote
from stockbot.options.pricing import bs_greeks, implied_vol


def _usable(x: float | None) -> TypeGuard[float]:
    return x is not None and math.isfinite(x)


def quote_iv(q: OptionQuote, spot: float, t: float, rate: float = 0.0) -> float | None:
    """The feed's IV, else the vol implied by the quote's mid; None if neither exists."""
    if _usable(q.iv) and q.iv > 0:
        return q.iv
    if t <= 0 or not spot > 0 or q.bid <= 0 or q.ask < q.bid:
        return None
    iv = implied_vol(float(q.mid), spot, float(q.contract.strike), t, rate, q.contract.right)
    return iv if iv is not None and iv > 0 else None


def quote_delta(q: OptionQuote, spot: float, t: float, rate: float = 0.0) -> float | None:
    """The feed's delta, else Black-Scholes delta at :func:`quote_iv`; None if there is no IV."""
    if _usable(q.delta):
        return q.delta
    iv = quote_iv(q, spot, t, rate)
    if iv is None or t <= 0:
        return None
    return bs_greeks(spot, float(q.contract.strike), t, iv, rate, q.contract.right).delta


def with_local_greeks(chain: Iterable[OptionQuote], spot: Decimal | float, now: datetime,
                      rate: float = 0.0) -> tuple[OptionQuote, ...]:
    """The chain with a missing delta / IV filled in where the quote allows (else left None)."""
    from stockbot.options.dates import days_to_expiration

    s = float(spot)
    out = []
    for q in chain:
        if _usable(q.delta) and _usable(q.iv):
            out.append(q)
            continue
        t = max(days_to_expiration(q.contract.expiration, now), 0) / 365.0
        out.append(replace(q, iv=quote_iv(q, s, t, rate), delta=quote_delta(q, s, t, rate)))
    return tuple(out)
