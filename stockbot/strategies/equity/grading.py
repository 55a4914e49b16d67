"""The grader: past picks against realized returns -> per-pick grades and the account's learnings.

A pick made from the close of session ``t`` (its ``last_date``) is graded like the screener's
label: return from the close of ``t`` to the close ``N`` sessions later (N = the file's
``forward_days``), signed by side (a short gains when the price falls), next to the index ETF over
the same sessions. A pick whose exit session has not closed yet waits for a later run.

Files: reads ``picks/YYYY-MM-DD.json``; writes ``picks/grades/YYYY-MM-DD.json`` once every pick of
that day is graded, and ``picks/learnings.json`` + ``picks/LEARNINGS.md``: hit rate and average
return overall, by side, agreed vs not agreed, by score bucket, by sector, and the excess over the
ETF. Every path comes from ``account_paths(account)``; a picks file that names another account or
universe is refused, so a grader never reads or writes another account's files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import structlog

from stockbot.config import account_paths
from stockbot.strategies.equity.history import HistoryLoader, PriceHistory
from stockbot.strategies.equity.universes import Universe
from stockbot.fsutil import atomic_write_text
from stockbot.trading.port import Broker

log = structlog.get_logger(__name__)
PICKS_FILE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")


@dataclass
class GradeReport:
    graded_days: list[str] = field(default_factory=list)
    pending_days: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    learnings: dict[str, Any] = field(default_factory=dict)


def grade_pick(pick: Mapping[str, Any], hist: PriceHistory | None, etf: PriceHistory | None,
               forward_days: int) -> dict[str, Any] | None:
    """The realized outcome of one pick, or None while its exit session has not closed."""
    if hist is None or not len(hist):
        return None
    entry = np.datetime64(pick["last_date"], "D")
    i = int(np.searchsorted(hist.dates, entry))
    if i >= len(hist) or hist.dates[i] != entry or i + forward_days >= len(hist):
        return None
    ret = float(hist.close[i + forward_days] / hist.close[i] - 1.0)
    sign = 1.0 if pick["side"] == "long" else -1.0
    exit_date = hist.dates[i + forward_days]
    etf_ret = None
    if etf is not None and len(etf):
        j, k = np.searchsorted(etf.dates, [entry, exit_date])
        if j < len(etf) and k < len(etf) and etf.dates[j] == entry and etf.dates[k] == exit_date:
            etf_ret = float(etf.close[k] / etf.close[j] - 1.0)
    side_ret = sign * ret
    return {"symbol": pick["symbol"], "side": pick["side"], "score": pick.get("score"), "agreed": pick.get("agreed"),
            "sector": pick.get("sector", ""), "entry_date": str(entry), "exit_date": str(exit_date),
            "entry_close": float(hist.close[i]), "exit_close": float(hist.close[i + forward_days]),
            "return": round(ret, 6), "side_return": round(side_ret, 6), "hit": side_ret > 0,
            "etf_return": None if etf_ret is None else round(etf_ret, 6),
            "excess": None if etf_ret is None else round(side_ret - sign * etf_ret, 6)}


def _stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    if not rows:
        return {"n": 0, "hit_rate": None, "avg_return": None, "avg_excess": None}
    ex = [r["excess"] for r in rows if r.get("excess") is not None]
    return {"n": len(rows), "hit_rate": round(float(np.mean([r["hit"] for r in rows])), 4),
            "avg_return": round(float(np.mean([r["side_return"] for r in rows])), 6),
            "avg_excess": round(float(np.mean(ex)), 6) if ex else None}


def _bucket(score: float | None) -> str:
    s = abs(score or 0.0)
    return "strong (|score| >= 0.10)" if s >= 0.10 else "medium (0.05-0.10)" if s >= 0.05 else "weak (< 0.05)"


def summarize_grades(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Hit rate / average side-adjusted return overall and by side, vote, score bucket and sector."""
    def group(key: Callable[[Mapping[str, Any]], object]) -> dict[str, Any]:
        out: dict[str, list[Mapping[str, Any]]] = {}
        for r in rows:
            out.setdefault(str(key(r)), []).append(r)
        return {k: _stats(v) for k, v in sorted(out.items())}

    return {"overall": _stats(rows), "by_side": group(lambda r: r["side"]),
            "by_vote": group(lambda r: "agreed" if r.get("agreed") else "not agreed"),
            "by_score": group(lambda r: _bucket(r.get("score"))), "by_sector": group(lambda r: r.get("sector") or "?")}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2%}"


def render_learnings(account: str | None, learnings: Mapping[str, Any]) -> str:
    s = learnings["summary"]
    lines = [f"# Learnings of {account or 'default'} ({learnings['universe']})", "",
             f"Graded {s['overall']['n']} picks over {len(learnings['days'])} day(s); updated "
             f"{learnings['updated_at']}.", "", "| group | n | hit rate | avg return | avg excess vs ETF |",
             "|---|---|---|---|---|"]
    for title, key in (("all", None), ("side", "by_side"), ("vote", "by_vote"), ("score", "by_score")):
        items = [("all picks", s["overall"])] if key is None else [(f"{title}: {k}", v) for k, v in s[key].items()]
        for name, st in items:
            hr = "n/a" if st["hit_rate"] is None else f"{st['hit_rate']:.0%}"
            lines.append(f"| {name} | {st['n']} | {hr} | {_pct(st['avg_return'])} | {_pct(st['avg_excess'])} |")
    lines += ["", "## Observations", ""] + [f"- {o}" for o in learnings["observations"]] + [""]
    return "\n".join(lines)


def observations(summary: Mapping[str, Any]) -> list[str]:
    """Plain statements a person (or a later prompt) can act on; only with enough picks behind them."""
    out = []
    sides = summary["by_side"]
    for side, st in sides.items():
        if st["n"] >= 10 and st["hit_rate"] is not None:
            verdict = "worked" if st["hit_rate"] > 0.5 and (st["avg_return"] or 0) > 0 else "did not work"
            out.append(f"{side} picks {verdict}: hit rate {st['hit_rate']:.0%}, average {_pct(st['avg_return'])} "
                       f"over {st['n']} picks")
    votes = summary["by_vote"]
    a, n = votes.get("agreed"), votes.get("not agreed")
    if a and n and a["n"] >= 10 and n["n"] >= 10 and a["avg_return"] is not None and n["avg_return"] is not None:
        better = "added value" if a["avg_return"] > n["avg_return"] else "did not add value"
        out.append(f"the agents' vote {better}: agreed {_pct(a['avg_return'])} vs not agreed {_pct(n['avg_return'])}")
    if not out:
        out.append(f"not enough graded picks yet ({summary['overall']['n']}) for conclusions (10 per group needed)")
    return out


class Grader:
    """Grades one account's past picks with bars from that account's broker."""

    def __init__(self, account: str | None, broker: Broker, universe: Universe, *,
                 now: Callable[[], datetime] | None = None, loader: HistoryLoader | None = None):
        self.account = account
        self.universe = universe
        self.paths = account_paths(account)
        self.loader = loader or HistoryLoader(broker, universe, self.paths["models"])
        self._now = now or (lambda: datetime.now().astimezone())

    def _picks_files(self) -> list[Path]:
        d = self.paths["picks"]
        return sorted(p for p in d.iterdir() if p.is_file() and PICKS_FILE_RE.match(p.name)) if d.is_dir() else []

    def _load(self, path: Path, report: GradeReport) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report.refused.append(f"{path.name}: unreadable ({exc})")
            return None
        if data.get("account") != self.account or data.get("universe") != self.universe.name:
            report.refused.append(f"{path.name}: belongs to {data.get('account')!r}/{data.get('universe')!r}")
            return None
        return data

    async def run(self, market_date: date) -> GradeReport:
        """Grade every day whose picks have all matured; rewrite the learnings."""
        report = GradeReport()
        grades_dir = self.paths["picks"] / "grades"
        todo = []
        for path in self._picks_files():
            if (grades_dir / path.name).exists():
                continue
            data = self._load(path, report)
            if data is not None:
                todo.append((path, data))
        if todo:
            symbols = {p["symbol"] for _, data in todo for p in data.get("picks", [])} | {self.universe.etf}
            self.universe.require(symbols, "picks to grade")
            histories = await self.loader.load(market_date, symbols)
            for path, data in todo:
                n = int(data.get("forward_days") or 5)
                maybe = [grade_pick(p, histories.get(p["symbol"]), histories.get(self.universe.etf), n)
                         for p in data.get("picks", [])]
                rows = [r for r in maybe if r is not None]
                if len(rows) < len(maybe):  # a pick has not matured yet
                    report.pending_days.append(data["date"])
                    continue
                graded = {"date": data["date"], "account": self.account, "universe": self.universe.name,
                          "strategy_version": data.get("strategy_version"), "forward_days": n,
                          "graded_at": self._now().isoformat(timespec="seconds"), "picks": rows,
                          "summary": summarize_grades(rows)}
                atomic_write_text(grades_dir / path.name, json.dumps(graded, indent=2) + "\n")
                report.graded_days.append(data["date"])
        report.learnings = self._write_learnings(grades_dir)
        log.info("equities.graded", graded=report.graded_days, pending=report.pending_days, refused=report.refused)
        return report

    def _write_learnings(self, grades_dir: Path) -> dict[str, Any]:
        rows: list[dict[str, Any]] = []
        days: list[str] = []
        for path in sorted(grades_dir.glob("*.json")) if grades_dir.is_dir() else []:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("account") != self.account:
                continue
            days.append(data["date"])
            rows.extend(data.get("picks", []))
        summary = summarize_grades(rows)
        learnings = {"account": self.account, "universe": self.universe.name, "days": days,
                     "updated_at": self._now().isoformat(timespec="seconds"), "summary": summary,
                     "observations": observations(summary)}
        atomic_write_text(self.paths["picks"] / "learnings.json", json.dumps(learnings, indent=2) + "\n")
        atomic_write_text(self.paths["picks"] / "LEARNINGS.md", render_learnings(self.account, learnings))
        return learnings

