"""One account's tab: key figures, charts, positions, decisions, lessons, validation, health.

Every function returns an HTML fragment built only from ``Markup.label`` (dictionary text) and
``Markup.raw`` (escaped data), so nothing untrusted is ever interpolated unescaped.
"""

from __future__ import annotations

import json
import math
from typing import Any

from stockbot.dashboard.data import AccountData, DecisionView, LessonView, Position
from stockbot.dashboard.markup import Markup, dec, money, pct, tone, when

CRITERIA = ("days", "trades", "win_rate", "profit_factor", "expectancy")


def account_title(m: Markup, a: AccountData) -> str:
    return m.raw(a.account) if a.account else m.label("account.default")


def panel(m: Markup, a: AccountData, *, visible: bool) -> str:
    """The whole tab panel of one account."""
    hidden = "" if visible else " hidden"
    parts = [f'<section class="panel" role="tabpanel" id="panel-{a.key}" aria-labelledby="tab-{a.key}"'
             f' data-account="{a.key}"{hidden}>', _head(m, a)]
    if a.error:
        parts.append(f'<div class="alert bad">{m.label("account.unreadable")} {m.raw(a.error, "code")}</div>')
    if not a.settings.loaded:
        parts.append(f'<div class="alert warn">{m.label("account.settings_defaults")}</div>')
    parts += [_kpis(m, a), _charts(m, a),
              '<div class="grid2">', _positions(m, a), _health(m, a), "</div>",
              _decisions(m, a),
              '<div class="grid2">', _lessons(m, a), _validation(m, a), "</div>",
              _events(m, a), "</section>"]
    return "\n".join(parts)


def _card(m: Markup, title_key: str, body: str, cls: str = "") -> str:
    return f'<article class="card {cls}"><h3>{m.label(title_key)}</h3>{body}</article>'


def _table(head: list[str], rows: list[str], cls: str = "") -> str:
    ths = "".join(f"<th>{h}</th>" for h in head)
    return f'<table class="{cls}"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _head(m: Markup, a: AccountData) -> str:
    s = a.settings
    badges = [m.enum("strategy", s.strategy, cls="badge"),
              m.label("mode.paper" if s.paper else "mode.live", cls="badge " + ("paper" if s.paper else "live"))]
    badges.append(m.enum("state", a.state_name, cls=f"badge state-{a.state_name.lower()}"))
    if a.health is not None:
        if a.health.stop:
            badges.append(m.label("badge.stop", cls="badge stop"))
    return f'<div class="acct-head"><h2>{account_title(m, a)}</h2><div class="badges">{"".join(badges)}</div></div>'


def _kpi(m: Markup, key: str, value: str, sub: str, cls: str = "") -> str:
    return (f'<div class="kpi"><div class="kpi-label">{m.label(key)}</div>'
            f'<div class="kpi-value {cls}">{value}</div><div class="kpi-sub">{sub}</div></div>')


def _kpis(m: Markup, a: AccountData) -> str:
    f = a.figures
    latest = f.latest if f else None
    today = f.pnl_today if f else None
    cards = [
        _kpi(m, "kpi.equity", m.raw(money(latest)),
             m.label("kpi.as_of", ts=when(f.latest_ts)) if f and f.latest_ts else m.label("chart.no_data")),
        _kpi(m, "kpi.pnl_today", m.raw(money(today, signed=True)) if today is not None else m.raw("—"),
             m.label("kpi.since_open") if today is not None else m.label("kpi.no_data_today"), tone(today)),
        _kpi(m, "kpi.pnl_total", m.raw(money(a.realised, signed=True)), m.label("kpi.closed_trades",
                                                                              n=str(a.closed_count)),
             tone(a.realised)),
        _kpi(m, "kpi.max_drawdown", m.raw(pct(f.max_drawdown if f else 0)), m.label("kpi.from_peak"),
             "down" if f and f.max_drawdown < 0 else "flat"),
        _kpi(m, "kpi.open_positions", m.raw(len(a.positions)), m.label("kpi.structures")),
    ]
    return f'<div class="kpis">{"".join(cards)}</div>'


def _charts(m: Markup, a: AccountData) -> str:
    figs = []
    for kind, key in (("equity", "chart.equity"), ("drawdown", "chart.drawdown")):
        empty = "" if a.equity else " shown"
        figs.append(f'<figure class="card chart-card {kind}"><figcaption>{m.label(key)}</figcaption>'
                    f'<div class="chart" data-chart="{kind}" data-account="{a.key}" data-raw></div>'
                    f'<p class="chart-empty{empty}">{m.label("chart.no_data")}</p></figure>')
    return f'<div class="charts">{"".join(figs)}</div>'


# --------------------------------------------------------------------------- positions


def _positions(m: Markup, a: AccountData) -> str:
    if not a.positions:
        return _card(m, "pos.title", f'<p class="muted">{m.label("pos.none")}</p>')
    head = [m.label(k) for k in ("pos.col.structure", "pos.col.qty", "pos.col.entry", "pos.col.max_loss",
                                 "pos.col.expiration", "pos.col.opened")]
    bodies = "".join(_structure(m, p) for p in a.positions)
    ths = "".join(f"<th>{h}</th>" for h in head)
    return _card(m, "pos.title", f'<table class="positions"><thead><tr>{ths}</tr></thead>{bodies}</table>')


def _structure(m: Markup, p: Position) -> str:
    """One structure = one <tbody>: its summary row, then its legs grouped beneath it."""
    meta = p.meta
    strikes = meta.get("strikes") if isinstance(meta.get("strikes"), dict) else {}
    if p.strategy == "condor" or strikes:
        name = m.label("pos.condor", underlying=str(meta.get("underlying", "")))
        if strikes:
            name += " " + m.raw(f'P {strikes.get("long_put")}/{strikes.get("short_put")} · '
                                f'C {strikes.get("short_call")}/{strikes.get("long_call")}', cls="strikes")
        entry = m.label("pos.credit", credit=money(p.entry_price))
    else:
        symbol = p.legs[0][0] if p.legs else p.structure_id
        name = m.label("pos.stock", symbol=symbol)
        entry = m.raw(money(p.entry_price))
    row = (f'<tr class="structure-row"><td>{name}<div class="sid">{m.raw(p.structure_id)}</div></td>'
           f'<td>{m.raw(p.qty)}</td><td>{entry}</td><td>{m.raw(money(meta.get("max_loss")))}</td>'
           f'<td>{m.raw(meta.get("expiration") or "—", cls="ts")}</td><td>{m.raw(when(p.opened), cls="ts")}</td></tr>')
    legs = ""
    if p.legs:
        chips = []
        for symbol, qty in p.legs:
            q = dec(qty)
            side = m.label("pos.short" if q is not None and q < 0 else "pos.long", cls="side")
            chips.append(f'<li class="leg">{side} {m.raw(qty, cls="qty")} {m.raw(symbol, cls="sym")}</li>')
        legs = (f'<tr class="legs-row"><td colspan="6">{m.label("pos.legs", n=str(len(p.legs)))}'
                f'<ul class="legs">{"".join(chips)}</ul></td></tr>')
    return f'<tbody class="structure" data-structure="{m.esc(p.structure_id)}">{row}{legs}</tbody>'


# --------------------------------------------------------------------------- decisions


def _decisions(m: Markup, a: AccountData) -> str:
    if not a.decisions:
        return _card(m, "dec.title", f'<p class="muted">{m.label("dec.none")}</p>', "wide")
    return _card(m, "dec.title", "".join(_decision(m, d, i == 0) for i, d in enumerate(a.decisions)), "wide")


def _decision(m: Markup, d: DecisionView, open_: bool) -> str:
    action_cls = "enter" if d.action == "ENTER" else "hold"
    summary = [m.raw(when(d.ts), cls="ts"), m.enum("action", d.action, cls=f"badge {action_cls}")]
    if d.outcome:
        summary.append(m.enum("outcome", d.outcome, cls="outcome"))
    summary.append(m.label("dec.tally", cls="tally", enter=str(d.enter_votes), n=str(d.n_agents),
                           need=str(d.required)))
    body = [f'<p class="reason">{m.label("dec.reason")} {m.raw(d.reason)}</p>']
    if d.votes:
        head = [m.label(k) for k in ("vote.col.agent", "vote.col.model", "vote.col.vote", "vote.col.confidence",
                                     "vote.col.rationale")]
        rows = []
        for v in d.votes:
            conf = "—" if v.confidence is None else f"{v.confidence:.2f}"
            why = (f'{m.label("vote.failed")} {m.raw(v.error)}' if v.error else m.raw(v.rationale))
            rows.append(f'<tr><td>{m.raw(v.agent)}</td><td>{m.raw(v.model, cls="model")}</td>'
                        f'<td>{m.enum("action", v.action, cls="badge " + ("enter" if v.action == "ENTER" else "hold"))}'
                        f'</td><td>{m.raw(conf)}</td><td class="rationale">{why}</td></tr>')
        body.append(_table(head, rows, "votes"))
    else:
        body.append(f'<p class="muted">{m.label("dec.no_votes")}</p>')
    return (f'<details class="decision"{" open" if open_ else ""}><summary>{" ".join(summary)}</summary>'
            f'{"".join(body)}</details>')


# --------------------------------------------------------------------------- lessons


def _lesson_table(m: Markup, lessons: tuple[LessonView, ...]) -> str:
    head = [m.label(k) for k in ("lessons.col.id", "lessons.col.title", "lessons.col.severity",
                                 "lessons.col.count", "lessons.col.date", "lessons.col.scope")]
    rows = [f'<tr class="lesson"><td>{m.raw(x.id)}</td><td class="ltitle">{m.raw(x.title)}'
            f' {m.enum("status", x.status, cls="badge muted-badge")}</td>'
            f'<td>{m.enum("severity", x.severity, cls="sev sev-" + m.esc(x.severity))}</td>'
            f'<td>{m.raw(x.occurrences)}</td><td>{m.raw(x.date, cls="ts")}</td><td>{m.enum("scope", x.scope, cls="nowrap")}</td></tr>'
            for x in lessons]
    return _table(head, rows, "lessons")


def _lessons(m: Markup, a: AccountData) -> str:
    if not a.newest_lessons:
        body = f'<p class="muted">{m.label("lessons.none")}</p>'
    else:
        body = (f'<h4>{m.label("lessons.newest")}</h4>{_lesson_table(m, a.newest_lessons)}'
                f'<h4>{m.label("lessons.frequent")}</h4>{_lesson_table(m, a.frequent_lessons)}')
    if a.lesson_errors:
        body += f'<p class="alert warn">{m.label("lessons.errors", n=str(len(a.lesson_errors)))}</p>'
    return _card(m, "lessons.title", body)


# --------------------------------------------------------------------------- validation


def _fmt_value(name: str, v: float) -> str:
    if name == "win_rate":
        return f"{v:.1%}"
    if name in ("days", "trades"):
        return str(int(v))
    if math.isinf(v):
        return "∞"
    return f"${v:,.2f}" if name == "expectancy" else f"{v:.2f}"


def _progress(name: str, value: float, threshold: float) -> float:
    if threshold <= 0:
        return 1.0 if value > threshold else 0.0
    return max(0.0, min(1.0, value / threshold)) if not math.isinf(value) else 1.0


def _validation(m: Markup, a: AccountData) -> str:
    r = a.validation
    if r is None:
        return _card(m, "val.title", f'<p class="muted">{m.label("common.none")}</p>')
    rows = []
    for c in r.criteria:
        p = _progress(c.name, c.value, c.threshold)
        rows.append(f'<tr class="{"pass" if c.passed else "fail"}"><td>{m.label("val." + c.name)}</td>'
                    f'<td>{m.raw(_fmt_value(c.name, c.value))}</td>'
                    f'<td>{m.raw(("≥ " if c.op == ">=" else "> ") + _fmt_value(c.name, c.threshold))}</td>'
                    f'<td><progress max="1" value="{p:.3f}"></progress></td>'
                    f'<td>{m.label("common.yes" if c.passed else "common.no", cls="pass-mark")}</td></tr>')
    head = [m.label(k) for k in ("val.col.criterion", "val.col.value", "val.col.needs", "val.col.progress",
                                 "val.col.pass")]
    met = sum(1 for c in r.criteria if c.passed)
    verdict_cls = {"passed": "good", "blocked": "bad", "override": "warn"}.get(a.validation_verdict, "")
    body = (f'<p class="verdict {verdict_cls}">{m.label("val.verdict." + a.validation_verdict)} '
            f'{m.label("val.progress_summary", met=str(met), n=str(len(r.criteria)))}</p>'
            + _table(head, rows, "validation"))
    return _card(m, "val.title", body)


# --------------------------------------------------------------------------- health and events


def _health(m: Markup, a: AccountData) -> str:
    h = a.health
    if h is None:
        return _card(m, "health.title", f'<p class="muted">{m.label("common.none")}</p>')
    items = []
    if h.stop:
        stop = (m.label("health.stop.set", cls="bad", who=str(h.stop.get("who", "?")), when=str(h.stop.get("when", "?")))
                + f' <div>{m.label("health.stop.why")} {m.raw(h.stop.get("why", ""), "q")}</div>')
    else:
        stop = m.label("health.stop.none", cls="good")
    items.append(("health.stop", stop))
    state = m.enum("state", a.state_name, cls=f"badge state-{a.state_name.lower()}")
    if h.state_reasons:
        state += "<ul>" + "".join(m.label("reason." + r, "li") for r in h.state_reasons) + "</ul>"
    items.append(("health.state", state))
    stream = m.label("stream." + h.stream.status, cls={"fresh": "good", "stale": "bad"}.get(h.stream.status, "muted"))
    if h.stream.kind:
        stream += f' <span class="muted">{m.label("health.last_event")} {m.enum("event", h.stream.kind)} ' \
                  f'{m.raw(when(h.stream.ts))}</span>'
    items.append(("health.stream", stream))
    c = h.capital
    capital = (m.label("capital.out", cls="bad", ts=when(c.get("ts")), need=money(c.get("needed")),
                       bp=money(c.get("buying_power"))) if c else m.label("capital.ok", cls="good"))
    items.append(("health.capital", capital))
    if h.entries:  # "green but not trading": entries blocked K sessions in a row, and by which rule
        items.append(("health.entries", m.raw(h.entries, cls="bad" if "ALARM" in h.entries else "muted")))
    if h.llm is not None:
        llm = m.label("llm.spend", cls="bad" if h.llm["exhausted"] else "", calls=str(h.llm["calls"]),
                      spent=f"${h.llm['spent_usd']:.4f}",
                      budget=f"${h.llm['budget_usd']:g}" if h.llm["budget_usd"] else "-",
                      tokens=str(h.llm["tokens"]), cap=str(h.llm["token_cap"]) if h.llm["token_cap"] else "-")
        if h.llm["exhausted"]:
            llm += " " + m.label("llm.spent", cls="bad")
        items.append(("health.llm", llm))
    daemon = m.label("daemon.started", ts=when(h.last_start)) if h.last_start else m.label("daemon.never")
    if h.last_stop:
        daemon += " " + m.label("daemon.stopped", ts=when(h.last_stop))
    items.append(("health.daemon", daemon))
    dl = "".join(f"<dt>{m.label(k)}</dt><dd>{v}</dd>" for k, v in items)
    jobs = []
    for j in h.jobs:
        crash = (f'{m.raw(when(j.last_crash), cls="bad ts")} {m.raw(j.crash_error or "", "code")}' if j.last_crash
                 else m.label("jobs.never"))
        run = m.raw(when(j.last_run), cls="ts") if j.last_run else m.label("jobs.never")
        jobs.append(f'<tr class="{"bad-row" if j.crashed_last else ""}"><td>{m.label("job." + j.job, cls="nowrap")}</td>'
                    f'<td>{run}</td><td>{crash}</td></tr>')
    table = ""
    if jobs:
        head = [m.label(k) for k in ("jobs.col.job", "jobs.col.last_run", "jobs.col.last_crash")]
        table = f'<h4>{m.label("health.jobs")}</h4>' + _table(head, jobs, "jobs")
    return _card(m, "health.title", f'<dl class="health">{dl}</dl>{table}')


def _payload(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= 160 else text[:157] + "..."


def _events(m: Markup, a: AccountData) -> str:
    recent = a.health.recent if a.health else ()
    if not recent:
        return _card(m, "events.title", f'<p class="muted">{m.label("events.none")}</p>', "wide")
    head = [m.label(k) for k in ("events.col.seq", "events.col.time", "events.col.kind", "events.col.detail")]
    rows = [f'<tr><td>{m.raw(e.seq)}</td><td>{m.raw(when(e.ts), cls="ts")}</td><td>{m.enum("event", e.kind, cls="nowrap")}</td>'
            f'<td>{m.raw(_payload(e.payload), "code")}</td></tr>' for e in recent]
    return _card(m, "events.title", _table(head, rows, "events"), "wide")
