"""Black-Scholes-Merton prices, greeks and implied volatility for European options.

Pure float math (``math.erf``/``erfc``, no scipy) because the local exchange prices whole chains
with it on every quote. Conventions:

- ``t_years``: time to expiration in years (calendar days / 365). ``t <= 0`` -> intrinsic value
  on the spot, greeks are the expiry limits (delta 1/0/-1, 0.5 at the money; the rest 0).
- ``vol``, ``rate`` and the continuous dividend yield ``q`` are annual decimals (0.20 = 20%).
  ``vol == 0`` (or a vanishing ``vol * sqrt(t)``) -> the deterministic limit: discounted forward
  intrinsic ``max(S e^-qT - K e^-rT, 0)`` for a call.
- Greeks: ``delta`` per $1 of spot, ``gamma`` per $1 of spot, ``theta`` per *calendar day*
  (annual theta / 365, negative for a long option as time passes), ``vega`` per 1 vol point
  (a 0.01 change in ``vol``), ``rho`` per 1 rate point (a 0.01 change in ``rate``).
- Bad inputs (spot or strike <= 0, vol < 0, NaN) raise ValueError; those are programming faults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stockbot.domain import OptionRight

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_DAYS_PER_YEAR = 365.0
_TINY_STDEV = 1e-12  # vol*sqrt(t) below this is treated as the zero-vol limit


@dataclass(frozen=True, slots=True)
class Greeks:
    """Sensitivities of one option (see the module docstring for the units)."""

    delta: float
    gamma: float
    theta: float
    vega: float
    rho: float


def norm_cdf(x: float) -> float:
    """Standard normal CDF; ``erfc`` keeps precision far in the left tail."""
    return 0.5 * math.erfc(-x / _SQRT2)


def norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _is_call(right: OptionRight | str) -> bool:
    if right is OptionRight.CALL or right == "call":
        return True
    if right is OptionRight.PUT or right == "put":
        return False
    raise ValueError(f"invalid option right {right!r}")


def _check(spot: float, strike: float, vol: float) -> None:
    if not (spot > 0 and math.isfinite(spot)):
        raise ValueError(f"spot must be a positive finite number, got {spot!r}")
    if not (strike > 0 and math.isfinite(strike)):
        raise ValueError(f"strike must be a positive finite number, got {strike!r}")
    if not (vol >= 0 and math.isfinite(vol)):
        raise ValueError(f"vol must be a finite number >= 0, got {vol!r}")


def _terms(spot: float, strike: float, t: float, vol: float, rate: float,
           q: float) -> tuple[float, float, float, float, float, float]:
    """Return (S e^-qT, K e^-rT, N(d1), N(d2), n(d1), sigma*sqrt(T)) for t > 0.

    In the zero-stdev limit N(d1) = N(d2) = 1 if the option's forward is in the money, 0 if out,
    0.5 exactly at the forward, and n(d1) = 0 (so gamma and vega vanish).
    """
    s_disc = spot * math.exp(-q * t)
    k_disc = strike * math.exp(-rate * t)
    stdev = vol * math.sqrt(t)
    if stdev < _TINY_STDEV:
        ind = 1.0 if s_disc > k_disc else 0.0 if s_disc < k_disc else 0.5
        return s_disc, k_disc, ind, ind, 0.0, stdev
    d1 = (math.log(spot / strike) + (rate - q) * t) / stdev + 0.5 * stdev
    d2 = d1 - stdev
    return s_disc, k_disc, norm_cdf(d1), norm_cdf(d2), norm_pdf(d1), stdev


def bs_price(spot: float, strike: float, t_years: float, vol: float, rate: float,
             right: OptionRight, q: float = 0.0) -> float:
    """Black-Scholes-Merton price of a European call or put (per share, not per contract)."""
    spot, strike, t, vol, rate, q = (float(spot), float(strike), float(t_years), float(vol),
                                     float(rate), float(q))
    _check(spot, strike, vol)
    call = _is_call(right)
    if t <= 0:
        return max(spot - strike, 0.0) if call else max(strike - spot, 0.0)
    s_disc, k_disc, nd1, nd2, _, _ = _terms(spot, strike, t, vol, rate, q)
    if call:
        price = s_disc * nd1 - k_disc * nd2
    else:
        price = k_disc * (1.0 - nd2) - s_disc * (1.0 - nd1)
    return max(price, 0.0)  # rounding can dip a hair below zero far out of the money


def bs_greeks(spot: float, strike: float, t_years: float, vol: float, rate: float,
              right: OptionRight, q: float = 0.0) -> Greeks:
    """Greeks of a European option: theta per calendar day, vega and rho per 0.01."""
    spot, strike, t, vol, rate, q = (float(spot), float(strike), float(t_years), float(vol),
                                     float(rate), float(q))
    _check(spot, strike, vol)
    call = _is_call(right)
    if t <= 0:
        if spot == strike:
            delta = 0.5 if call else -0.5
        elif call:
            delta = 1.0 if spot > strike else 0.0
        else:
            delta = -1.0 if spot < strike else 0.0
        return Greeks(delta=delta, gamma=0.0, theta=0.0, vega=0.0, rho=0.0)
    s_disc, k_disc, nd1, nd2, pd1, stdev = _terms(spot, strike, t, vol, rate, q)
    sqrt_t = math.sqrt(t)
    if pd1 > 0.0:
        gamma = s_disc * pd1 / (spot * spot * stdev)
        vega = s_disc * pd1 * sqrt_t
        decay = -s_disc * pd1 * vol / (2.0 * sqrt_t)
    else:
        gamma = vega = decay = 0.0
    if call:
        delta = math.exp(-q * t) * nd1
        theta_y = decay - rate * k_disc * nd2 + q * s_disc * nd1
        rho = k_disc * t * nd2
    else:
        delta = math.exp(-q * t) * (nd1 - 1.0)
        theta_y = decay + rate * k_disc * (1.0 - nd2) - q * s_disc * (1.0 - nd1)
        rho = -k_disc * t * (1.0 - nd2)
    return Greeks(delta=delta, gamma=gamma, theta=theta_y / _DAYS_PER_YEAR,
                  vega=vega / 100.0, rho=rho / 100.0)


def price_bounds(spot: float, strike: float, t_years: float, rate: float, right: OptionRight,
                 q: float = 0.0) -> tuple[float, float]:
    """No-arbitrage (lower, upper) bounds of a European option price (vol 0 and vol infinity)."""
    t = max(float(t_years), 0.0)
    s_disc = float(spot) * math.exp(-float(q) * t)
    k_disc = float(strike) * math.exp(-float(rate) * t)
    if _is_call(right):
        return max(s_disc - k_disc, 0.0), s_disc
    return max(k_disc - s_disc, 0.0), k_disc


def implied_vol(price: float, spot: float, strike: float, t_years: float, rate: float,
                right: OptionRight, q: float = 0.0, *, vol_max: float = 10.0,
                tol: float = 1e-10, max_iter: int = 100) -> float | None:
    """The volatility at which ``bs_price`` equals ``price``; None when there is none.

    None when: ``t <= 0`` (vol is not identifiable at expiry), the price is below the
    no-arbitrage lower bound (the discounted intrinsic), at or above the upper bound, not finite,
    or needs more than ``vol_max``. A price equal to the lower bound returns 0.0.
    Safeguarded Newton: Newton steps on vega inside a shrinking bracket [lo, hi], bisection
    whenever Newton would leave it or stalls, so it always converges on a bracketed root.
    """
    try:
        price, spot, strike, t, rate, q = (float(price), float(spot), float(strike),
                                           float(t_years), float(rate), float(q))
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(x) for x in (price, spot, strike, t, rate, q)):
        return None
    if spot <= 0 or strike <= 0 or t <= 0 or price < 0:
        return None
    lower, upper = price_bounds(spot, strike, t, rate, right, q)
    eps = 1e-12 * max(1.0, spot, strike)
    if price < lower - eps or price >= upper:
        return None
    if price <= lower + eps:
        return 0.0

    def f(v: float) -> float:
        return bs_price(spot, strike, t, v, rate, right, q) - price

    lo, hi = 0.0, vol_max
    if f(hi) < 0:
        return None
    # Brenner-Subrahmanyam start (good near the money), kept strictly inside the bracket.
    v = math.sqrt(2.0 * math.pi / t) * price / spot
    v = min(max(v, 1e-4), vol_max * 0.5)
    for _ in range(max_iter):
        diff = f(v)
        if abs(diff) <= tol * max(1.0, price):
            return v
        if diff > 0:
            hi = v
        else:
            lo = v
        if hi - lo <= 1e-14:
            return 0.5 * (lo + hi)
        vega = bs_greeks(spot, strike, t, v, rate, right, q).vega * 100.0
        step_ok = False
        if vega > 1e-14:
            nv = v - diff / vega
            if lo < nv < hi:
                v, step_ok = nv, True
        if not step_ok:
            v = 0.5 * (lo + hi)
    return v if abs(f(v)) <= 1e-6 * max(1.0, price) else None
