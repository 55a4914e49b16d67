"""The market of the local exchange: deterministic stock quotes, bars and listed options.

Every price is a pure function of (seed, symbol, time): the daily history comes from
:mod:`market_daily`, the path inside each day from :mod:`market_intraday`, option chains from
:mod:`market_options`. Two processes with the same seed therefore quote the same prices at the same
instant, and today's daily bar is exactly the session so far. Any syntactically valid ticker is
generated on first use (``lazy=True``), so a full S&P 500 universe works without a list.

Hot path (the quote stream asks thousands of times per second): :meth:`Market.quote_raw` works on
POSIX seconds and floats, caching the current minute's 61 second prices per symbol.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import OrderedDict
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Iterable

from stockbot.domain import Bar, OptionContract, OptionQuote, Quote
from stockbot.sim import market_symbols as ms
from stockbot.sim.clock import (NY, SimClock, is_trading_day, prev_trading_day, session_close_utc,
                                session_open_utc, trading_day_for)
from stockbot.sim.market_bars import day_epoch
from stockbot.sim.market_daily import DailyModel, DayBar
from stockbot.sim.market_intraday import DayPath, build_day_path
from stockbot.sim.market_option_trades import OptionTape
from stockbot.sim.market_options import OptionBook

UTC = timezone.utc
_ID_NAMESPACE = uuid.UUID("6f1c2b1e-3d4a-4c8e-9a57-5e0b6a1d2c30")
ASSET_NAMESPACE = _ID_NAMESPACE  # asset ids: uuid5(ASSET_NAMESPACE, "asset:" + symbol)


def money2(x: float) -> Decimal:
    """A float price as a 2-decimal Decimal (no binary noise)."""
    return Decimal(int(round(x * 100))).scaleb(-2)


class Market:
    """Deterministic quotes, bars and option chains for the local exchange."""

    def __init__(self, clock: SimClock, seed: int = 0, symbols: Iterable[str] | None = None,
                 bars_csv: Path | None = None, *, lazy: bool = True) -> None:
        self.clock = clock
        self.seed = int(seed)
        self.lazy = lazy
        self.daily = DailyModel(self.seed, Path(bars_csv) if bars_csv else None)
        base = list(symbols) if symbols is not None else list(ms.DEFAULT_SYMBOLS)
        extra = [s for s in self.daily.csv_symbols() if s not in base]
        self._universe: list[str] = [s.upper() for s in base + extra]
        self._known: set[str] = set(self._universe)
        self._paths: OrderedDict[tuple[str, date], DayPath] = OrderedDict()
        self._minute: dict[str, tuple[tuple, list[float]]] = {}
        self._recent_minutes: OrderedDict[tuple, list[float]] = OrderedDict()
        self._segment: tuple[float, float, float, date] | None = None
        self._lock = threading.RLock()
        self._options: OptionBook | None = None

    # -- universe --------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """The default universe (what ``"*"`` on the stream means), in a stable order."""
        return list(self._universe)

    def has_symbol(self, sym: str) -> bool:
        """True for a symbol of the universe, or any valid ticker when the market is lazy."""
        return sym in self._known or (self.lazy and ms.is_valid_ticker(sym))

    def _check(self, sym: str) -> None:
        if not self.has_symbol(sym):
            raise KeyError(sym)

    def asset_id(self, sym: str) -> str:
        """A stable UUID for an asset (stock or OCC option symbol)."""
        return str(uuid.uuid5(_ID_NAMESPACE, f"asset:{sym}"))

    def tape(self, sym: str) -> str:
        """Alpaca's tape letter: B for the ETFs, C for Nasdaq-100 names, A otherwise."""
        if sym in ms.INDEX_ETFS:
            return "B"
        return "C" if sym in ms.NASDAQ100 else "A"

    # -- the price path --------------------------------------------------------------------
    def day_path(self, sym: str, d: date) -> DayPath:
        """The cached intraday path of ``sym`` for trading day ``d``."""
        key = (sym, d)
        with self._lock:
            path = self._paths.get(key)
            if path is not None:
                self._paths.move_to_end(key)
                return path
        path = build_day_path(self.daily, sym, d)
        with self._lock:
            self._paths[key] = path
            while len(self._paths) > 1500:  # ~20-40 KB each
                self._paths.popitem(last=False)
        return path

    def _segment_for(self, t: float) -> tuple[float, float, float, date]:
        seg = self._segment
        if seg is not None and seg[0] < t <= seg[2]:
            return seg
        d = trading_day_for(datetime.fromtimestamp(t, UTC))
        seg = (session_close_utc(prev_trading_day(d)).timestamp(), session_open_utc(d).timestamp(),
               session_close_utc(d).timestamp(), d)
        self._segment = seg
        return seg

    def mid_at(self, sym: str, t: float) -> float:
        """The (unrounded) price of ``sym`` at POSIX time ``t``: linear between seconds."""
        seg_start, t_open, _t_close, d = self._segment_for(t)
        if t <= t_open:
            part, s = "o", t - seg_start
        else:
            part, s = "s", t - t_open
        k = int(s // 60.0)
        cached = self._minute.get(sym)
        key = (d, part, k)
        if cached is not None and cached[0] == key:
            prices = cached[1]
        else:
            path = self.day_path(sym, d)
            n = path.overnight_minutes if part == "o" else path.session_minutes
            if k >= n:
                k = n - 1
                key = (d, part, k)
            # A second cache of recent minutes: option trades and history reads ask for minutes
            # other than the current one, which would evict it on every call.
            prices = self._recent_minutes.get((sym, key))
            if prices is None:
                prices = path.minute_prices(part, k)
                self._recent_minutes[(sym, key)] = prices
                if len(self._recent_minutes) > 20000:
                    self._recent_minutes.popitem(last=False)
            self._minute[sym] = (key, prices)
        x = s - 60.0 * k
        j = int(x)
        if j >= 60:
            return prices[60]
        return prices[j] + (prices[j + 1] - prices[j]) * (x - j)

    def quote_raw(self, sym: str, t: float) -> tuple[float, float, int, int]:
        """(bid, ask, bid_size, ask_size) of a stock at POSIX time ``t`` (dollars; sizes in shares)."""
        mid = self.mid_at(sym, t)
        p = self.daily.params(sym)
        spread_c = max(1, int(round(mid * p.spread_bps * 1e-2)))
        bid_c = max(1, int(math.floor(mid * 100.0 - spread_c / 2.0 + 0.5)))
        h = ((p.sym_id ^ (int(t) * 0x9E3779B97F4A7C15)) * 0xBF58476D1CE4E5B9) >> 40
        return bid_c / 100.0, (bid_c + spread_c) / 100.0, 100 * (1 + h % 9), 100 * (1 + (h >> 5) % 9)

    def trade_raw(self, sym: str, t: float) -> tuple[float, int, int, float]:
        """(price, size, trade id, trade time) of the latest trade at or before ``t`` (1 per second)."""
        ts = math.floor(t)
        bid, ask, _, _ = self.quote_raw(sym, ts)
        mid = self.mid_at(sym, ts)
        price = min(ask, max(bid, round(mid, 2)))
        h = (self.daily.params(sym).sym_id * 31 + int(ts)) % 977
        return price, 100 + h // 10 * 5, int(ts) % 10_000_000_000, float(ts)

    # -- quotes (domain types) -------------------------------------------------------------
    def quote_at(self, sym: str, ts: datetime) -> Quote:
        """The quote of a stock (or a listed OCC option) at ``ts``."""
        if sym not in self._known and not ms.is_valid_ticker(sym):
            oq = self.option_quote_at(sym, ts)  # KeyError for anything unlisted
            return Quote(sym, oq.bid, oq.ask, oq.ts, Decimal(10), Decimal(10))
        self._check(sym)
        bid, ask, bs, as_ = self.quote_raw(sym, ts.timestamp())
        return Quote(sym, money2(bid), money2(ask), ts.astimezone(UTC), Decimal(bs), Decimal(as_))

    def quote(self, sym: str) -> Quote:
        """The quote now (stock, or a listed OCC option). Unknown symbol -> KeyError."""
        return self.quote_at(sym, self.clock.now())

    def price(self, sym: str) -> Decimal:
        """Mid of the quote now (a tenth of a cent at most: bid and ask are whole cents)."""
        q = self.quote(sym)
        return ((q.bid + q.ask) / 2).quantize(Decimal("0.001")).normalize() if q.ask else q.bid

    # -- daily bars ------------------------------------------------------------------------
    def day_bar(self, sym: str, d: date, now: float | None = None) -> DayBar | None:
        """The daily bar of trading day ``d`` as of ``now``: full once closed, the session so far
        while open, None before the open (or for a non-trading day)."""
        now = self.clock.now_epoch() if now is None else now
        if not is_trading_day(d) or now < session_open_utc(d).timestamp():
            return None
        if now >= session_close_utc(d).timestamp():
            return self.daily.bar(sym, d)
        return self._partial_day(sym, d, now)

    def _partial_day(self, sym: str, d: date, now: float) -> DayBar:
        path = self.day_path(sym, d)
        s = now - path.open_epoch
        k = min(int(s // 60), path.session_minutes - 1)
        j = int(s - 60 * k)
        cur = path.session_rows(k, k + 1)[0][: j + 1]
        hi = max(float(path.minute_hi[:k].max()) if k else -1e300, float(cur.max()))
        lo = min(float(path.minute_lo[:k].min()) if k else 1e300, float(cur.min()))
        last = self.mid_at(sym, now)
        mv = path.minute_vol
        vol = int(mv[:k].sum() + mv[k] * (s - 60 * k) / 60.0)
        p = self.daily.params(sym)
        o = path.bar.open
        h, low = max(math.exp(hi), last, o), min(math.exp(lo), last, o)
        return DayBar(d, o, h, low, last, vol, max(1, int(vol / p.trade_size)), (h + low + 2 * last) / 4)

    def day_bars(self, sym: str, first: date, last: date, now: float | None = None) -> list[DayBar]:
        """Daily bars of the trading days in ``[first, last]`` as of ``now`` (today's partial bar
        included while the session runs; nothing for days that have not opened yet)."""
        now = self.clock.now_epoch() if now is None else now
        today = trading_day_for(datetime.fromtimestamp(now, UTC))
        out: list[DayBar] = []
        for year in range(first.year, min(last, today).year + 1):
            for b in self.daily.year_bars(sym, year):
                if first <= b.day <= last and b.day < today:
                    out.append(b)
        if first <= today <= last:
            b = self.day_bar(sym, today, now)
            if b is not None:
                out.append(b)
        return out

    def daily_bars(self, sym: str, start: datetime, end: datetime) -> list[Bar]:
        """Daily bars whose timestamp (midnight New York) lies in ``[start, end]``."""
        self._check(sym)
        first = start.astimezone(NY).date()
        last = end.astimezone(NY).date()
        out = []
        for b in self.day_bars(sym, first, last):
            ts = day_stamp(b.day)
            if start <= ts <= end:
                out.append(Bar(sym, ts, money2(b.open), money2(b.high), money2(b.low),
                               money2(b.close), Decimal(b.volume)))
        return out

    def settlement_price(self, sym: str, d: date) -> Decimal:
        """The official close of ``d`` (of the last trading day before, if ``d`` is not one)."""
        self._check(sym)
        return money2(self.daily.close(sym, d))

    # -- options ---------------------------------------------------------------------------
    @property
    def options(self) -> OptionBook:
        """The option book (listing and pricing), created on first use."""
        if self._options is None:
            book = OptionBook(self)
            book.tape = OptionTape(book)
            self._options = book
        return self._options

    def option_contracts(self, underlying: str) -> list[OptionContract]:
        """Contracts listed today on ``underlying`` (weekly + monthly expirations, strike grid)."""
        self._check(underlying)
        return self.options.contracts(underlying, self.clock.now())

    def is_listed_option(self, occ: str) -> bool:
        """True while ``occ`` is a listed, unexpired contract."""
        return self.options.is_listed(occ, self.clock.now())

    def option_quote_at(self, occ: str, ts: datetime) -> OptionQuote:
        """Bid/ask/greeks/iv of a listed contract at ``ts``; KeyError if not listed."""
        return self.options.quote(occ, ts)

    def option_quote(self, occ: str) -> OptionQuote:
        """Bid/ask/greeks/iv of a listed contract now (Black-Scholes on a skewed smile)."""
        return self.options.quote(occ, self.clock.now())


def day_stamp(d: date) -> datetime:
    """Alpaca's timestamp of a daily bar: midnight New York of that date, in UTC."""
    return datetime.fromtimestamp(day_epoch(d), UTC)
