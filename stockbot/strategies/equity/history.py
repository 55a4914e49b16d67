"""Daily price histories of a universe: fetched in multi-symbol chunks, held as numpy arrays.

``PriceHistory`` is one symbol's completed sessions (dates ascending, float64 OHLCV). Only
*completed* sessions are kept: a bar dated on or after the market's current date may still be
forming, and a feature computed from it would not match the same feature computed tomorrow.

``HistoryLoader`` fetches a universe with one ``daily_bars`` request per chunk of symbols, checks
every requested and returned symbol against the account's universe, and keeps the result for the
market date in memory and in ``<models dir>/bars-<universe>-<date>.npz`` (one file, replaced each
day) so the decision, advisor and training jobs and the CLI share one download a day.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np
import structlog

from stockbot.domain import Bar
from stockbot.strategies.equity.universes import Universe
from stockbot.fsutil import atomic_write_bytes
from stockbot.trading.port import Broker

log = structlog.get_logger(__name__)
NY = ZoneInfo("America/New_York")
CHUNK = 100  # symbols per daily_bars request: 5 requests for the S&P 500
DEFAULT_LOOKBACK_DAYS = 800  # calendar days: ~2 years of sessions for training and features


@dataclass(frozen=True, slots=True)
class PriceHistory:
    """One symbol's completed daily sessions, oldest first."""

    symbol: str
    dates: np.ndarray  # datetime64[D], New York session dates
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return int(self.dates.shape[0])

    def until(self, cutoff: date | np.datetime64) -> "PriceHistory":
        """The sessions dated on or before ``cutoff`` (nothing after it survives)."""
        day = np.datetime64(cutoff, "D") if isinstance(cutoff, date) else cutoff.astype("datetime64[D]")
        n = int(np.searchsorted(self.dates, day, side="right"))
        return PriceHistory(self.symbol, self.dates[:n], self.open[:n], self.high[:n], self.low[:n],
                            self.close[:n], self.volume[:n])

    def tail(self, n: int) -> "PriceHistory":
        """The last ``n`` sessions."""
        k = max(0, len(self) - n)
        return PriceHistory(self.symbol, self.dates[k:], self.open[k:], self.high[k:], self.low[k:],
                            self.close[k:], self.volume[k:])

    @property
    def last_date(self) -> date | None:
        return self.dates[-1].astype(date) if len(self) else None


def session_date(ts: datetime) -> date:
    """The New York date a daily bar belongs to (Alpaca stamps them at midnight New York)."""
    return ts.astimezone(NY).date()


def history_from_bars(symbol: str, bars: Sequence[Bar], before: date | None = None) -> PriceHistory:
    """Bars -> PriceHistory; drops bars dated ``before`` or later, duplicates and non-positive closes."""
    rows: dict[date, Bar] = {}
    for b in bars:
        d = session_date(b.ts)
        if (before is not None and d >= before) or b.close <= 0:
            continue
        rows[d] = b
    days = sorted(rows)

    def arr(field: str) -> np.ndarray:
        return np.array([float(getattr(rows[d], field)) for d in days], dtype=np.float64)

    return PriceHistory(symbol, np.array(days, dtype="datetime64[D]"), arr("open"), arr("high"), arr("low"),
                        arr("close"), arr("volume"))


def chunks(items: Sequence[str], size: int = CHUNK) -> list[list[str]]:
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def save_histories(path: Path, histories: Mapping[str, PriceHistory]) -> None:
    """Store histories as one .npz (no pickles: loading it can never run code)."""
    arrays: dict[str, np.ndarray] = {"symbols": np.array(sorted(histories), dtype="U16")}
    for i, sym in enumerate(sorted(histories)):
        h = histories[sym]
        arrays[f"d{i}"] = h.dates.astype("int64")
        arrays[f"v{i}"] = np.vstack([h.open, h.high, h.low, h.close, h.volume])
    buf = io.BytesIO()
    # numpy's stub types **kwds as its own keyword ``allow_pickle: bool``; every key here is an array name.
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buf.getvalue())


def load_histories(path: Path) -> dict[str, PriceHistory]:
    with np.load(path, allow_pickle=False) as z:
        out = {}
        for i, sym in enumerate(z["symbols"].tolist()):
            v = z[f"v{i}"]
            out[sym] = PriceHistory(sym, z[f"d{i}"].astype("datetime64[D]"), v[0], v[1], v[2], v[3], v[4])
        return out


class HistoryLoader:
    """Fetches (and caches per market date) the completed daily history of one universe."""

    def __init__(self, broker: Broker, universe: Universe, cache_dir: Path | None = None, *,
                 lookback_days: int = DEFAULT_LOOKBACK_DAYS, chunk: int = CHUNK):
        self.broker = broker
        self.universe = universe
        self.cache_dir = cache_dir
        self.lookback_days = lookback_days
        self.chunk = chunk
        self._memo: tuple[date, dict[str, PriceHistory]] | None = None

    def _cache_path(self, market_date: date) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"bars-{self.universe.name}-{market_date.isoformat()}.npz"

    async def load(self, market_date: date, symbols: Iterable[str] | None = None) -> dict[str, PriceHistory]:
        """Histories of ``symbols`` (default: every constituent and the ETF) for sessions before
        ``market_date``. Raises UniverseError for a symbol outside the universe."""
        wanted = sorted(set(symbols) if symbols is not None else self.universe.symbols)
        self.universe.require(wanted, "history request")
        have = self._cached(market_date)
        missing = [s for s in wanted if s not in have]
        if missing:
            fetched = await self._fetch(missing, market_date)
            have = {**have, **fetched}
            self._remember(market_date, have)
        return {s: have[s] for s in wanted if s in have}

    def _cached(self, market_date: date) -> dict[str, PriceHistory]:
        if self._memo is not None and self._memo[0] == market_date:
            return self._memo[1]
        path = self._cache_path(market_date)
        if path is not None and path.exists():
            try:
                data = load_histories(path)
                self.universe.require(data, "history cache")
                self._memo = (market_date, data)
                return data
            except Exception as exc:  # noqa: BLE001 - a bad cache file is refetched, never trusted
                log.warning("equities.history_cache_unreadable", path=str(path), error=str(exc))
        return {}

    def _remember(self, market_date: date, data: dict[str, PriceHistory]) -> None:
        self._memo = (market_date, data)
        path = self._cache_path(market_date)
        if path is None:
            return
        save_histories(path, data)
        for old in path.parent.glob(f"bars-{self.universe.name}-*.npz"):
            if old != path:
                old.unlink(missing_ok=True)

    async def _fetch(self, symbols: list[str], market_date: date) -> dict[str, PriceHistory]:
        start = datetime.combine(market_date - timedelta(days=self.lookback_days), time(0), NY)
        out: dict[str, PriceHistory] = {}
        for part in chunks(symbols, self.chunk):
            bars = await self.broker.daily_bars(part, start=start)
            # The broker must not hand us symbols we did not ask for (and cannot widen the universe).
            self.universe.require(bars, "daily bars answer")
            for sym, rows in bars.items():
                if sym in part:
                    hist = history_from_bars(sym, rows, before=market_date)
                    if len(hist):
                        out[sym] = hist
        log.info("equities.history_fetched", universe=self.universe.name, symbols=len(symbols),
                 returned=len(out), requests=len(chunks(symbols, self.chunk)))
        return out
