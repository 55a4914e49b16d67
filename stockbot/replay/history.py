"""The replay's market history: real daily sessions, a volatility level for each, an intraday path.

Data (shipped inside the ``arch`` package, never copied into this repository): S&P 500 daily OHLC
1999-01-04 .. 2018-12-31 and the VIX close 2014-01-03 .. 2019-01-03. SPY is modelled as the index
divided by 10. Each session's at-the-money implied volatility (annualised, as a fraction) is the
VIX close / 100 where the VIX exists; before it, the conditional volatility of a GARCH(1,1) with
Student-t innovations fitted with ``arch`` on the daily log returns of 1999-2013 (a filtered
series: each day's value uses only the returns before it; the parameters are fitted in-sample,
which the README states) scaled by ``IV_OVER_REALIZED`` (implied volatility has run above
realised volatility on average: the VIX premium; the factor is measured on 2014-2018, where both
exist, and stated in the output). Any other daily CSV with the same columns (Date, Open, High,
Low, Close) can be given; its vol then comes from the GARCH fit on its own returns.

Sessions are the days the data has; every one must be an XNYS session of ``exchange_calendars``
(a data day the exchange was closed is an error, never a silent skip).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from stockbot.errors import StockbotError

SPY_PER_INDEX = 0.1  # SPY tracks the S&P 500 at about a tenth of its level
TRADING_DAYS = 252
GARCH_FIT_END = date(2013, 12, 31)  # the GARCH is fitted where there is no VIX


class HistoryError(StockbotError):
    """The history cannot be used as given (missing columns, days the exchange was closed).

    Caller: operator fix (choose another file or period).
    """


@dataclass(frozen=True, slots=True)
class Session:
    """One trading day of the modelled underlying (SPY units) and its implied-vol level."""

    day: date
    open: float
    high: float
    low: float
    close: float
    vol: float  # annualised ATM implied volatility (0.2 = 20 %)
    vol_source: str  # "vix" | "garch"


@dataclass(frozen=True, slots=True)
class History:
    sessions: tuple[Session, ...]
    iv_over_realized: float
    garch: dict[str, float]
    source: str

    def between(self, first: date, last: date) -> tuple[Session, ...]:
        return tuple(s for s in self.sessions if first <= s.day <= last)


def _frame_from_csv(path: Path) -> Any:
    import pandas as pd

    frame = pd.read_csv(path, parse_dates=["Date"], index_col="Date")
    missing = {"Open", "High", "Low", "Close"} - set(frame.columns)
    if missing:
        raise HistoryError(f"{path}: missing column(s) {', '.join(sorted(missing))} (need Date, Open, High, Low, Close)")
    return frame


def _garch_vol(closes: Any, fit_end: date | None) -> tuple[Any, dict[str, float]]:
    """Annualised conditional volatility (fraction) per day from a GARCH(1,1)-t on log returns."""
    from arch import arch_model

    returns = 100 * np.log(closes).diff().dropna()
    sample = returns if fit_end is None else returns[returns.index.date <= fit_end]
    fitted = arch_model(sample, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fit(disp="off")
    # Filter the whole series with the fitted parameters: day t's variance uses returns before t only.
    filtered = arch_model(returns, mean="Constant", vol="GARCH", p=1, q=1, dist="t").fix(fitted.params)
    vol = filtered.conditional_volatility * math.sqrt(TRADING_DAYS) / 100
    params = {k: float(v) for k, v in fitted.params.items()}
    return vol, params


def _check_calendar(days: Sequence[date]) -> None:
    import exchange_calendars as xc
    import pandas as pd

    cal = xc.get_calendar("XNYS", start=pd.Timestamp(days[0]), end=pd.Timestamp(days[-1]))
    listed = {d.date() for d in cal.sessions}
    closed = [d for d in days if d not in listed]
    if closed:
        raise HistoryError(f"{len(closed)} data day(s) the exchange calendar has no session for, first "
                           f"{closed[0].isoformat()}: the history and the calendar must agree")


def load_history(csv: Path | None = None) -> History:
    """The sessions of the arch S&P 500 dataset (or of ``csv``), with a vol level for each."""
    import pandas as pd

    if csv is None:
        from arch.data import sp500, vix

        frame, vix_close, source = sp500.load(), vix.load()["vix"], "arch.data.sp500 + arch.data.vix"
        fit_end: date | None = GARCH_FIT_END
    else:
        frame, vix_close, source, fit_end = _frame_from_csv(csv), None, str(csv), None
    frame = frame.sort_index()
    closes = frame["Close"].astype(float)
    garch, params = _garch_vol(closes, fit_end)
    ratio = 1.0
    if vix_close is not None:  # the VIX premium over the GARCH where both exist
        both = pd.concat([vix_close / 100, garch], axis=1, join="inner").dropna()
        ratio = float((both.iloc[:, 0] / both.iloc[:, 1]).median())
    days = [ts.date() for ts in frame.index]
    _check_calendar(days)
    sessions = []
    for ts, row in frame.iterrows():
        day = ts.date()
        if vix_close is not None and ts in vix_close.index and not math.isnan(vix_close[ts]):
            vol, kind = float(vix_close[ts]) / 100, "vix"
        elif ts in garch.index:
            vol, kind = float(garch[ts]) * ratio, "garch"
        else:  # the first day has no return before it: its vol is the next day's
            vol, kind = float(garch.iloc[0]) * ratio, "garch"
        sessions.append(Session(day, float(row["Open"]) * SPY_PER_INDEX, float(row["High"]) * SPY_PER_INDEX,
                                float(row["Low"]) * SPY_PER_INDEX, float(row["Close"]) * SPY_PER_INDEX,
                                round(vol, 6), kind))
    return History(tuple(sessions), round(ratio, 4), params, source)


def intraday_path(session: Session, points: int, seed: int) -> list[float]:
    """``points`` prices through the session (first = open, last = close) that reach the high and
    the low at their anchor points and stay strictly inside (low, high) elsewhere: Brownian bridges between the anchors,
    the low first on an up day and the high first on a down day (a common, simple convention),
    anchor times drawn with the seed. The same session, points and seed give the same path."""
    if points < 4:
        raise ValueError("an intraday path needs at least 4 points (open, high, low, close)")
    rng = np.random.default_rng([seed, session.day.toordinal()])
    o, h, lo, c = session.open, session.high, session.low, session.close
    first, second = (lo, h) if c >= o else (h, lo)
    i1, i2 = sorted(rng.choice(np.arange(1, points - 1), size=2, replace=False))
    anchors = [(0, o), (int(i1), first), (int(i2), second), (points - 1, c)]
    path = np.empty(points)
    scale = max(h - lo, 1e-9)
    for (ia, pa), (ib, pb) in zip(anchors, anchors[1:]):
        n = ib - ia
        steps = rng.standard_normal(n) * scale / math.sqrt(max(points, 1)) * 0.5
        walk = np.concatenate([[0.0], np.cumsum(steps)])
        bridge = walk - np.linspace(0, 1, n + 1) * walk[-1]
        path[ia:ib + 1] = np.linspace(pa, pb, n + 1) + bridge
    inner = np.ones(points, dtype=bool)
    inner[[a for a, _ in anchors]] = False
    # Keep every non-anchor point strictly inside the range, so the high and low are touched only at their anchors.
    eps = scale * 1e-6
    path[inner] = np.clip(path[inner], lo + eps, h - eps)
    for ia, pa in anchors:
        path[ia] = pa
    return [float(x) for x in path]
