"""Helpers for the equity/index tests: synthetic histories and a bars-only broker double."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Sequence

from stockbot.domain import Bar
from stockbot.strategies.equity.bench import synthetic_histories
from stockbot.strategies.equity.history import NY, PriceHistory

END = date(2026, 11, 17)


def histories(symbols: Sequence[str], sessions: int = 300, *, momentum: float = 0.15, seed: int = 7,
              end: date = END) -> dict[str, PriceHistory]:
    return synthetic_histories(list(symbols), sessions, momentum=momentum, seed=seed, end=end)


def to_bars(hist: PriceHistory) -> list[Bar]:
    """A PriceHistory as the broker's Bars (stamped at midnight New York, like Alpaca's)."""
    out = []
    for i, d in enumerate(hist.dates.astype(date)):
        ts = datetime.combine(d, time(0), NY).astimezone(timezone.utc)
        px = [Decimal(repr(float(a[i]))) for a in (hist.open, hist.high, hist.low, hist.close, hist.volume)]
        out.append(Bar(hist.symbol, ts, *px))
    return out


class BarsBroker:
    """The one broker call the history loader makes (``daily_bars``), served from histories;
    records every request so tests can check what was asked for."""

    def __init__(self, data: dict[str, PriceHistory]):
        self.data = data
        self.requests: list[list[str]] = []

    async def daily_bars(self, symbols, start, end=None):
        self.requests.append(list(symbols))
        return {s: to_bars(self.data[s]) for s in symbols if s in self.data}
