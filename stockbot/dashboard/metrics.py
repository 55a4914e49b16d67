"""Pure figures the dashboard shows, computed from store rows (no I/O, ``now`` is an argument).

Equity figures follow the engine's conventions: the trading day is New York's, money is Decimal,
timestamps are aware UTC. Event-derived states (out of capital, stream freshness, last job runs)
read the same event kinds the daemon and the engine write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Sequence

from stockbot.config import RiskSettings
from stockbot.trading.riskctx import ny_midnight, start_of_week_equity
from stockbot.risk.states import StateInputs, TradingState, state_inputs, transition
from stockbot.store_rows import TradeRow

# Written by stockbot.strategies.condor.engine (OUT_OF_CAPITAL / CAPITAL_RESTORED); a test pins them equal.
OUT_OF_CAPITAL = "out_of_capital"
CAPITAL_RESTORED = "capital_restored"
# The daemon's jobs and the events that show each one ran (stockbot.daemon.jobs / reconciler).
JOB_EVENTS: dict[str, tuple[str, ...]] = {
    "decision": ("decision_cycle", "decision_skipped"),
    "manage": ("manage_cycle",),
    "reconcile": ("reconciled", "startup_reconciled"),
    "eod": ("eod_report",),
    # equity / index accounts
    "advise": ("advise_done",),
    "grade": ("grade_done",),
    "train": ("train_done",),
    "train_if_needed": ("train_checked",),
    "catch_up": ("decision_catch_up",),  # only when a missed decision was made up for
}
CORE_JOBS = ("decision", "manage", "reconcile", "eod")  # shown for every account; the others once they ran
# Quote stream events (stockbot.broker.stream via StreamMonitor, and the daemon's restarts).
STREAM_GOOD = ("stream_connected", "stream_recovered")
STREAM_BAD = ("stream_stale", "stream_406", "stream_error", "stream_stopped")
STREAM_EVENTS = STREAM_GOOD + STREAM_BAD + ("stream_restarted",)

Point = tuple[datetime, Decimal]


@dataclass(frozen=True, slots=True)
class EquityFigures:
    """Latest equity, today's change, drawdown series and its worst value (a share, <= 0)."""

    latest: Decimal | None
    latest_ts: datetime | None
    pnl_today: Decimal | None  # None: no equity recorded today (New York day)
    drawdown: tuple[Point, ...]
    max_drawdown: Decimal
    start_of_day: Decimal | None
    start_of_week: Decimal | None


def drawdown_series(points: Sequence[Point]) -> list[Point]:
    """Drawdown from the running peak as a share (0 at a new high, -0.1 = 10% below the peak)."""
    out: list[Point] = []
    peak: Decimal | None = None
    for ts, equity in points:
        peak = equity if peak is None or equity > peak else peak
        out.append((ts, (equity / peak - 1) if peak > 0 else Decimal(0)))
    return out


def equity_figures(points: Sequence[Point], now: datetime) -> EquityFigures:
    """Figures from the equity curve (sorted by time). Today's P&L is the latest equity minus the
    last equity recorded before New York midnight (or today's first, on an account's first day)."""
    if not points:
        return EquityFigures(None, None, None, (), Decimal(0), None, None)
    midnight = ny_midnight(now)
    before = [e for ts, e in points if ts < midnight]
    today = [e for ts, e in points if midnight <= ts <= now]
    sod = before[-1] if before else (today[0] if today else None)
    latest_ts, latest = points[-1]
    pnl_today = (today[-1] - sod) if today and sod is not None else None
    dd = drawdown_series(points)
    worst = min((d for _, d in dd), default=Decimal(0))
    sow = start_of_week_equity([(ts, e, Decimal(0)) for ts, e in points], now, sod) if sod is not None else None
    return EquityFigures(latest, latest_ts, pnl_today, tuple(dd), worst, sod, sow)


def downsample(points: Sequence[Point], max_points: int = 1500) -> list[Point]:
    """At most about ``max_points`` points for a chart, keeping each bucket's low and high (so a
    drawdown's bottom is never smoothed away), in time order, first and last always kept."""
    n = len(points)
    if n <= max_points or max_points < 4:
        return list(points)
    buckets = max_points // 2
    size = n / buckets
    out: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = points[int(b * size):int((b + 1) * size)]
        if not chunk:
            continue
        lo = min(chunk, key=lambda p: p[1])
        hi = max(chunk, key=lambda p: p[1])
        for p in sorted({lo, hi}, key=lambda p: p[0]):
            if p != out[-1]:
                out.append(p)
    if out[-1] != points[-1]:
        out.append(points[-1])
    return out


def realised_pnl(trades: Iterable[TradeRow]) -> tuple[Decimal, int]:
    """Sum of closed trades' P&L and how many closed trades have a known P&L."""
    total, n = Decimal(0), 0
    for t in trades:
        if t.status == "closed" and t.pnl is not None:
            total += t.pnl
            n += 1
    return total, n


def capital_state(out_events: Sequence[Any], back_events: Sequence[Any]) -> dict[str, Any] | None:
    """The last ``out_of_capital`` payload while that state lasts (same rule as the engine)."""
    if not out_events:
        return None
    last_out = out_events[-1]
    if back_events and back_events[-1].seq > last_out.seq:
        return None
    return {"ts": last_out.ts, **last_out.payload}


@dataclass(frozen=True, slots=True)
class StreamState:
    """``fresh`` | ``stale`` | ``unknown`` and the event that says so."""

    status: str
    kind: str | None
    ts: datetime | None


def stream_state(events: Sequence[Any]) -> StreamState:
    """Freshness of the quote stream from its latest good/bad event (restarts are neutral)."""
    relevant = [e for e in events if e.kind in STREAM_GOOD + STREAM_BAD]
    if not relevant:
        return StreamState("unknown", None, None)
    last = max(relevant, key=lambda e: e.seq)
    return StreamState("fresh" if last.kind in STREAM_GOOD else "stale", last.kind, last.ts)


@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    last_run: datetime | None
    last_crash: datetime | None
    crash_error: str | None

    @property
    def crashed_last(self) -> bool:
        """The latest thing this job did was crashing."""
        return self.last_crash is not None and (self.last_run is None or self.last_crash > self.last_run)


def job_runs(by_kind: dict[str, Sequence[Any]], crashes: Sequence[Any]) -> list[JobRun]:
    """Last run and last crash of each daemon job (``by_kind``: events per kind, oldest first)."""
    out = []
    for job, kinds in JOB_EVENTS.items():
        runs = [e for k in kinds for e in by_kind.get(k, ())]
        last_run = max((e.ts for e in runs), default=None)
        mine = [e for e in crashes if e.payload.get("job") == job]
        last = max(mine, key=lambda e: e.seq) if mine else None
        if job not in CORE_JOBS and last_run is None and last is None:
            continue  # an equity-only job on a condor account: nothing to show
        out.append(JobRun(job, last_run, last.ts if last else None,
                          str(last.payload.get("error", "")) if last else None))
    return out


# Reason codes for TradingState causes (the page translates codes, not the engine's English).
STATE_REASONS = (("stop_flag", "stop_flag"), ("floor_breached", "equity_floor"),
                 ("daily_loss_breached", "daily_loss"), ("weekly_loss_breached", "weekly_loss"),
                 ("out_of_capital", "out_of_capital"))


def trading_state(risk: RiskSettings, *, stop: bool, figures: EquityFigures,
                  out_of_capital: bool) -> tuple[TradingState, tuple[str, ...]]:
    """The account's trading state as the risk gate would compute it from the recorded equity
    (the engine uses the broker's live figures; without equity data only STOP and capital count)."""
    if figures.latest is None or figures.start_of_day is None:
        inputs = StateInputs(stop_flag=stop, out_of_capital=out_of_capital)
    else:
        inputs = state_inputs(risk, stop_flag=stop, equity=figures.latest, start_of_day_equity=figures.start_of_day,
                              start_of_week_equity=figures.start_of_week or figures.start_of_day,
                              out_of_capital=out_of_capital)
    state = transition(inputs).state
    return state, tuple(code for attr, code in STATE_REASONS if getattr(inputs, attr))
