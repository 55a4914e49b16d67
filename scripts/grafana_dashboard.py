#!/usr/bin/env python3
"""Write deploy/grafana/stockbot-dashboard.json: the Grafana dashboard over the daemons' metrics.

Panels are declared below, one call each, and laid out left to right in rows; the JSON is the
artefact operators import (Dashboards -> Import). Tests check that every series the JSON uses is
served by a running daemon, and that the committed JSON is what this script writes.

    python3 scripts/grafana_dashboard.py            # rewrite the JSON
    python3 scripts/grafana_dashboard.py --check    # exit 1 if the committed JSON differs
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "stockbot-dashboard.json"
SEL = '{account=~"$account"}'  # every series carries the account label
DS = {"type": "prometheus", "uid": "${datasource}"}


def per(window: str, metric: str, by: str) -> tuple[str, str]:
    """Increase of a counter over ``window``, summed by one or more labels; legend = those labels."""
    labels = [b.strip() for b in by.split(",")]
    return (f"sum by ({by}) (increase({metric}{SEL}[{window}]))", " ".join("{{%s}}" % b for b in labels))


class Board:
    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []

    def row(self, title: str) -> None:
        self.panels.append({"type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}, "panels": []})

    def panel(self, title: str, *exprs: str | tuple[str, str], unit: str = "short", kind: str = "timeseries",
              w: int = 12, h: int = 8, stack: bool = False) -> None:
        targets = []
        for i, e in enumerate(exprs):
            expr, legend = e if isinstance(e, tuple) else (e, "{{account}}")
            targets.append({"refId": chr(65 + i), "expr": expr, "legendFormat": legend, "datasource": DS})
        defaults: dict[str, Any] = {"unit": unit}
        if stack:
            defaults["custom"] = {"stacking": {"mode": "normal"}, "drawStyle": "bars", "fillOpacity": 80}
        self.panels.append({"type": kind, "title": title, "datasource": DS, "gridPos": {"h": h, "w": w, "x": 0, "y": 0},
                            "fieldConfig": {"defaults": defaults, "overrides": []}, "targets": targets})

    def laid_out(self) -> list[dict[str, Any]]:
        """Ids and positions: panels fill 24 columns left to right; a row starts a new line."""
        x = y = line_h = 0
        for i, p in enumerate(self.panels, 1):
            g = p["gridPos"]
            p["id"] = i
            if p["type"] == "row" or x + g["w"] > 24:
                y, x, line_h = y + line_h, 0, 0
            g["x"], g["y"] = x, y
            if p["type"] == "row":
                y += 1
                continue
            x += g["w"]
            line_h = max(line_h, g["h"])
        return self.panels


def build() -> dict[str, Any]:
    b = Board()
    b.row("Account")
    b.panel("Trading state", (f"max by (account, state) (stockbot_trading_state{SEL}) == 1", "{{account}} {{state}}"),
            kind="stat", w=6, h=5)
    b.panel("STOP flag", f"stockbot_stop_flag{SEL}", kind="stat", w=3, h=5)
    b.panel("Daemon ready", f"stockbot_daemon_ready{SEL}", kind="stat", w=3, h=5)
    b.panel("Day P&L", f"stockbot_day_pnl_dollars{SEL}", unit="currencyUSD", kind="stat", w=6, h=5)
    b.panel("Equity", f"stockbot_equity_dollars{SEL}", unit="currencyUSD", kind="stat", w=6, h=5)
    b.panel("Equity", f"stockbot_equity_dollars{SEL}", unit="currencyUSD")
    b.panel("Drawdown from peak", f"stockbot_drawdown_ratio{SEL}",
            (f"stockbot_max_drawdown_ratio{SEL}", "{{account}} worst"), unit="percentunit")
    b.panel("Open structures by days to expiry",
            (f"sum by (days_to_expiry) (stockbot_open_structures{SEL})", "{{days_to_expiry}} DTE"), stack=True)
    b.panel("Realised P&L", f"stockbot_realised_pnl_dollars{SEL}", unit="currencyUSD")
    b.row("Decisions and agents")
    b.panel("Decision cycles by outcome (per day)", per("1d", "stockbot_decision_cycles_total", "outcome"), stack=True)
    b.panel("Decisions by action (per day)", per("1d", "stockbot_decisions_total", "action"), stack=True)
    b.panel("Votes by agent and result (per day)", per("1d", "stockbot_votes_total", "agent, action, result"),
            stack=True)
    b.panel("Agent latency (mean)",
            (f"sum by (agent) (rate(stockbot_agent_latency_seconds_sum{SEL}[1h])) / "
             f"sum by (agent) (rate(stockbot_agent_latency_seconds_count{SEL}[1h]))", "{{agent}}"), unit="s")
    b.panel("Agent errors (per day)", per("1d", "stockbot_agent_errors_total", "agent"), stack=True)
    b.panel("LLM spend", (f"sum by (account, model) (stockbot_llm_cost_usd_total{SEL})", "{{account}} {{model}}"),
            unit="currencyUSD")
    b.row("Orders and risk")
    b.panel("Orders by purpose and final status (per day)", per("1d", "stockbot_orders_total", "purpose, status"),
            stack=True)
    b.panel("Orders working (not final)",
            (f"sum by (purpose, status) (stockbot_orders_working{SEL})", "{{purpose}} {{status}}"), stack=True)
    b.panel("Fills by purpose (per day)", per("1d", "stockbot_fills_total", "purpose"), stack=True)
    b.panel("Denials by rule (per day)", per("1d", "stockbot_order_denials_total", "rule"), stack=True)
    b.panel("Lesson guards: enforced and active",
            (f"sum by (lesson) (increase(stockbot_guard_denials_total{SEL}[1d]))", "denied by {{lesson}}"),
            (f"stockbot_guards_active{SEL}", "{{account}} active guards"))
    b.row("Operations")
    b.panel("Quote stream age", (f"stockbot_stream_quote_age_seconds{SEL}", "{{account}} {{symbol}}"), unit="s")
    b.panel("Stream alive / fresh", (f"stockbot_stream_alive{SEL}", "{{account}} alive"),
            (f"stockbot_stream_fresh{SEL}", "{{account}} fresh"))
    b.panel("Job runs (per hour)", per("1h", "stockbot_job_runs_total", "job"))
    b.panel("Job crashes (per hour)", per("1h", "stockbot_job_crashes_total", "job"), stack=True)
    b.panel("Reconciliation findings (per day)", per("1d", "stockbot_reconcile_findings_total", "kind"), stack=True)
    b.panel("Lessons captured (per day)", per("1d", "stockbot_lessons_captured_total", "kind"), stack=True)
    b.panel("Alerts (per day)", per("1d", "stockbot_alerts_total", "kind, result"), stack=True)
    b.panel("State database readable", f"stockbot_store_readable{SEL}")
    account = {"name": "account", "type": "query", "label": "Account", "multi": True, "includeAll": True,
               "datasource": DS, "query": {"query": "label_values(stockbot_info, account)", "refId": "accounts"},
               "definition": "label_values(stockbot_info, account)", "refresh": 2,
               "current": {"text": "All", "value": "$__all"}}
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource", "pluginId": "prometheus"}],
        "title": "stockbot", "uid": "stockbot-fleet", "tags": ["stockbot", "trading"], "timezone": "America/New_York",
        "schemaVersion": 39, "version": 1, "editable": True, "refresh": "1m", "time": {"from": "now-7d", "to": "now"},
        "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus",
                                 "label": "Prometheus"}, account]},
        "panels": b.laid_out(),
    }


def main(argv: list[str]) -> int:
    text = json.dumps(build(), indent=2) + "\n"
    if argv == ["--check"]:
        if OUT.read_text() != text:
            print(f"{OUT} is not what {__file__} writes: run it", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
