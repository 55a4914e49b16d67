"""What the agents see: the market context of one decision, and numbers derived from it.

Every string that reaches the machine-readable part of a prompt is constrained by a pattern here,
so it cannot break out of the JSON block. Free text that is not ours (market or news text, lesson
text) is carried as is and fenced, sanitised and length-limited by ``prompt.py``.
"""

from __future__ import annotations

import math
import statistics
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from stockbot.consensus.schema import SYMBOL_RE

# OCC option symbols and index tickers are longer than stock tickers.
CONTRACT_RE = r"^[A-Z0-9. ]{1,25}$"
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_RE)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class StrikeCandidate(_Frozen):
    """One option the condor could use: right, strike, delta, DTE and (optionally) its quote."""

    right: Literal["call", "put"]
    strike: float = Field(gt=0)
    delta: float = Field(ge=-1, le=1)
    dte: int = Field(ge=0, le=1000)
    bid: float | None = Field(None, ge=0)
    ask: float | None = Field(None, ge=0)
    symbol: str | None = Field(None, pattern=CONTRACT_RE)


class EquityCandidate(_Frozen):
    """A screener pick: a symbol, its score (expected return, signed) and the suggested side."""

    symbol: str = Field(pattern=SYMBOL_RE)
    score: float
    side: Literal["long", "short"] | None = None


class AccountConstraints(_Frozen):
    """The account limits the agents should respect (the risk gate enforces them regardless)."""

    max_risk_per_trade: float = Field(0.05, gt=0, le=1)
    max_open_positions: int = Field(8, ge=0)
    open_positions: int = Field(0, ge=0)
    buying_power: float | None = Field(None, ge=0)
    shorting_enabled: bool = False
    max_slate: int = Field(5, ge=1, le=50)


class LessonRef(_Frozen):
    """A retrieved lesson as the caller hands it over: its text is untrusted and gets fenced."""

    id: str = Field(max_length=64)
    title: str = ""
    prevention: str = ""
    score: float | None = None


class MarketContext(_Frozen):
    """Everything one decision is made from. Built by the engine, rendered by ``prompt.py``."""

    strategy: Literal["condor", "equity", "index"]
    symbol: str = Field(pattern=SYMBOL_RE)
    spot: float = Field(gt=0)
    asof: datetime | None = None
    iv_rank: float | None = Field(None, ge=0, le=100)
    iv: float | None = Field(None, ge=0, le=10)
    dte_candidates: tuple[int, ...] = Field((), max_length=50)
    strikes: tuple[StrikeCandidate, ...] = Field((), max_length=400)
    recent_closes: tuple[float, ...] = Field((), max_length=400)
    constraints: AccountConstraints = AccountConstraints()
    candidates: tuple[EquityCandidate, ...] = Field((), max_length=200)
    allowed_symbols: tuple[Symbol, ...] = Field((), max_length=1000)
    market_text: str = ""
    lessons: tuple[LessonRef, ...] = Field((), max_length=50)

    @property
    def is_condor(self) -> bool:
        return self.strategy == "condor"


def price_action(closes: tuple[float, ...] | list[float]) -> dict[str, float | None]:
    """Recent price action from daily closes (oldest first): returns, realised vol, 20-day range."""
    c = [float(x) for x in closes if x and x > 0 and math.isfinite(x)]
    out: dict[str, float | None] = {"last": c[-1] if c else None, "ret_5d": None, "ret_20d": None,
                                    "realized_vol_20d": None, "high_20d": None, "low_20d": None,
                                    "sma_20": None}
    if len(c) >= 6:
        out["ret_5d"] = c[-1] / c[-6] - 1
    if len(c) >= 21:
        out["ret_20d"] = c[-1] / c[-21] - 1
    window = c[-21:]
    if len(window) >= 3:
        logs = [math.log(b / a) for a, b in zip(window, window[1:])]
        out["realized_vol_20d"] = statistics.pstdev(logs) * math.sqrt(252)
        out["high_20d"] = max(window)
        out["low_20d"] = min(window)
        out["sma_20"] = statistics.fmean(window)
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}
