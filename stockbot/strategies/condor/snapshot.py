"""The market snapshot one condor decision is made from, and the context the agents see.

``take_snapshot`` reads the account, the broker's clock, the underlying's quote, the option chain
for the DTE bounds and about a year of daily bars. The daily at-the-money IV is recorded in the
store as an ``atm_iv`` event (one per New York date) so the account builds its own IV history;
until it has enough, ``iv_rank`` bootstraps from realized volatility.

Quote ages are measured on the broker's clock (staleness when the snapshot was taken) plus the
local time elapsed since: robust to a skewed local clock and to the local exchange's time jumps.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Callable, Iterable, Sequence

from stockbot.broker.errors import NotFoundError
from stockbot.config import Settings
from stockbot.consensus.context import AccountConstraints, LessonRef, MarketContext, StrikeCandidate
from stockbot.domain import AccountSnapshot, Clock, OptionQuote, OptionRight, Position, Quote
from stockbot.options.condor import NY
from stockbot.options.dates import days_to_expiration
from stockbot.options.ivrank import IVRank, atm_iv, iv_rank, realized_vol
from stockbot.options.local_greeks import with_local_greeks
from stockbot.store import Store
from stockbot.trading.port import Broker

ATM_IV_EVENT = "atm_iv"
BARS_LOOKBACK_DAYS = 400  # ~275 sessions: a year of IV-rank bootstrap plus the rolling window
CANDIDATES_PER_SIDE = 8  # strikes per expiration and right shown to the agents
RECENT_CLOSES = 60
EXPECTED_MOVES = 2.5  # strikes fetched: this many expected moves either side of spot (a 0.05-delta short is ~1.65)
MIN_VOL = 0.15  # vol floor for the strike window (a calm month must not narrow it too far)


@dataclass(frozen=True, slots=True)
class CondorSnapshot:
    """Broker facts at one moment. ``taken_at`` is the local clock when the clock was read."""

    account: AccountSnapshot
    clock: Clock
    quote: Quote
    chain: tuple[OptionQuote, ...]
    closes: tuple[Decimal, ...]
    positions: tuple[Position, ...]
    taken_at: datetime
    quote_source: str = "rest"  # "stream": the freshest streamed quote priced the underlying

    @property
    def spot(self) -> Decimal:
        return self.quote.mid

    @property
    def market_date(self) -> date:
        return self.clock.ts.astimezone(NY).date()

    def market_now(self, now: datetime) -> datetime:
        """The broker's time now: its clock at the snapshot plus the local time since."""
        return self.clock.ts + (now - self.taken_at)

    def age_s(self, stamped: datetime, now: datetime) -> float:
        """Age at local time ``now`` of data the broker stamped ``stamped``."""
        return (self.clock.ts - stamped).total_seconds() + (now - self.taken_at).total_seconds()

    def open_positions(self) -> int:
        return sum(1 for p in self.positions if p.qty != 0)


def strike_window(spot: Decimal, closes: Sequence[Decimal], settings: Settings) -> tuple[Decimal, Decimal]:
    """The strikes worth fetching: ``EXPECTED_MOVES`` expected moves (realized vol, floored at
    ``MIN_VOL``, over the longest DTE of the window) around spot, plus the widest wing allowed.
    A 16-delta short sits about one expected move out, so this never cuts off a strike the builder
    could pick, while the chain stays a page or two instead of every listed strike."""
    c = settings.condor
    vol = max(realized_vol(closes) or 0.0, MIN_VOL)
    move = float(spot) * vol * math.sqrt(max(c.dte_max, 1) / 365.0)
    half = Decimal(repr(round(EXPECTED_MOVES * move, 2))) + Decimal(str(c.width_bounds[1]))
    return max(Decimal(0), spot - half).quantize(Decimal("1")), (spot + half).quantize(Decimal("1"))


async def take_snapshot(broker: Broker, settings: Settings, now: datetime,
                        streamed: Callable[[str], Quote | None] | None = None) -> CondorSnapshot:
    """Read everything one decision needs from the broker (raises the broker's errors).

    The underlying is priced from the freshest streamed quote when ``streamed`` has one (no older
    than ``RISK_MAX_QUOTE_AGE_S``), else from a REST latest quote. The chain is fetched for the
    configured DTE window (``CONDOR_DTE_MIN``..``CONDOR_DTE_MAX``) and the ``strike_window`` only
    (see ``BENCHMARKS.md`` for the requests per decision)."""
    c = settings.condor
    account = await broker.account()
    quote, source = (streamed(c.underlying) if streamed is not None else None), "stream"
    if quote is None:
        quote, source = (await broker.latest_quotes([c.underlying])).get(c.underlying), "rest"
    if quote is None:
        raise NotFoundError(f"the broker returned no quote for {c.underlying}")
    first = await broker.clock()
    today = first.ts.astimezone(NY).date()
    bars = await broker.daily_bars([c.underlying], start=first.ts - timedelta(days=BARS_LOOKBACK_DAYS))
    closes = tuple(b.close for b in bars.get(c.underlying, []))
    k_lo, k_hi = strike_window(quote.mid, closes, settings)
    chain = await broker.option_chain(c.underlying, expiration_gte=today + timedelta(days=c.dte_min),
                                      expiration_lte=today + timedelta(days=c.dte_max),
                                      strike_gte=k_lo, strike_lte=k_hi)
    positions = await broker.positions()
    # The clock is read again last, so every quote above is stamped no later than it: ages are >= 0.
    clock = await broker.clock()
    return CondorSnapshot(account, clock, quote, tuple(chain), closes, tuple(positions), now, source)


# --------------------------------------------------------------------------- IV history


def record_atm_iv(store: Store, day: date, iv: float | None) -> bool:
    """Record the day's ATM IV once per New York date; True if a point was added."""
    if iv is None:
        return False
    if any(e.payload.get("date") == day.isoformat() for e in store.events(kind=ATM_IV_EVENT)[-5:]):
        return False
    store.append_event(ATM_IV_EVENT, {"date": day.isoformat(), "iv": round(float(iv), 6)})
    return True


def atm_iv_history(store: Store) -> list[float]:
    """The recorded ATM IV series, oldest first, one point per date (the last one of a date wins)."""
    by_day: dict[str, float] = {}
    for e in store.events(kind=ATM_IV_EVENT):
        day, iv = e.payload.get("date"), e.payload.get("iv")
        if isinstance(day, str) and isinstance(iv, (int, float)):
            by_day[day] = float(iv)
    return [by_day[d] for d in sorted(by_day)]


def update_iv_rank(store: Store, snap: CondorSnapshot, target_dte: int) -> tuple[IVRank, float | None]:
    """Record today's ATM IV and rank it over the account's history (bootstrapped from closes)."""
    iv = atm_iv(snap.chain, snap.spot, snap.market_date, target_dte=target_dte)
    record_atm_iv(store, snap.market_date, iv)
    return iv_rank(atm_iv_history(store), snap.closes), iv


# --------------------------------------------------------------------------- agent context


def strike_candidates(chain: Iterable[OptionQuote], spot: Decimal, now: datetime, target_delta: float,
                      per_side: int = CANDIDATES_PER_SIDE) -> tuple[StrikeCandidate, ...]:
    """OTM strikes with a delta, ``per_side`` per expiration and right, nearest the target delta.
    A delta the feed left out is computed locally (feed IV, else the IV of the mid: local_greeks)."""
    # Each quote is kept with its delta, known to be present once it passed the filter.
    groups: dict[tuple[date, OptionRight], list[tuple[OptionQuote, float]]] = defaultdict(list)
    for q in with_local_greeks(chain, spot, now):
        k, right = q.contract.strike, q.contract.right
        otm = k > spot if right is OptionRight.CALL else k < spot
        if otm and q.delta is not None and 0 < abs(q.delta) < 0.5 and q.bid >= 0 and q.ask > 0:
            groups[(q.contract.expiration, right)].append((q, q.delta))
    out: list[StrikeCandidate] = []
    for (expiration, right), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1].value)):
        dte = days_to_expiration(expiration, now)
        best = sorted(rows, key=lambda qd: (abs(abs(qd[1]) - target_delta), qd[0].contract.strike))[:per_side]
        for q, delta in sorted(best, key=lambda qd: qd[0].contract.strike):
            out.append(StrikeCandidate(right=right.value, strike=float(q.contract.strike),
                                       delta=round(float(delta), 4), dte=max(dte, 0), bid=float(q.bid),
                                       ask=float(q.ask), symbol=q.contract.symbol))
    return tuple(out[:400])


def market_context(snap: CondorSnapshot, settings: Settings, rank: IVRank, iv: float | None,
                   lessons: Sequence[LessonRef] = ()) -> MarketContext:
    """The agents' view of this decision: spot, IV rank (0-100), candidate strikes, closes, limits."""
    c, r = settings.condor, settings.risk
    strikes = strike_candidates(snap.chain, snap.spot, snap.clock.ts, c.short_delta)
    dtes = sorted({s.dte for s in strikes if c.dte_bounds[0] <= s.dte <= c.dte_bounds[1]})[:50]
    bp = snap.account.options_buying_power if snap.account.options_buying_power is not None \
        else snap.account.buying_power
    constraints = AccountConstraints(max_risk_per_trade=r.max_risk_per_trade, max_open_positions=r.max_open_positions,
                                     open_positions=snap.open_positions(), buying_power=float(max(bp, Decimal(0))),
                                     shorting_enabled=snap.account.shorting_enabled)
    return MarketContext(strategy="condor", symbol=c.underlying, spot=float(snap.spot), asof=snap.clock.ts,
                         iv_rank=rank.percent, iv=None if iv is None else min(float(iv), 10.0),
                         dte_candidates=tuple(dtes), strikes=strikes,
                         recent_closes=tuple(float(x) for x in snap.closes[-RECENT_CLOSES:]),
                         constraints=constraints, lessons=tuple(lessons)[:50])
