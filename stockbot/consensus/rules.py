"""Rule agents: deterministic voters with no network, usable beside LLMs and as the no-key default.

Each rule is a pure function ``(MarketContext, RuleDefaults) -> Vote``; ``RuleAgent`` adapts it to
the agent protocol. Names match the default settings: ``iv_rank``, ``trend``, ``range``.

Condor (sell premium when it is rich and the market is quiet):
- iv_rank: ENTER when IV rank is in [30, 85] (rich premium, not a crisis).
- trend: ENTER when the underlying is not trending (20-day and 5-day returns and distance to the
  20-day mean are small).
- range: ENTER when the 20-day range fits inside the candidate short strikes (or, without a chain,
  inside the one-sigma move implied by IV) and realised vol is not above implied vol.
Equity/index slates: iv_rank holds in turmoil (IV rank > 80), trend keeps the picks on the index
trend's side, range holds when realised vol is high; otherwise each proposes the top picks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from stockbot.config import CondorSettings
from stockbot.consensus.context import MarketContext, price_action
from stockbot.consensus.schema import CondorProposal, EquityParams, ParamBounds, SlatePick, Vote

IV_RANK_MIN, IV_RANK_MAX = 30.0, 85.0
TREND_MAX_RET_20D, TREND_MAX_RET_5D, TREND_MAX_SMA_GAP = 0.04, 0.025, 0.025
EQUITY_TURMOIL_IV_RANK = 80.0
EQUITY_MAX_REALIZED_VOL = 0.35


@dataclass(frozen=True, slots=True)
class RuleDefaults:
    """Parameter defaults the rules propose, clamped to the account's bounds."""

    bounds: ParamBounds = ParamBounds()
    short_delta: float = 0.16
    wing_width: float = 5.0
    dte_target: int = 38

    @classmethod
    def from_settings(cls, condor: CondorSettings, bounds: ParamBounds) -> RuleDefaults:
        return cls(bounds=bounds, short_delta=condor.short_delta, wing_width=float(condor.wing_width),
                   dte_target=(condor.dte_min + condor.dte_max) // 2)


def _hold(why: str, confidence: float = 0.6) -> Vote:
    return Vote(action="HOLD", confidence=confidence, rationale=why[:500])


def _clamp(x: float, lo: float, hi: float) -> float:
    return min(hi, max(lo, x))


def _pick_dte(ctx: MarketContext, d: RuleDefaults) -> int | None:
    lo, hi = d.bounds.dte
    options = sorted({c for c in ctx.dte_candidates if lo <= c <= hi} | {s.dte for s in ctx.strikes if lo <= s.dte <= hi})
    if not options:
        return None
    return min(options, key=lambda c: (abs(c - d.dte_target), c))


def _condor_enter(ctx: MarketContext, d: RuleDefaults, why: str, confidence: float) -> Vote:
    dte = _pick_dte(ctx, d)
    if dte is None:
        return _hold(f"no expiration within DTE bounds {list(d.bounds.dte)}")
    params = CondorProposal(short_delta=round(_clamp(d.short_delta, *d.bounds.delta), 4),
                          wing_width=_clamp(d.wing_width, *d.bounds.width), dte=dte)
    return Vote(action="ENTER", confidence=round(_clamp(confidence, 0, 1), 3), rationale=why[:500], condor=params)


def _slate(ctx: MarketContext, d: RuleDefaults, side_filter: str | None = None) -> list[SlatePick]:
    allowed = set(ctx.allowed_symbols)
    picks = []
    for c in sorted(ctx.candidates, key=lambda c: (-abs(c.score), c.symbol)):
        side = c.side or ("long" if c.score >= 0 else "short")
        if c.symbol not in allowed or (side == "short" and not ctx.constraints.shorting_enabled):
            continue
        if side_filter and side != side_filter:
            continue
        picks.append((c.symbol, side))
    picks = picks[: min(d.bounds.max_slate, ctx.constraints.max_slate)]
    return [SlatePick(symbol=s, side=side, weight=round(1 / len(picks), 6)) for s, side in picks]


def _equity_enter(ctx: MarketContext, d: RuleDefaults, why: str, side_filter: str | None = None) -> Vote:
    slate = _slate(ctx, d, side_filter)
    if not slate:
        return _hold("no eligible candidates in the allowed universe")
    return Vote(action="ENTER", confidence=0.6, rationale=why[:500], equity=EquityParams(slate=slate))


def iv_rank_rule(ctx: MarketContext, d: RuleDefaults) -> Vote:
    """Condor: premium rich but no crisis. Equity: stand aside in turmoil."""
    ivr = ctx.iv_rank
    if ctx.is_condor:
        if ivr is None:
            return _hold("no IV rank")
        if ivr < IV_RANK_MIN:
            return _hold(f"IV rank {ivr:.0f} < {IV_RANK_MIN:.0f}: premium too thin")
        if ivr > IV_RANK_MAX:
            return _hold(f"IV rank {ivr:.0f} > {IV_RANK_MAX:.0f}: volatility regime too unstable")
        return _condor_enter(ctx, d, f"IV rank {ivr:.0f} in [{IV_RANK_MIN:.0f}, {IV_RANK_MAX:.0f}]",
                             0.5 + (ivr - IV_RANK_MIN) / 110)
    if ivr is not None and ivr > EQUITY_TURMOIL_IV_RANK:
        return _hold(f"IV rank {ivr:.0f} > {EQUITY_TURMOIL_IV_RANK:.0f}: turmoil")
    return _equity_enter(ctx, d, "volatility regime acceptable")


def trend_rule(ctx: MarketContext, d: RuleDefaults) -> Vote:
    """Condor: only in a quiet, range-bound market. Equity: trade with the index trend."""
    pa = price_action(ctx.recent_closes)
    r20, r5, sma = pa["ret_20d"], pa["ret_5d"], pa["sma_20"]
    if r20 is None or r5 is None or sma is None:
        return _hold("fewer than 21 closes: trend unknown")
    if not ctx.is_condor:
        side = "long" if r20 >= 0 else "short"
        return _equity_enter(ctx, d, f"index 20-day return {r20:+.2%}: trade {side}", side_filter=side)
    gap = ctx.spot / sma - 1
    if abs(r20) > TREND_MAX_RET_20D or abs(r5) > TREND_MAX_RET_5D or abs(gap) > TREND_MAX_SMA_GAP:
        return _hold(f"trending: 20d {r20:+.2%}, 5d {r5:+.2%}, {gap:+.2%} from the 20-day mean")
    calm = 1 - abs(r20) / TREND_MAX_RET_20D
    return _condor_enter(ctx, d, f"range-bound: 20d {r20:+.2%}, 5d {r5:+.2%}", 0.5 + 0.4 * calm)


def _short_strikes(ctx: MarketContext, d: RuleDefaults, dte: int) -> tuple[float | None, float | None]:
    puts = [s for s in ctx.strikes if s.dte == dte and s.right == "put"]
    calls = [s for s in ctx.strikes if s.dte == dte and s.right == "call"]
    target = _clamp(d.short_delta, *d.bounds.delta)
    put = min(puts, key=lambda s: abs(abs(s.delta) - target)).strike if puts else None
    call = min(calls, key=lambda s: abs(abs(s.delta) - target)).strike if calls else None
    return put, call


def range_rule(ctx: MarketContext, d: RuleDefaults) -> Vote:
    """Condor: the recent range must fit inside the short strikes. Equity: hold when vol is high."""
    pa = price_action(ctx.recent_closes)
    hi, lo, rv = pa["high_20d"], pa["low_20d"], pa["realized_vol_20d"]
    if hi is None or lo is None or rv is None:
        return _hold("not enough closes for a 20-day range")
    if not ctx.is_condor:
        if rv > EQUITY_MAX_REALIZED_VOL:
            return _hold(f"realised vol {rv:.0%} > {EQUITY_MAX_REALIZED_VOL:.0%}")
        return _equity_enter(ctx, d, f"realised vol {rv:.0%} acceptable")
    dte = _pick_dte(ctx, d)
    if dte is None:
        return _hold(f"no expiration within DTE bounds {list(d.bounds.dte)}")
    if ctx.iv is not None and rv > ctx.iv * 1.1:
        return _hold(f"realised vol {rv:.1%} above implied {ctx.iv:.1%}: premium does not pay for the risk")
    put, call = _short_strikes(ctx, d, dte)
    if put is None or call is None:
        if ctx.iv is None:
            return _hold("no candidate strikes and no IV to size the expected move")
        move = ctx.spot * ctx.iv * math.sqrt(dte / 365)
        put, call = ctx.spot - move, ctx.spot + move
    if lo <= put or hi >= call:
        return _hold(f"20-day range {lo:.2f}-{hi:.2f} reaches the short strikes {put:.2f}/{call:.2f}")
    room = min(lo - put, call - hi) / ctx.spot
    return _condor_enter(ctx, d, f"20-day range {lo:.2f}-{hi:.2f} inside shorts {put:.2f}/{call:.2f}",
                         0.55 + min(0.4, room * 10))


RULES: dict[str, Callable[[MarketContext, RuleDefaults], Vote]] = {
    "iv_rank": iv_rank_rule,
    "trend": trend_rule,
    "range": range_rule,
}


class RuleAgent:
    """A rule wrapped in the agent protocol (``async vote(context) -> Vote``); no I/O at all."""

    kind = "rule"

    def __init__(self, name: str, rule: str, defaults: RuleDefaults, *, timeout_s: float = 5.0):
        if rule not in RULES:
            raise KeyError(f"unknown rule {rule!r}; known: {', '.join(sorted(RULES))}")
        self.name = name
        self.model = f"rule:{rule}"
        self.timeout_s = timeout_s
        self._rule = RULES[rule]
        self._defaults = defaults

    async def vote(self, context: MarketContext) -> Vote:
        return self._rule(context, self._defaults)
