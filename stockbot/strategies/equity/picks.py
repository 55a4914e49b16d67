"""The daily advisor: ranked picks with the agents' rationale -> ``picks/YYYY-MM-DD.json`` (+ e-mail).

``Advisor.run()`` screens the account's universe with its saved model, proposes the slate the
strategy would trade, asks the agents (their votes are stored like any decision's, under an
``advice-...`` decision id with strategy ``<strategy>_advice``; no order is ever sent from here),
and writes ``memory_dir(account)/picks/<market date>.json`` atomically. When ``ALERT_SMTP_HOST``
and ``ALERT_EMAIL_TO`` are set it also e-mails the picks, in English and Chinese, through the
account's SMTP settings. The grader (``grading.py``) scores these files later.
"""

from __future__ import annotations

import asyncio
import json
import secrets as _secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import structlog

from stockbot.config import AlertSettings, account_paths
from stockbot.domain import utcnow
from stockbot.strategies.equity.context import equity_context, record_kwargs
from stockbot.strategies.equity.engine import EquityEngine
from stockbot.strategies.equity.history import NY
from stockbot.strategies.equity.profiles import strategy_version
from stockbot.strategies.equity.strategy import agreed_picks, propose_slate
from stockbot.fsutil import atomic_write_text
from stockbot.log import redactor

log = structlog.get_logger(__name__)
PICKS_SCHEMA = 1
SECTORS_ZH = {
    "Communication Services": "通信服务", "Consumer Discretionary": "非必需消费品", "Consumer Staples": "必需消费品",
    "Energy": "能源", "Financials": "金融", "Health Care": "医疗保健", "Industrials": "工业",
    "Information Technology": "信息技术", "Materials": "原材料", "Real Estate": "房地产", "Utilities": "公用事业",
}
ACTIONS_ZH = {"ENTER": "进场", "HOLD": "观望"}
SIDES_ZH = {"long": "做多", "short": "做空"}


def picks_path(account: str | None, day: str) -> Path:
    return account_paths(account)["picks"] / f"{day}.json"


@dataclass(frozen=True)
class PicksReport:
    path: Path
    payload: dict[str, Any]
    emailed: bool
    email_error: str | None = None


class Advisor:
    """Writes (and optionally e-mails) one account's daily picks."""

    def __init__(self, engine: EquityEngine, alerts: AlertSettings | None = None):
        self.engine = engine
        self.alerts = alerts

    async def run(self) -> PicksReport:
        e, d = self.engine, self.engine.deps
        account = await d.broker.account()
        market_date = (await d.broker.clock()).ts.astimezone(NY).date()
        screen = await e.screen(market_date)
        proposed = propose_slate(screen.ranked, e.params, account.shorting_enabled)
        version = strategy_version(d.account, e.params.profile, market_date)
        positions = await d.broker.positions()
        decision_id = f"advice-{utcnow():%Y%m%dT%H%M%S}-{_secrets.token_hex(4)}"
        context = equity_context(e.strategy, e.universe, screen, proposed, account, positions, e.params, (),
                                 d.now())
        result = await e.consensus.decide(context, decision_id=decision_id)
        kwargs = record_kwargs(result, (), version, e.params, screen, proposed)
        kwargs["strategy"] = f"{e.strategy}_advice"
        d.store.record_decision(**kwargs)
        agreed = {c.symbol: w for c, w in agreed_picks(result.params.get("slate") or [], proposed)}
        by_symbol = {r.symbol: r for r in screen.ranked}
        picks = []
        for c in proposed:
            r, m = by_symbol[c.symbol], e.universe.member(c.symbol)
            picks.append({"rank": c.rank, "symbol": c.symbol, "name": m.name if m else "", "sector": m.sector if m else "",
                          "side": c.side, "score": c.score, "prob": round(r.prob, 6), "last_close": r.last_close,
                          "last_date": r.last_date, "agreed": c.symbol in agreed,
                          "weight": agreed.get(c.symbol)})
        payload = {
            "schema": PICKS_SCHEMA, "account": d.account, "universe": e.universe.name, "etf": e.universe.etf,
            "universe_as_of": e.universe.as_of.isoformat(), "profile": e.params.profile,
            "strategy": e.strategy, "strategy_version": version, "date": market_date.isoformat(),
            "generated_at": d.now().isoformat(timespec="seconds"), "forward_days": e.params.forward_days,
            "model": {"cutoff": screen.model.get("cutoff"), "trained_at": screen.model.get("trained_at"),
                      "sha256": screen.model.get("sha256"),
                      "validation": (screen.model.get("validation") or {}).get("mean")},
            "consensus": {"decision_id": result.decision_id, "action": result.action.value, "reason": result.reason,
                          "enter_votes": result.enter_votes, "required_votes": result.required_votes,
                          "n_agents": result.n_agents},
            "agents": [{"agent": b.agent, "model": b.model, "action": b.action,
                        "confidence": None if b.error else b.vote.confidence,
                        "rationale": redactor().scrub(b.error or b.vote.rationale)} for b in result.ballots],
            "ranked_count": len(screen.ranked),
            "picks": picks,
        }
        path = picks_path(d.account, market_date.isoformat())
        atomic_write_text(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        d.store.append_event("advisor_picks", {"date": payload["date"], "path": path.name, "picks": len(picks),
                                               "decision_id": decision_id, "strategy_version": version})
        emailed, error = False, None
        if self.alerts is not None and self.alerts.smtp_host and self.alerts.email_to:
            try:
                await asyncio.to_thread(send_picks_email, self.alerts, payload)
                emailed = True
            except Exception as exc:  # noqa: BLE001 - the file is written; a mail failure is reported
                error = redactor().scrub(f"{type(exc).__name__}: {exc}")
                log.warning("equities.picks_email_failed", error=error)
                d.store.append_event("advisor_email_failed", {"date": payload["date"], "error": error})
        return PicksReport(path, payload, emailed, error)


# --------------------------------------------------------------------------- the e-mail


def _pick_lines(payload: Mapping[str, Any], side: str, zh: bool) -> list[str]:
    rows = [p for p in payload["picks"] if p["side"] == side]
    if not rows:
        return ["  （无）" if zh else "  (none)"]
    out = []
    for p in rows:
        if zh:
            sector = SECTORS_ZH.get(p["sector"], p["sector"])
            voted = "已通过投票" if p["agreed"] else "未通过投票"
            out.append(f"  {p['rank']}. {p['symbol']} {p['name']}（{sector}）得分 {p['score']:+.3f}，"
                       f"最新收盘价 {p['last_close']:.2f} — {voted}")
        else:
            voted = "agreed by the agents" if p["agreed"] else "not agreed"
            out.append(f"  {p['rank']}. {p['symbol']} {p['name']} ({p['sector']}) score {p['score']:+.3f}, "
                       f"last close {p['last_close']:.2f} - {voted}")
    return out


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def render_email(payload: Mapping[str, Any]) -> tuple[str, str]:
    """(subject, body): the same picks in English, then in Chinese."""
    c, m = payload["consensus"], payload["model"]
    val = m.get("validation") or {}
    acct = payload["account"] or "default"
    subject = f"stockbot {acct}: picks {payload['date']} / 每日选股"
    en = [f"stockbot {acct} ({payload['universe']}, profile {payload['profile']}) - advisor picks for {payload['date']}",
          f"Strategy version: {payload['strategy_version']}",
          f"Model trained to {m.get('cutoff')}; walk-forward AUC {_fmt(val.get('auc'))}, "
          f"long/short spread {_fmt(val.get('long_short_spread'), '+.4f')} per {payload['forward_days']} sessions.",
          f"Consensus: {c['action']} ({c['enter_votes']}/{c['n_agents']} ENTER, {c['required_votes']} needed).",
          "", "Longs:", *_pick_lines(payload, "long", False), "", "Shorts:", *_pick_lines(payload, "short", False),
          "", "Agents:"]
    en += [f"  - {a['agent']} ({a['model']}): {a['action']} {_fmt(a['confidence'], '.2f')} - {a['rationale']}"
           for a in payload["agents"]]
    en += ["", "Research output of a paper-trading system; not investment advice."]
    zh = [f"stockbot {acct}（{payload['universe']}，风格 {payload['profile']}）— {payload['date']} 每日选股",
          f"策略版本：{payload['strategy_version']}",
          f"模型训练截至 {m.get('cutoff')}；滚动验证 AUC {_fmt(val.get('auc'))}，"
          f"多空收益差 {_fmt(val.get('long_short_spread'), '+.4f')}（每 {payload['forward_days']} 个交易日）。",
          f"共识：{ACTIONS_ZH.get(c['action'], c['action'])}（{c['enter_votes']}/{c['n_agents']} 票进场，"
          f"需要 {c['required_votes']} 票）。",
          "", "做多：", *_pick_lines(payload, "long", True), "", "做空：", *_pick_lines(payload, "short", True),
          "", "代理意见（原文）："]
    zh += [f"  - {a['agent']}（{a['model']}）：{ACTIONS_ZH.get(a['action'], a['action'])} "
           f"{_fmt(a['confidence'], '.2f')} — {a['rationale']}" for a in payload["agents"]]
    zh += ["", "本邮件为模拟交易系统的研究输出，不构成投资建议。"]
    return subject, "\n".join(en) + "\n\n" + "-" * 40 + "\n\n" + "\n".join(zh) + "\n"


def send_picks_email(settings: AlertSettings, payload: Mapping[str, Any]) -> None:
    """Send the bilingual picks e-mail through the account's SMTP settings (apprise; blocking; raises)."""
    from stockbot.alerts import send_email

    subject, body = render_email(payload)
    send_email(settings, subject, redactor().scrub(body))


def read_picks(path: Path) -> dict[str, Any]:
    """One saved picks file (JSON)."""
    picks: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return picks
