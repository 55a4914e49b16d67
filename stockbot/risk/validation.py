"""Paper-validation gate for live money: 90 days, 30 trades, 80% wins, and a real edge.

From the closed paper trades and the date of the first paper trade compute days, trades, win
rate, profit factor and expectancy; the gate passes iff every criterion does:

  days >= min_days (90)        trades >= min_trades (30)       win rate >= min_win_rate (0.80)
  profit factor > min_profit_factor (1.0)                      expectancy > 0 ($ per trade)

A win is a trade with pnl > 0 (a scratch trade is not a win). Profit factor = gross profit /
gross loss (infinite with profits and no losses; 0 with neither). Pure: ``today`` is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from stockbot.config import ValidationSettings


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    entry: date | datetime
    exit: date | datetime
    pnl: Decimal


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    value: float
    threshold: float
    op: str  # ">=" or ">"
    passed: bool


@dataclass(frozen=True, slots=True)
class ValidationReport:
    days: int
    trades: int
    wins: int
    win_rate: float
    profit_factor: float
    expectancy: Decimal
    gross_profit: Decimal
    gross_loss: Decimal
    first_trade: date | None
    criteria: tuple[Criterion, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    @property
    def failed(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.passed)


def _day(x: date | datetime | None) -> date | None:
    return x.date() if isinstance(x, datetime) else x


def validation_report(trades: Iterable[ClosedTrade], first_paper_trade: date | datetime | None, today: date,
                      settings: ValidationSettings | None = None) -> ValidationReport:
    """Compute the report. ``first_paper_trade`` None: the earliest trade entry (0 days if none)."""
    s = settings or ValidationSettings()
    ts = list(trades)
    pnls = [Decimal(t.pnl) for t in ts]
    n = len(pnls)
    wins = sum(1 for p in pnls if p > 0)
    gross_profit = sum((p for p in pnls if p > 0), Decimal(0))
    gross_loss = -sum((p for p in pnls if p < 0), Decimal(0))
    first = _day(first_paper_trade)
    if first is None and ts:
        first = min(t.entry.date() if isinstance(t.entry, datetime) else t.entry for t in ts)
    days = max((today - first).days, 0) if first else 0
    win_rate = wins / n if n else 0.0
    if gross_loss > 0:
        pf = float(gross_profit / gross_loss)
    else:
        pf = math.inf if gross_profit > 0 else 0.0
    expectancy = (sum(pnls, Decimal(0)) / n) if n else Decimal(0)
    # Exact comparisons: 24/30 must pass a 0.80 threshold without float luck.
    win_ok = n > 0 and Fraction(wins, n) >= Fraction(str(s.min_win_rate))
    criteria = (
        Criterion("days", float(days), float(s.min_days), ">=", days >= s.min_days),
        Criterion("trades", float(n), float(s.min_trades), ">=", n >= s.min_trades),
        Criterion("win_rate", win_rate, s.min_win_rate, ">=", win_ok),
        Criterion("profit_factor", pf, s.min_profit_factor, ">", n > 0 and pf > s.min_profit_factor),
        Criterion("expectancy", float(expectancy), 0.0, ">", expectancy > 0),
    )
    return ValidationReport(days, n, wins, win_rate, pf, expectancy, gross_profit, gross_loss, first, criteria)


def _fmt(name: str, v: float) -> str:
    if name == "win_rate":
        return f"{v:.1%}"
    if name in ("days", "trades"):
        return f"{int(v)}"
    if math.isinf(v):
        return "inf"
    return f"{v:.2f}"


def render_table(report: ValidationReport) -> str:
    """A plain-text table, one row per criterion, and the verdict."""
    rows = [("criterion", "value", "needs", "pass")]
    for c in report.criteria:
        rows.append((c.name, _fmt(c.name, c.value), f"{c.op} {_fmt(c.name, c.threshold)}", "yes" if c.passed else "NO"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verdict = "PASSED: live trading allowed" if report.passed else \
        "NOT PASSED: " + ", ".join(c.name for c in report.failed)
    return "\n".join(lines + ["", verdict])


def live_allowed(report: ValidationReport | None, paper: bool, override: bool) -> tuple[bool, str]:
    """May this account trade? Paper accounts always may (that is how validation happens).

    A live account may when the report passed. ``override`` lets a live account trade anyway;
    the caller MUST then log the returned reason at WARNING/ERROR level with the report and
    raise an alert, every time the daemon starts (it is the operator's explicit, visible choice).
    A missing report counts as not passed.
    """
    if paper:
        return True, "paper account: no validation needed"
    if report is not None and report.passed:
        return True, "paper validation passed"
    failed = "no validation report" if report is None else ", ".join(
        f"{c.name} {_fmt(c.name, c.value)} (needs {c.op} {_fmt(c.name, c.threshold)})" for c in report.failed)
    if override:
        return True, f"OVERRIDE: live trading allowed although paper validation has not passed: {failed}"
    return False, f"paper validation not passed: {failed}"


def trades_from_rows(rows: Sequence[tuple[date | datetime, date | datetime, Decimal | str | float]]) -> list[ClosedTrade]:
    """Convenience: ``[(entry, exit, pnl), ...]`` -> ClosedTrades (pnl through Decimal(str()))."""
    return [ClosedTrade(e, x, p if isinstance(p, Decimal) else Decimal(str(p))) for e, x, p in rows]
