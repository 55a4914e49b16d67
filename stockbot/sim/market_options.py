"""Listed options of the local exchange: expirations, strike grids, Black-Scholes quotes.

Listing (stable: a contract, once listed, stays listed until it expires):
- expirations: every Friday (Thursday when Friday is a holiday) from 8 weeks before it, monthly
  third Fridays from ~6 months before, and daily expirations for the coming week on SPY/QQQ/IWM;
- strikes of an expiration: a grid around the range of the underlying's closes since the listing
  day (so strikes are only ever added as the price wanders, never removed). SPY/QQQ/IWM/DIA: $1
  steps within +-25%, $5 steps out to +-50%; other underlyings: a step that fits the price within
  +-30%, double steps out to +-50%.

Pricing: listed contracts are American-style, priced with QuantLib (stockbot.sim.market_american;
calls on a non-dividend underlying reduce exactly to Black-Scholes) on the underlying's current mid
with an at-the-money vol = the daily model's vol x 1.1 (a variance premium), a term structure and a
skewed smile (puts, i.e. low strikes, richer). Bid/ask straddle the model price, at least a cent
wide and wider far out of the money, and never cross intrinsic value: the ask is at least the
intrinsic value, the bid at least intrinsic minus one cent. ``iv`` is the vol at which the same
American model reproduces the quoted mid (Newton from the smile vol, Brent when that does not
settle); none when the mid is at or below intrinsic, there is no bid, or |delta| is above the
omission rule's 0.97 (the wire leaves those out anyway). Greeks
are the American model's at the smile vol. Snapshots are cached per contract and instant (a frozen
clock or a chain read twice in the same instant prices once).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache

from stockbot.domain import OptionContract, OptionQuote, OptionRight
from stockbot.options.occ import occ_symbol, parse_occ
from stockbot.options.pricing import Greeks
from stockbot.sim import market_symbols as ms
from stockbot.sim.greeks_omit import DEEP_ITM_DELTA, GreeksOmission
from stockbot.sim.market_american import AmericanModel
from stockbot.sim.clock import is_trading_day, ny_date, prev_trading_day, session_close_utc
from stockbot.sim.market_daily import stable_int, trading_days_between

UTC = timezone.utc
RATE = 0.04  # risk-free rate used for every option
DIVIDEND_YIELD = 0.0
IV_PREMIUM = 1.10
WEEKLY_WEEKS = 8
MONTHLY_DAYS = 213  # ~7 months: at least six monthly expirations are always listed
DAILY_DAYS = 7
SECONDS_PER_YEAR = 365.0 * 86400.0


@dataclass(frozen=True, slots=True)
class OptionSnapshot:
    """Everything the data routes report for one contract at one instant."""

    contract: OptionContract
    ts: datetime
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    theo: float
    vol: float  # smile vol used for the theoretical price and greeks
    iv: float | None  # vol implied by the quoted mid
    greeks: Greeks
    spot: float
    last_price: float | None  # the latest trade (stockbot.sim.market_option_trades); None if none yet
    last_size: int | None
    last_ts: datetime | None


def intrinsic(right: OptionRight, spot: float, strike: float) -> float:
    """Exercise value now: ``max(S - K, 0)`` for a call, ``max(K - S, 0)`` for a put."""
    return max(spot - strike, 0.0) if right is OptionRight.CALL else max(strike - spot, 0.0)


def expiry_for_friday(friday: date) -> date:
    """Options that would expire on a holiday Friday expire the trading day before."""
    d = friday
    while not is_trading_day(d):
        d -= timedelta(days=1)
    return d


def third_friday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


@lru_cache(maxsize=65536)  # pure, and asked for every contract of every snapshot
def listing_day(underlying: str, expiration: date) -> date:
    """The first day ``expiration`` is listed (earliest of the rules that produce it)."""
    days = []
    fri = expiration + timedelta(days=(4 - expiration.weekday()) % 7)
    if expiry_for_friday(fri) == expiration:
        days.append(expiration - timedelta(weeks=WEEKLY_WEEKS))
        if expiry_for_friday(third_friday(fri.year, fri.month)) == expiration:
            days.append(expiration - timedelta(days=MONTHLY_DAYS))
    if underlying in ms.DAILY_EXPIRY_UNDERLYINGS and is_trading_day(expiration):
        days.append(expiration - timedelta(days=DAILY_DAYS))
    return min(days) if days else date.max


def expirations(underlying: str, today: date) -> list[date]:
    """Expirations listed on ``today`` (not yet expired), ascending."""
    out: set[date] = set()
    fri = today + timedelta(days=(4 - today.weekday()) % 7)
    while fri <= today + timedelta(days=MONTHLY_DAYS + 7):
        e = expiry_for_friday(fri)
        if e >= today and listing_day(underlying, e) <= today:
            out.add(e)
        fri += timedelta(days=7)
    if underlying in ms.DAILY_EXPIRY_UNDERLYINGS:
        for d in trading_days_between(today, today + timedelta(days=DAILY_DAYS)):
            if listing_day(underlying, d) <= today:
                out.add(d)
    return sorted(out)


def smile_factor(k: float) -> float:
    """Vol multiplier at standardised moneyness ``k = ln(K/F) / (atm_vol * sqrt(T))``.

    A skewed parabola (puts richer) for -4 <= k <= 2.4, continued along its tangent below -4 and
    flat above 2.4, capped at 3x. Growing at most linearly in |k| keeps ``|k f'(k)| < f(k)``, which
    is what keeps (sticky-strike) deltas monotone in the strike far out in the wings.
    """
    if k > 2.4:
        k = 2.4
    if k >= -4.0:
        f = 1.0 - 0.12 * k + 0.025 * k * k
    else:
        f = 1.88 - 0.32 * (k + 4.0)
    return min(3.0, f)


def strike_step(price: float) -> float:
    for limit, step in ((25, 0.5), (100, 1.0), (200, 2.5), (500, 5.0), (1000, 10.0)):
        if price < limit:
            return step
    return 25.0


def _grid(lo: float, hi: float, step: float) -> set[Decimal]:
    first = math.ceil(lo / step - 1e-9)
    last = math.floor(hi / step + 1e-9)
    q = Decimal(str(step))
    return {(q * i).normalize() for i in range(max(first, 1), last + 1)}


def strike_grid(underlying: str, lo_ref: float, hi_ref: float) -> list[Decimal]:
    """Strikes around the reference range [lo_ref, hi_ref] of the underlying's price."""
    if underlying in ms.DOLLAR_STRIKE_UNDERLYINGS:
        strikes = _grid(lo_ref * 0.75, hi_ref * 1.25, 1.0) | _grid(lo_ref * 0.5, hi_ref * 1.5, 5.0)
    else:
        step = strike_step(0.5 * (lo_ref + hi_ref))
        strikes = _grid(lo_ref * 0.7, hi_ref * 1.3, step) | _grid(lo_ref * 0.5, hi_ref * 1.5, 2 * step)
    return sorted(s if s != s.to_integral_value() else s.quantize(Decimal(1)) for s in strikes)


class OptionBook:
    """Listing and pricing of options for one :class:`~stockbot.sim.market.Market`."""

    def __init__(self, market) -> None:
        self.market = market
        self._strikes: dict[tuple[str, date, date], frozenset[Decimal]] = {}
        self._contracts: dict[tuple[str, date], list[OptionContract]] = {}
        self._by_id: dict[str, str] = {}
        self._atm_cache: dict[tuple[str, date], tuple[float, float]] = {}
        self.omission = GreeksOmission()  # which snapshots the wire serves without greeks/IV
        self.model = AmericanModel()
        self.tape = None  # the OptionTape (stockbot.sim.market_option_trades), set by the Market
        self._snap_cache: dict[tuple[str, float], OptionSnapshot] = {}

    # -- listing ---------------------------------------------------------------------------
    def strikes(self, underlying: str, expiration: date, today: date) -> frozenset[Decimal]:
        """The strikes of ``expiration`` listed on ``today`` (grown from the closes since listing)."""
        key = (underlying, expiration, today)
        got = self._strikes.get(key)
        if got is None:
            # Closes from the last one before the listing day to the last one before today: the
            # window only grows, so a listed strike is never withdrawn.
            start = prev_trading_day(listing_day(underlying, expiration))
            end = prev_trading_day(min(today, expiration))
            daily = self.market.daily
            closes = daily.closes(underlying, start, max(start, end))
            got = frozenset(strike_grid(underlying, min(closes), max(closes)))
            if len(self._strikes) > 50000:
                self._strikes.clear()
            self._strikes[key] = got
        return got

    def contracts(self, underlying: str, now: datetime) -> list[OptionContract]:
        """All contracts listed at ``now``, sorted by OCC symbol (expiration, right, strike)."""
        today = ny_date(now)
        key = (underlying, today)
        got = self._contracts.get(key)
        if got is None:
            got = []
            if not ms.is_valid_ticker(underlying) or "." in underlying:
                return got
            for e in expirations(underlying, today):
                if now >= session_close_utc(e):
                    continue  # expired at today's close
                for right in (OptionRight.CALL, OptionRight.PUT):
                    for k in sorted(self.strikes(underlying, e, today)):
                        got.append(OptionContract(occ_symbol(underlying, e, right, k), underlying, e, right, k))
            got.sort(key=lambda c: c.symbol)
            if len(self._contracts) > 2000:
                self._contracts.clear()
            self._contracts[key] = got
        return got

    def contract(self, occ: str) -> OptionContract | None:
        """The parsed contract if ``occ`` is a well-formed symbol on a known underlying."""
        try:
            c = parse_occ(occ)
        except ValueError:
            return None
        return c if self.market.has_symbol(c.underlying) else None

    def status(self, occ: str, now: datetime) -> str | None:
        """'active' while listed, 'inactive' once a listed contract expired, None if never listed."""
        c = self.contract(occ)
        if c is None:
            return None
        today = ny_date(now)
        if c.expiration >= today and now < session_close_utc(c.expiration):
            if c.expiration in expirations(c.underlying, today) and c.strike in self.strikes(c.underlying, c.expiration, today):
                return "active"
            return None
        last = c.expiration
        if listing_day(c.underlying, last) <= last and c.strike in self.strikes(c.underlying, last, last):
            return "inactive"
        return None

    def is_listed(self, occ: str, now: datetime) -> bool:
        return self.status(occ, now) == "active"

    def contract_id(self, occ: str) -> str:
        cid = self.market.asset_id(occ)
        self._by_id[cid] = occ
        return cid

    def symbol_for_id(self, cid: str) -> str | None:
        """The OCC symbol of a contract id (ids are uuid5 of the symbol, as positions report them);
        searches the chains listed so far."""
        got = self._by_id.get(cid)
        if got is None and len(cid) == 36:
            for contracts in list(self._contracts.values()):
                for c in contracts:
                    if self.contract_id(c.symbol) == cid:
                        return c.symbol
        return got

    # -- pricing ---------------------------------------------------------------------------
    def _atm(self, underlying: str, today: date) -> tuple[float, float]:
        """(long-run ATM vol, today's ATM vol) of an underlying (cached per day)."""
        key = (underlying, today)
        got = self._atm_cache.get(key)
        if got is None:
            daily = self.market.daily
            got = (daily.params(underlying).vol * IV_PREMIUM, daily.vol_on(underlying, today) * IV_PREMIUM)
            if len(self._atm_cache) > 20000:
                self._atm_cache.clear()
            self._atm_cache[key] = got
        return got

    def smile_vol(self, underlying: str, today: date, spot: float, strike: float, t_years: float) -> float:
        """Implied vol of the smile at ``strike`` for time to expiry ``t_years``."""
        base, atm_now = self._atm(underlying, today)
        t = max(t_years, 1.0 / 365.0)
        atm = base + (atm_now - base) * math.exp(-t / 0.5)
        fwd = spot * math.exp((RATE - DIVIDEND_YIELD) * t)
        return atm * smile_factor(math.log(strike / fwd) / (atm * math.sqrt(t)))

    def snapshot(self, occ: str, now: datetime, *, check_listed: bool = True) -> OptionSnapshot:
        """Quote, greeks and IV of a contract at ``now``. KeyError if not listed."""
        c = self.contract(occ)
        if c is None or (check_listed and not self.is_listed(occ, now)):
            raise KeyError(occ)
        return self.snapshot_of(c, now)

    def snapshot_of(self, c: OptionContract, now: datetime) -> OptionSnapshot:
        """Quote, greeks and IV of ``c`` at ``now`` (no listing check; cached per instant)."""
        key = (c.symbol, now.timestamp())
        got = self._snap_cache.get(key)
        if got is None:
            got = self._price_snapshot(c, now)
            if len(self._snap_cache) > 50000:
                self._snap_cache.clear()
            self._snap_cache[key] = got
        return got

    def _inputs(self, c: OptionContract, t_now: float) -> tuple[float, float, float, float]:
        """(spot, strike, years to the expiration's close, smile vol) of ``c`` at POSIX ``t_now``."""
        spot = self.market.mid_at(c.underlying, t_now)
        t_years = max(0.0, (session_close_utc(c.expiration).timestamp() - t_now) / SECONDS_PER_YEAR)
        strike = float(c.strike)
        vol = self.smile_vol(c.underlying, ny_date(datetime.fromtimestamp(t_now, UTC)), spot, strike, t_years)
        return spot, strike, t_years, vol

    def theo_at(self, c: OptionContract, t_now: float) -> float:
        """The model value of ``c`` at POSIX ``t_now`` (the ``theo`` of a snapshot then)."""
        spot, strike, t_years, vol = self._inputs(c, t_now)
        return self.model.price(spot, strike, t_years, vol, RATE, c.right, DIVIDEND_YIELD)

    def _price_snapshot(self, c: OptionContract, now: datetime) -> OptionSnapshot:
        t_now = now.timestamp()
        spot, strike, t_years, vol = self._inputs(c, t_now)
        theo, g = self.model.price_and_greeks(spot, strike, t_years, vol, RATE, c.right, DIVIDEND_YIELD)
        widen = 1.0 + 3.0 * max(0.0, 0.15 - abs(g.delta)) / 0.15
        half = 0.5 * max(0.01, 0.01 + 0.004 * theo) * widen
        # An American contract can be exercised now: nobody sells below intrinsic value, and a bid
        # more than a tick under it would be an arbitrage (buy, exercise, flatten the stock).
        intrinsic_c = math.ceil(intrinsic(c.right, spot, strike) * 100.0 - 1e-6)
        bid_c = max(0, int(math.floor((theo - half) * 100.0)), intrinsic_c - 1)
        ask_c = max(bid_c + 1, int(math.ceil((theo + half) * 100.0)), intrinsic_c, 1)
        mid = (bid_c + ask_c) / 200.0
        # No bid: the mid of a one-sided quote implies nothing (Alpaca leaves IV out there too).
        # Deep in the money the wire never serves an IV (stockbot.sim.greeks_omit), and the solve
        # would cost a bracketed search per contract: skip it.
        iv = (self._implied(mid, theo, vol, g, spot, strike, t_years, c.right)
              if bid_c > 0 and abs(g.delta) <= DEEP_ITM_DELTA else None)
        h = stable_int(c.symbol, int(t_now))  # quote sizes, stable per second
        last = self.tape.latest(c, t_now)
        last_ts = datetime.fromtimestamp(last[0], UTC) if last is not None else None
        return OptionSnapshot(c, now, bid_c / 100.0, ask_c / 100.0, 1 + (h >> 3) % 150,
                              1 + (h >> 11) % 150, theo, vol, iv, g, spot,
                              last[1] if last is not None else None, last[2] if last is not None else None, last_ts)

    def _implied(self, mid, theo, vol, g, spot, strike, t_years, right) -> float | None:
        """The vol at which the American model prices the quoted mid: Newton from the smile vol
        with the model's vega (the mid is usually within a cent of the model price, so the first
        step already lands within a small fraction of a cent), each step checked by repricing;
        the bracketed solver when that does not settle (deep in the money, where the quote is held
        at intrinsic value and the vega nearly vanishes)."""
        if t_years <= 0 or mid <= intrinsic(right, spot, strike) + 1e-6:
            return None
        vega = g.vega * 100.0
        if vega > 1e-3:
            v, price = vol, theo
            for _ in range(4):
                if abs(price - mid) <= 1e-4 and v != vol:
                    return v
                v = v + (mid - price) / vega
                if not 0.01 < v < 5.0:
                    break
                price = self.model.price(spot, strike, t_years, v, RATE, right, DIVIDEND_YIELD)
            if abs(price - mid) <= 1e-4 and 0.01 < v < 5.0:
                return v
        return self.model.implied_vol(mid, spot, strike, t_years, RATE, right, DIVIDEND_YIELD)

    def quote(self, occ: str, now: datetime) -> OptionQuote:
        s = self.snapshot(occ, now)
        return OptionQuote(s.contract, Decimal(round(s.bid * 100)).scaleb(-2),
                           Decimal(round(s.ask * 100)).scaleb(-2), now, s.greeks.delta,
                           s.greeks.gamma, s.greeks.theta, s.greeks.vega, s.iv)

