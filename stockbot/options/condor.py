"""Iron condors from an option chain: parameters, builder, leg structure, closing legs.

An iron condor here is always the whole four-leg structure, sent as ONE ``mleg`` order (LL-221):
sell an OTM call and an OTM put near a target |delta|, buy wings ``width`` dollars further out.
Prices are per share (x100 per contract); a *credit* is positive money received. On the wire an
mleg ``limit_price`` is positive for a debit and negative for a credit (see ``condor_intent``).

Refusals are values (``CondorRefusal``), never exceptions: a bad chain is a market fact, not a
fault. Pure: the clock arrives as ``now``; days-to-expiration count New York calendar days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from stockbot.config import CondorSettings
from stockbot.domain import (AssetClass, Leg, OptionQuote, OptionRight, OrderClass, OrderIntent, OrderPurpose,
                             PositionIntent, Side)
from stockbot.options.dates import days_to_expiration
from stockbot.options.grid import common_wing_widths, nearest
from stockbot.options.local_greeks import quote_delta
from stockbot.options.occ import parse_occ

NY = ZoneInfo("America/New_York")
CONTRACT_MULTIPLIER = 100
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True, slots=True)
class CondorParams:
    """Builder parameters after clamping; ``clamped`` lists what was changed and why."""

    short_delta: float
    wing_width: Decimal
    dte_min: int
    dte_max: int
    clamped: tuple[str, ...] = ()


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, InvalidOperation):
        return None
    return f if math.isfinite(f) else None


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def clamp_params(proposed: Mapping[str, Any] | None, settings: CondorSettings) -> CondorParams:
    """Turn a consensus proposal into bounded builder parameters.

    Keys read (others ignored): ``short_delta`` (alias ``delta``; sign ignored), ``wing_width``
    (alias ``width``), ``dte_min``/``dte_max`` or a single target ``dte`` (a window of the
    settings' span centred on it). Missing or non-numeric values take the settings' defaults;
    everything is clamped to ``delta_bounds``, ``width_bounds``, ``dte_bounds``; the width is
    rounded down to whole cents and ``dte_min <= dte_max`` is enforced.
    """
    p = dict(proposed or {})
    notes: list[str] = []
    d_lo, d_hi = settings.delta_bounds
    w_lo, w_hi = settings.width_bounds
    t_lo, t_hi = settings.dte_bounds

    raw = _num(p.get("short_delta", p.get("delta")))
    delta = settings.short_delta if raw is None else abs(raw)
    if _clip(delta, d_lo, d_hi) != delta:
        notes.append(f"short_delta {delta:g} clamped to [{d_lo:g}, {d_hi:g}]")
        delta = _clip(delta, d_lo, d_hi)

    raw = _num(p.get("wing_width", p.get("width")))
    width = settings.wing_width if raw is None else Decimal(repr(raw))
    if width < w_lo or width > w_hi:
        notes.append(f"wing_width {width} clamped to [{w_lo}, {w_hi}]")
        width = min(max(width, w_lo), w_hi)
    width = width.quantize(CENT, rounding=ROUND_FLOOR)

    lo, hi = _num(p.get("dte_min")), _num(p.get("dte_max"))
    target = _num(p.get("dte"))
    if lo is None and hi is None and target is not None:
        half = (settings.dte_max - settings.dte_min) / 2
        lo, hi = target - half, target + half
    dmin = settings.dte_min if lo is None else int(math.floor(lo))
    dmax = settings.dte_max if hi is None else int(math.ceil(hi))
    for name, v in (("dte_min", dmin), ("dte_max", dmax)):
        if not t_lo <= v <= t_hi:
            notes.append(f"{name} {v} clamped to [{t_lo}, {t_hi}]")
    dmin, dmax = int(_clip(dmin, t_lo, t_hi)), int(_clip(dmax, t_lo, t_hi))
    if dmin > dmax:
        notes.append(f"dte window [{dmin}, {dmax}] inverted; swapped")
        dmin, dmax = dmax, dmin
    return CondorParams(short_delta=delta, wing_width=width, dte_min=dmin, dte_max=dmax, clamped=tuple(notes))


# --------------------------------------------------------------------------- value types


@dataclass(frozen=True, slots=True)
class CondorRefusal:
    """Why no condor was built. ``code`` is stable for tests and metrics; ``reason`` is for humans."""

    code: str  # empty_chain | bad_spot | no_expiration | no_short_strike | missing_wing |
    #            crossed_quote | empty_quote | wide_spread | low_credit | bad_quotes
    reason: str

    ok = False


@dataclass(frozen=True, slots=True)
class IronCondor:
    """One iron condor (per-share prices; ``max_loss`` is $ per contract).

    ``legs`` are in the order short call, long call, short put, long put, with opening intents
    (sell_to_open shorts, buy_to_open wings), ratio 1 each. ``entry_credit`` is the credit actually
    filled (set with ``with_fill``); until then ``credit`` is ``credit_mid``.
    """

    underlying: str
    expiration: date
    legs: tuple[Leg, Leg, Leg, Leg]
    long_put_strike: Decimal
    short_put_strike: Decimal
    short_call_strike: Decimal
    long_call_strike: Decimal
    width: Decimal
    credit_mid: Decimal
    credit_natural: Decimal
    max_loss: Decimal
    breakevens: tuple[Decimal, Decimal]
    dte: int | None = None
    spot: Decimal | None = None
    short_call_delta: float | None = None
    short_put_delta: float | None = None
    entry_credit: Decimal | None = None

    ok = True

    @property
    def short_call(self) -> Leg:
        return self.legs[0]

    @property
    def long_call(self) -> Leg:
        return self.legs[1]

    @property
    def short_put(self) -> Leg:
        return self.legs[2]

    @property
    def long_put(self) -> Leg:
        return self.legs[3]

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(leg.symbol for leg in self.legs)

    @property
    def credit(self) -> Decimal:
        """The credit the position is managed against: the fill if known, else the mid."""
        return self.entry_credit if self.entry_credit is not None else self.credit_mid

    @property
    def max_profit(self) -> Decimal:
        """$ per contract if every leg expires worthless."""
        return (self.credit * CONTRACT_MULTIPLIER).quantize(CENT)


def _max_loss(width: Decimal, credit: Decimal) -> Decimal:
    return ((width - credit) * CONTRACT_MULTIPLIER).quantize(CENT)


def _breakevens(short_put: Decimal, short_call: Decimal, credit: Decimal) -> tuple[Decimal, Decimal]:
    return short_put - credit, short_call + credit


def with_fill(condor: IronCondor, entry_credit: Decimal) -> IronCondor:
    """The same condor with its actual fill credit; max loss and breakevens follow the fill."""
    c = Decimal(entry_credit)
    return replace(condor, entry_credit=c, max_loss=_max_loss(condor.width, c),
                   breakevens=_breakevens(condor.short_put_strike, condor.short_call_strike, c))


def _legs(sc: str, lc: str, sp: str, lp: str) -> tuple[Leg, Leg, Leg, Leg]:
    return (Leg(sc, Side.SELL, 1, PositionIntent.SELL_TO_OPEN), Leg(lc, Side.BUY, 1, PositionIntent.BUY_TO_OPEN),
            Leg(sp, Side.SELL, 1, PositionIntent.SELL_TO_OPEN), Leg(lp, Side.BUY, 1, PositionIntent.BUY_TO_OPEN))


def closing_legs(condor: IronCondor) -> tuple[Leg, ...]:
    """The legs that close ``condor`` in one mleg order: buy_to_close shorts, sell_to_close wings."""
    return (Leg(condor.short_call.symbol, Side.BUY, 1, PositionIntent.BUY_TO_CLOSE),
            Leg(condor.long_call.symbol, Side.SELL, 1, PositionIntent.SELL_TO_CLOSE),
            Leg(condor.short_put.symbol, Side.BUY, 1, PositionIntent.BUY_TO_CLOSE),
            Leg(condor.long_put.symbol, Side.SELL, 1, PositionIntent.SELL_TO_CLOSE))


def condor_intent(condor: IronCondor, qty: int | Decimal, limit_price: Decimal | None, client_order_id: str, *,
                  closing: bool = False, decision_id: str | None = None) -> OrderIntent:
    """The one mleg OrderIntent that opens (or closes) ``condor``.

    ``limit_price`` follows Alpaca's mleg sign: negative = credit (opening a condor must be a
    credit), positive = debit (closing normally is). ``None`` = market order (never used to open).
    """
    if Decimal(qty) <= 0 or Decimal(qty) != int(Decimal(qty)):
        raise ValueError(f"qty must be a positive whole number of contracts, got {qty!r}")
    if not closing and (limit_price is None or Decimal(limit_price) >= 0):
        raise ValueError(f"opening a condor needs a negative (credit) limit price, got {limit_price!r}")
    return OrderIntent(
        client_order_id=client_order_id, qty=Decimal(int(Decimal(qty))),
        order_type="market" if limit_price is None else "limit", time_in_force="day",
        legs=closing_legs(condor) if closing else condor.legs,
        limit_price=None if limit_price is None else Decimal(limit_price),
        order_class=OrderClass.MLEG, asset_class=AssetClass.OPTION,
        purpose=OrderPurpose.CONDOR_CLOSE if closing else OrderPurpose.CONDOR_OPEN, decision_id=decision_id)


# --------------------------------------------------------------------------- structure check


def validate_condor_legs(legs: Sequence[Leg], closing: bool | None = None) -> str | None:
    """None if ``legs`` are one whole iron condor (opening or, if so given, closing); else why not.

    Whole = 4 OCC legs, distinct symbols, one underlying and expiration, two calls and two puts,
    equal ratios, long put < short put < short call < long call, and sides/intents that all open
    (sell inner strikes, buy wings) or all close (buy inner, sell wings).
    """
    if len(legs) != 4:
        return f"an iron condor has 4 legs, this order has {len(legs)}"
    try:
        cs = [parse_occ(leg.symbol) for leg in legs]
    except ValueError as exc:
        return f"not an option leg: {exc}"
    if len({c.symbol for c in cs}) != 4:
        return "duplicate leg symbols"
    if len({c.underlying for c in cs}) != 1 or len({c.expiration for c in cs}) != 1:
        return "legs differ in underlying or expiration"
    if len({leg.ratio_qty for leg in legs}) != 1 or legs[0].ratio_qty < 1:
        return "leg ratios are not equal and positive"
    pairs = list(zip(cs, legs))
    calls = sorted((p for p in pairs if p[0].right is OptionRight.CALL), key=lambda p: p[0].strike)
    puts = sorted((p for p in pairs if p[0].right is OptionRight.PUT), key=lambda p: p[0].strike)
    if len(calls) != 2 or len(puts) != 2:
        return "an iron condor needs two calls and two puts"
    (outer_put, inner_put), (inner_call, outer_call) = puts, calls
    if not outer_put[0].strike < inner_put[0].strike < inner_call[0].strike < outer_call[0].strike:
        return "strikes are not long put < short put < short call < long call"
    inner_side = inner_put[1].side
    is_closing = inner_side is Side.BUY
    if closing is not None and closing != is_closing:
        return "legs open a condor but the order is closing" if closing else "legs close a condor but the order is opening"
    want = {True: (Side.BUY, Side.SELL, PositionIntent.BUY_TO_CLOSE, PositionIntent.SELL_TO_CLOSE),
            False: (Side.SELL, Side.BUY, PositionIntent.SELL_TO_OPEN, PositionIntent.BUY_TO_OPEN)}[is_closing]
    for (_, leg), inner in ((inner_put, True), (inner_call, True), (outer_put, False), (outer_call, False)):
        side, intent = (want[0], want[2]) if inner else (want[1], want[3])
        if leg.side is not side:
            return f"leg {leg.symbol}: side {leg.side.value} does not fit an iron condor"
        if leg.position_intent is not None and leg.position_intent is not intent:
            return f"leg {leg.symbol}: intent {leg.position_intent.value}, expected {intent.value}"
    return None


def condor_from_symbols(symbols: Sequence[str], entry_credit: Decimal) -> IronCondor | CondorRefusal:
    """Rebuild an opened condor from its four OCC symbols and fill credit (after a restart)."""
    try:
        cs = sorted((parse_occ(s) for s in symbols), key=lambda c: (c.right.value, c.strike))
    except ValueError as exc:
        return CondorRefusal("bad_quotes", str(exc))
    if len(cs) != 4 or [c.right for c in cs] != [OptionRight.CALL] * 2 + [OptionRight.PUT] * 2:
        return CondorRefusal("bad_quotes", "need two calls and two puts")
    sc, lc, lp, sp = cs[0], cs[1], cs[2], cs[3]
    legs = _legs(sc.symbol, lc.symbol, sp.symbol, lp.symbol)
    why = validate_condor_legs(legs, closing=False)
    if why:
        return CondorRefusal("bad_quotes", why)
    width = max(lc.strike - sc.strike, sp.strike - lp.strike)
    credit = Decimal(entry_credit)
    return IronCondor(sc.underlying, sc.expiration, legs, lp.strike, sp.strike, sc.strike, lc.strike, width,
                      credit, credit, _max_loss(width, credit), _breakevens(sp.strike, sc.strike, credit),
                      entry_credit=credit)


# --------------------------------------------------------------------------- builder


def _delta(q: OptionQuote, spot: float, t: float, rate: float) -> float | None:
    """The quote's delta; else from its IV; else from the IV implied by its mid (local_greeks)."""
    return quote_delta(q, spot, t, rate)


def quote_problem(q: OptionQuote, max_spread_pct: float) -> CondorRefusal | None:
    """Why one leg's quote cannot be traded (crossed, one-sided, too wide), or None."""
    sym = q.contract.symbol
    if q.bid > q.ask:
        return CondorRefusal("crossed_quote", f"{sym}: crossed quote bid {q.bid} > ask {q.ask}")
    if q.bid <= 0 or q.ask <= 0:
        return CondorRefusal("empty_quote", f"{sym}: empty quote bid {q.bid} ask {q.ask}")
    spread = (q.ask - q.bid) / q.mid
    if spread > Decimal(repr(max_spread_pct)):
        return CondorRefusal("wide_spread", f"{sym}: bid-ask spread {float(spread):.1%} of mid > {max_spread_pct:.1%}")
    return None


def _pick_short(rows: list[OptionQuote], right: OptionRight, spot: float, t: float, rate: float,
                target: float) -> tuple[OptionQuote, float] | None:
    """Nearest |delta| to target among OTM strikes; ties go further out of the money."""
    best: tuple[tuple[float, float], OptionQuote, float] | None = None
    for q in rows:
        k = float(q.contract.strike)
        if q.contract.right is not right or (k <= spot if right is OptionRight.CALL else k >= spot):
            continue
        d = _delta(q, spot, t, rate)
        if d is None or not 0 < abs(d) < 1:
            continue
        key = (abs(abs(d) - target), -k if right is OptionRight.CALL else k)
        if best is None or key < best[0]:
            best = (key, q, d)
    return None if best is None else (best[1], best[2])


def _build_at(rows: list[OptionQuote], expiration: date, dte: int, spot: float, p: CondorParams,
              s: CondorSettings, rate: float, delta_tolerance: float,
              snap_wings: bool = False) -> IronCondor | CondorRefusal:
    t = max(dte, 0) / 365.0
    picks = {}
    for right in (OptionRight.CALL, OptionRight.PUT):
        got = _pick_short(rows, right, spot, t, rate, p.short_delta)
        if got is None:
            return CondorRefusal("no_short_strike", f"{expiration}: no OTM {right.value} with a usable delta")
        if abs(abs(got[1]) - p.short_delta) > delta_tolerance:
            return CondorRefusal("no_short_strike", f"{expiration}: nearest {right.value} |delta| {abs(got[1]):.3f} "
                                 f"is more than {delta_tolerance:g} from the target {p.short_delta:g}")
        picks[right] = got
    (sc, sc_delta), (sp, sp_delta) = picks[OptionRight.CALL], picks[OptionRight.PUT]
    by_key = {(q.contract.right, q.contract.strike): q for q in rows}
    width = p.wing_width
    if snap_wings and ((OptionRight.CALL, sc.contract.strike + width) not in by_key
                       or (OptionRight.PUT, sp.contract.strike - width) not in by_key):
        # The grid is coarser out here (SPY lists $1 strikes near the money, $5 further out):
        # the nearest width with a wing on both sides, within the bounds (ties: the narrower).
        lo, hi = (Decimal(str(b)) for b in s.width_bounds)
        found = nearest([w for w in common_wing_widths(rows, sc.contract.strike, sp.contract.strike)
                         if lo <= w <= hi], width)
        width = found if found is not None else width
    lc = by_key.get((OptionRight.CALL, sc.contract.strike + width))
    lp = by_key.get((OptionRight.PUT, sp.contract.strike - width))
    if lc is None or lp is None:
        missing = [f"{r} {k}" for r, k, q in (("call", sc.contract.strike + width, lc),
                                               ("put", sp.contract.strike - width, lp)) if q is None]
        return CondorRefusal("missing_wing", f"{expiration}: no wing strike {', '.join(missing)} (width {width})")
    for q in (sc, lc, sp, lp):
        problem = quote_problem(q, s.max_spread_pct)
        if problem:
            return problem
    mid = sc.mid + sp.mid - lc.mid - lp.mid
    natural = sc.bid + sp.bid - lc.ask - lp.ask
    credit_mid = mid.quantize(CENT, rounding=ROUND_FLOOR)  # half cents count against us
    if credit_mid >= width:
        return CondorRefusal("bad_quotes", f"credit {credit_mid} >= width {width}: quotes are not arbitrage-free")
    min_credit = (width * Decimal(repr(s.min_credit_pct))).quantize(CENT)
    if credit_mid <= 0 or credit_mid < min_credit:
        return CondorRefusal("low_credit", f"credit {credit_mid} below {s.min_credit_pct:.0%} of width {width} ({min_credit})")
    return IronCondor(
        underlying=sc.contract.underlying, expiration=expiration,
        legs=_legs(sc.contract.symbol, lc.contract.symbol, sp.contract.symbol, lp.contract.symbol),
        long_put_strike=lp.contract.strike, short_put_strike=sp.contract.strike,
        short_call_strike=sc.contract.strike, long_call_strike=lc.contract.strike, width=width,
        credit_mid=credit_mid, credit_natural=natural, max_loss=_max_loss(width, credit_mid),
        breakevens=_breakevens(sp.contract.strike, sc.contract.strike, credit_mid), dte=dte,
        spot=Decimal(repr(spot)), short_call_delta=sc_delta, short_put_delta=sp_delta)


def build_condor(chain: Sequence[OptionQuote], spot: Decimal | float, now: datetime,
                 params: CondorParams | None = None, settings: CondorSettings | None = None, *,
                 rate: float = 0.0, delta_tolerance: float = 0.05) -> IronCondor | CondorRefusal:
    """Build the iron condor the parameters ask for from ``chain``, or say why not.

    Expirations with ``dte_min <= DTE <= dte_max`` are tried nearest the window's middle first
    (ties: the earlier one); the first that builds wins, else the refusal of the preferred one.
    Shorts: OTM call/put whose |delta| is nearest ``short_delta`` (feed delta, else from the
    quote's IV at ``rate``, else from the IV implied by its mid: local_greeks) and within ``delta_tolerance`` of it. Wings: exactly ``wing_width``
    further out. All four quotes must be two-sided, uncrossed and within ``max_spread_pct`` of
    mid; the mid credit (rounded down to the cent) must be at least ``min_credit_pct`` of width.
    """
    s = settings or CondorSettings()
    p = params or clamp_params({}, s)
    spot_f = _num(spot)
    if spot_f is None or spot_f <= 0:
        return CondorRefusal("bad_spot", f"spot {spot!r} is not a positive price")
    rows = [q for q in chain if q.contract.underlying == s.underlying]
    if not rows:
        return CondorRefusal("empty_chain", f"no {s.underlying} quotes in a chain of {len(chain)}")
    by_exp: dict[date, list[OptionQuote]] = {}
    for q in rows:
        by_exp.setdefault(q.contract.expiration, []).append(q)
    middle = (p.dte_min + p.dte_max) / 2
    window = sorted(((e, days_to_expiration(e, now)) for e in by_exp), key=lambda ed: (abs(ed[1] - middle), ed[1]))
    window = [(e, d) for e, d in window if p.dte_min <= d <= p.dte_max]
    if not window:
        return CondorRefusal("no_expiration", f"no expiration with {p.dte_min}-{p.dte_max} DTE in the chain")
    first: CondorRefusal | None = None
    # The exact width at any expiration first (a hole in one chain is not a reason to change the
    # risk), then the nearest listed width (a grid coarser than the width asked for).
    for snap_wings in (False, True):
        for exp, dte in window:
            got = _build_at(by_exp[exp], exp, dte, spot_f, p, s, rate, delta_tolerance, snap_wings)
            if isinstance(got, IronCondor):
                return got
            first = first or got
    assert first is not None
    if len(window) > 1:
        return replace(first, reason=f"{first.reason} (and {len(window) - 1} other expiration(s) refused)")
    return first


__all__ = ["CondorParams", "CondorRefusal", "IronCondor", "build_condor", "clamp_params",
           "closing_legs", "condor_from_symbols", "condor_intent", "days_to_expiration", "quote_problem",
           "validate_condor_legs",
           "with_fill"]
