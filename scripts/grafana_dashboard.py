#!/usr/bin/env python3
"""Write deploy/grafana/stockbot-dashboard.json: the Grafana dashboard over the daemons' metrics.

Panels are declared here, one call each, and laid out left to right in rows; the JSON is the
artefact operators import (Dashboards -> Import). A test checks that every series the JSON uses
is served by a running daemon, and that the committed JSON is what this script writes.

    python3 scripts/grafana_dashboard.py [--check]
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "stockbot-dashboard.json"
ACC = '{account=~"$account"}'
panels = []
def panel(title, exprs, unit="short", kind="timeseries", w=12, h=8, legend="{{account}}", stack=False, desc=""):
    i = len(panels)
    x = (sum(p["gridPos"]["w"] for p in panels) % 24)
    p = {"id": i + 1, "type": kind, "title": title, "description": desc,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "gridPos": {"h": h, "w": w, "x": x, "y": 0},
         "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
         "targets": [{"refId": chr(65 + j), "expr": e, "legendFormat": l,
                      "datasource": {"type": "prometheus", "uid": "${datasource}"}}
                     for j, (e, l) in enumerate([x if isinstance(x, tuple) else (x, legend) for x in exprs])]}
    if kind == "timeseries" and stack:
        p["fieldConfig"]["defaults"]["custom"] = {"stacking": {"mode": "normal"}, "drawStyle": "bars", "fillOpacity": 80}
    panels.append(p)

def row(title):
    panels.append({"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False,
                   "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}, "panels": []})

row("Account")
panel("Trading state", [(f'max by (account, state) (stockbot_trading_state{ACC}) == 1', "{{account}} {{state}}")], kind="stat", w=6, h=5)
panel("STOP flag", [f'stockbot_stop_flag{ACC}'], kind="stat", w=3, h=5)
panel("Daemon ready", [f'stockbot_daemon_ready{ACC}'], kind="stat", w=3, h=5)
panel("Day P&L", [f'stockbot_day_pnl_dollars{ACC}'], unit="currencyUSD", kind="stat", w=6, h=5)
panel("Equity", [f'stockbot_equity_dollars{ACC}'], unit="currencyUSD", kind="stat", w=6, h=5)
panel("Equity", [f'stockbot_equity_dollars{ACC}'], unit="currencyUSD")
panel("Drawdown from peak", [f'stockbot_drawdown_ratio{ACC}', (f'stockbot_max_drawdown_ratio{ACC}', "{{account}} worst")], unit="percentunit")
panel("Open structures by days to expiry", [(f'sum by (days_to_expiry) (stockbot_open_structures{ACC})', "{{days_to_expiry}} DTE")], stack=True)
panel("Realised P&L", [f'stockbot_realised_pnl_dollars{ACC}'], unit="currencyUSD")
row("Decisions and agents")
panel("Decision cycles by outcome (per day)", [(f'sum by (outcome) (increase(stockbot_decision_cycles_total{ACC}[1d]))', "{{outcome}}")], stack=True)
panel("Decisions by action (per day)", [(f'sum by (action) (increase(stockbot_decisions_total{ACC}[1d]))', "{{action}}")], stack=True)
panel("Votes by agent and result (per day)", [(f'sum by (agent, action, result) (increase(stockbot_votes_total{ACC}[1d]))', "{{agent}} {{action}} {{result}}")], stack=True)
panel("Agent latency (mean)", [(f'sum by (agent) (rate(stockbot_agent_latency_seconds_sum{ACC}[1h])) / sum by (agent) (rate(stockbot_agent_latency_seconds_count{ACC}[1h]))', "{{agent}}")], unit="s")
panel("Agent errors (per day)", [(f'sum by (agent) (increase(stockbot_agent_errors_total{ACC}[1d]))', "{{agent}}")], stack=True)
panel("LLM spend", [(f'sum by (account, model) (stockbot_llm_cost_usd_total{ACC})', "{{account}} {{model}}")], unit="currencyUSD")
row("Orders and risk")
panel("Orders by purpose and status (per day)", [(f'sum by (purpose, status) (increase(stockbot_orders_total{ACC}[1d]))', "{{purpose}} {{status}}")], stack=True)
panel("Orders working (not final)", [(f'sum by (purpose, status) (stockbot_orders_working{ACC})', "{{purpose}} {{status}}")], stack=True)
panel("Fills by purpose (per day)", [(f'sum by (purpose) (increase(stockbot_fills_total{ACC}[1d]))', "{{purpose}}")], stack=True)
panel("Denials by rule (per day)", [(f'sum by (rule) (increase(stockbot_order_denials_total{ACC}[1d]))', "{{rule}}")], stack=True)
panel("Lesson guards: enforced and active", [(f'sum by (lesson) (increase(stockbot_guard_denials_total{ACC}[1d]))', "denied by {{lesson}}"), (f'stockbot_guards_active{ACC}', "{{account}} active guards")])
row("Operations")
panel("Quote stream age", [(f'stockbot_stream_quote_age_seconds{ACC}', "{{account}} {{symbol}}")], unit="s")
panel("Stream alive / fresh", [(f'stockbot_stream_alive{ACC}', "{{account}} alive"), (f'stockbot_stream_fresh{ACC}', "{{account}} fresh")])
panel("Job runs (per hour)", [(f'sum by (job) (increase(stockbot_job_runs_total{ACC}[1h]))', "{{job}}")])
panel("Job crashes (per hour)", [(f'sum by (job) (increase(stockbot_job_crashes_total{ACC}[1h]))', "{{job}}")], stack=True)
panel("Reconciliation findings (per day)", [(f'sum by (kind) (increase(stockbot_reconcile_findings_total{ACC}[1d]))', "{{kind}}")], stack=True)
panel("Lessons captured (per day)", [(f'sum by (kind) (increase(stockbot_lessons_captured_total{ACC}[1d]))', "{{kind}}")], stack=True)
panel("Alerts (per day)", [(f'sum by (kind, result) (increase(stockbot_alerts_total{ACC}[1d]))', "{{kind}} {{result}}")], stack=True)
panel("State database readable", [f'stockbot_store_readable{ACC}'])

# lay out: rows of panels left to right
y = 0; x = 0; rowh = 0
for p in panels:
    g = p["gridPos"]
    if p["type"] == "row":
        y += rowh; x = 0; rowh = 0
        g["y"] = y; y += 1
        continue
    if x + g["w"] > 24:
        y += rowh; x = 0; rowh = 0
    g["x"], g["y"] = x, y
    x += g["w"]; rowh = max(rowh, g["h"])

dash = {
    "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}],
    "title": "stockbot", "uid": "stockbot-fleet", "tags": ["stockbot", "trading"], "timezone": "America/New_York",
    "schemaVersion": 39, "version": 1, "editable": True, "refresh": "1m",
    "time": {"from": "now-7d", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {"name": "account", "type": "query", "label": "Account", "multi": True, "includeAll": True,
         "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": {"query": "label_values(stockbot_info, account)", "refId": "accounts"},
         "definition": "label_values(stockbot_info, account)", "refresh": 2, "current": {"text": "All", "value": "$__all"}}]},
    "panels": panels,
}
TEXT = json.dumps(dash, indent=2) + "\n"

if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if OUT.read_text() == TEXT else f"{OUT} is not what {__file__} writes: run it")
    OUT.write_text(TEXT)
    print(f"wrote {OUT} ({len(panels)} panels)")
