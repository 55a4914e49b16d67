"""Prometheus metrics from a seeded store: every family's value equals what the store says; the
endpoint is loopback-only unless allowed, per account (never the global registry), secret-free."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from stockbot.config import MetricsSettings, RiskSettings
from stockbot.domain import OrderIntent, utcnow
from stockbot.trading.riskctx import ny_midnight
from stockbot.flags import write_stop
from stockbot.metrics import MetricsError, MetricsServer, StoreCollector, check_bind, dte_bucket, structure_dte
from stockbot.store import Store


def scrape(collector: StoreCollector) -> dict[tuple[str, tuple], float]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(collector)
    return parse(generate_latest(reg).decode())


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """Samples by (name, labels without ``account``); every sample names one and the same account."""
    out, accounts = {}, set()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = dict(s.labels)
            accounts.add(labels.pop("account"))
            out[(s.name, tuple(sorted(labels.items())))] = s.value
    assert len(accounts) == 1, accounts
    out[("account", ())] = accounts.pop()
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def seed(account: str, now) -> None:
    exp = (now + timedelta(days=20)).astimezone().strftime("%y%m%d")
    with Store.for_account(account) as s:
        s.record_equity(ny_midnight(now) - timedelta(hours=3), Decimal("100000"), Decimal("100000"))
        s.record_equity(ny_midnight(now) - timedelta(hours=2), Decimal("102000"), Decimal("100000"))
        s.record_equity(now, Decimal("101490.50"), Decimal("90000"))
        s.record_decision("d-1", strategy="condor", action="ENTER", params={}, reason="supermajority")
        s.record_decision("d-2", strategy="condor", action="HOLD", params={}, reason="no quorum")
        for did, agent, action, err, latency, cost in (
                ("d-1", "alpha", "ENTER", None, 1.5, 0.002), ("d-1", "beta", "ENTER", None, 2.5, 0.003),
                ("d-1", "gamma", "HOLD", "Timeout: no answer", 20.0, None), ("d-2", "alpha", "HOLD", None, 1.0, 0.001)):
            s.record_vote(did, agent=agent, model="openai/gpt", action=action, confidence=0.7, latency_s=latency,
                          prompt_tokens=100, completion_tokens=20, cost_usd=cost, vote={"rationale": "r"},
                          raw_sha256=None, error=err)
        s.append_event("decision_cycle", {"status": "entered", "decision_id": "d-1"})
        s.append_event("decision_cycle", {"status": "hold", "decision_id": "d-2"})
        for coid, purpose, status, filled in (("o1", "entry", "filled", "1"), ("o2", "entry", "canceled", "0"),
                                              ("o3", "close", "canceled", "1"), ("o4", "close", "new", None)):
            s.record_order_intent(OrderIntent(client_order_id=coid, qty=Decimal(1), symbol="SPY", purpose=purpose))
            s.update_order(coid, status=status, filled_qty=filled)
        s.append_event("order_denied", {"client_order_id": "o9", "purpose": "entry", "rule": "max_orders_per_day"})
        s.append_event("order_denied", {"client_order_id": "o8", "purpose": "entry", "rule": "lesson:LL-007"})
        s.append_event("order_denied", {"client_order_id": "o7", "purpose": "entry", "rule": "lesson:LL-007"})
        s.record_trade(structure_id="ic-1", strategy="condor", status="open", qty="1", opened_ts=now,
                       legs=[{"symbol": f"SPY{exp}C00700000", "qty": "-1"},
                             {"symbol": f"SPY{exp}C00705000", "qty": "1"}])
        s.record_trade(structure_id="eq-1", strategy="equity", status="open", qty="3", opened_ts=now,
                       legs=[{"symbol": "AAPL", "qty": "3"}])
        s.record_trade(structure_id="ic-0", strategy="condor", status="closed", qty="1", opened_ts=now, pnl="-12.5",
                       legs=[])
        s.append_event("lesson_captured", {"kind": "job_exception", "lesson_id": "LL-100"})
        s.append_event("reconciled", {"startup": False, "resolved": ["o4"], "unresolved": [], "closed": [["SPY", "x"]],
                                      "orphans": ["SPY put"], "errors": [], "adopted": [], "booked": []})
        s.append_event("job_crash", {"job": "manage", "error": "boom"})
        s.append_event("stream_connected", {})
        s.append_event("stream_stale", {"silence_s": 61})


def test_every_family_matches_the_store():
    now = utcnow()
    seed("m1", now)
    m = scrape(StoreCollector("m1", strategy="condor", now=lambda: now))
    assert value(m, "stockbot_store_readable") == 1
    assert value(m, "stockbot_decisions_total", action="ENTER") == 1 and value(m, "stockbot_decisions_total",
                                                                                 action="HOLD") == 1
    assert value(m, "stockbot_decision_cycles_total", outcome="entered") == 1
    assert value(m, "stockbot_votes_total", agent="gamma", action="HOLD", result="error") == 1
    assert value(m, "stockbot_votes_total", agent="alpha", action="ENTER", result="ok") == 1
    assert value(m, "stockbot_agent_errors_total", agent="gamma") == 1
    assert value(m, "stockbot_agent_latency_seconds_count", agent="alpha") == 2
    assert value(m, "stockbot_agent_latency_seconds_sum", agent="alpha") == pytest.approx(2.5)
    assert value(m, "stockbot_llm_cost_usd_total", agent="beta", model="openai/gpt") == pytest.approx(0.003)
    assert value(m, "stockbot_llm_tokens_total", agent="alpha", kind="prompt") == 200
    assert value(m, "stockbot_orders_total", purpose="entry", status="filled") == 1
    assert value(m, "stockbot_orders_total", purpose="close", status="canceled") == 1
    assert value(m, "stockbot_orders_working", purpose="close", status="new") == 1  # not final: a gauge
    assert ("stockbot_orders_total", (("purpose", "close"), ("status", "new"))) not in m
    assert value(m, "stockbot_fills_total", purpose="entry") == 1 and value(m, "stockbot_fills_total",
                                                                              purpose="close") == 1
    assert value(m, "stockbot_order_denials_total", rule="lesson:LL-007") == 2
    assert value(m, "stockbot_guard_denials_total", lesson="LL-007") == 2
    assert value(m, "stockbot_open_structures", days_to_expiry="15-21") + value(
        m, "stockbot_open_structures", days_to_expiry="8-14") == 1  # 20 days, or 19 across NY midnight
    assert value(m, "stockbot_open_structures", days_to_expiry="none") == 1  # the stock position
    assert value(m, "stockbot_closed_trades_total") == 1 and value(m, "stockbot_realised_pnl_dollars") == -12.5
    assert value(m, "stockbot_equity_dollars") == pytest.approx(101490.50)
    assert value(m, "stockbot_day_pnl_dollars") == pytest.approx(-509.50)
    assert value(m, "stockbot_drawdown_ratio") == pytest.approx(101490.5 / 102000 - 1)
    assert value(m, "stockbot_trading_state", state="ACTIVE") == 1 and value(m, "stockbot_trading_state",
                                                                             state="HALTED") == 0
    assert value(m, "stockbot_stop_flag") == 0
    assert value(m, "stockbot_lessons_captured_total", kind="job_exception") == 1
    assert value(m, "stockbot_reconcile_runs_total") == 1
    assert value(m, "stockbot_reconcile_findings_total", kind="orphans") == 1
    assert value(m, "stockbot_reconcile_findings_total", kind="resolved") == 1
    assert value(m, "stockbot_job_crash_events_total", job="manage") == 1
    assert value(m, "stockbot_stream_fresh") == 0


def test_loss_limit_and_stop_flag_show_as_halted():
    now = utcnow()
    seed("m2", now)
    # a 0.4% daily loss limit: -509.50 on 102,000 breaches it (the account no longer opens freely)
    m = scrape(StoreCollector("m2", risk=RiskSettings(daily_loss_limit=0.004), now=lambda: now))
    assert value(m, "stockbot_trading_state", state="ACTIVE") == 0
    assert value(m, "stockbot_trading_state", state="REDUCING") + \
        value(m, "stockbot_trading_state", state="HALTED") == 1
    m = scrape(StoreCollector("m2", risk=RiskSettings(equity_floor=Decimal("101500")), now=lambda: now))
    assert value(m, "stockbot_trading_state", state="HALTED") == 1  # equity 101,490.50 at/below the floor
    write_stop("m2", "operator")
    m = scrape(StoreCollector("m2", now=lambda: now))
    assert value(m, "stockbot_trading_state", state="HALTED") == 1 and value(m, "stockbot_stop_flag") == 1


def test_an_account_without_a_database_scrapes_as_unreadable(isolated_roots):
    m = scrape(StoreCollector("nothing"))
    assert value(m, "stockbot_store_readable") == 0
    assert not (isolated_roots / "accounts").exists()  # reading created nothing


def test_dte_buckets():
    now = utcnow()
    assert [dte_bucket(d) for d in (0, 7, 8, 30, 31, 45, 46, None)] == ["0-7", "0-7", "8-14", "22-30", "31-45",
                                                                         "31-45", "46+", "none"]
    assert structure_dte([{"symbol": "AAPL"}, {"symbol": "junk"}], now) is None


def test_bind_is_loopback_unless_allowed():
    assert check_bind(MetricsSettings(port=9311)) == "127.0.0.1"
    assert check_bind(MetricsSettings(port=9311, host="::1")) == "::1"
    with pytest.raises(MetricsError, match="loopback only"):
        check_bind(MetricsSettings(port=9311, host="0.0.0.0"))
    with pytest.raises(MetricsError, match="not an IP address"):
        check_bind(MetricsSettings(port=9311, host="example.org"))
    assert check_bind(MetricsSettings(port=9311, host="0.0.0.0", allow_remote=True)) == "0.0.0.0"


def test_each_account_has_its_own_registry_served_on_loopback():
    now = utcnow()
    seed("a1", now)
    with Store.for_account("a2") as s:
        s.record_equity(now, Decimal("5000"), Decimal("5000"))
    before = {m.name for m in REGISTRY.collect()}
    servers = [MetricsServer(StoreCollector(acc, now=lambda: now), MetricsSettings(port=None)) for acc in ("a1", "a2")]
    try:
        urls = [s.start() for s in servers]
        assert all(u.startswith("http://127.0.0.1:") for u in urls)
        got = [parse(httpx.get(u, timeout=10).text) for u in urls]
    finally:
        for s in servers:
            s.stop()
    assert value(got[0], "stockbot_equity_dollars") == pytest.approx(101490.5)
    assert value(got[1], "stockbot_equity_dollars") == 5000
    assert got[0][("account", ())] == "a1" and got[1][("account", ())] == "a2"
    assert value(got[0], "stockbot_info", strategy="condor") == 1
    assert {m.name for m in REGISTRY.collect()} == before  # nothing landed in the global registry


def test_shipped_env_example_keeps_metrics_off_and_loopback(tmp_path, monkeypatch):
    from pathlib import Path

    import stockbot
    from stockbot.config import load_settings

    example = Path(stockbot.__file__).resolve().parent.parent / ".env.example"
    monkeypatch.setenv("STOCKBOT_ENV_DIR", str(tmp_path))
    (tmp_path / ".env").write_text(example.read_text())
    (tmp_path / ".env").chmod(0o600)
    m = load_settings(None).metrics
    assert m == MetricsSettings() and m.port is None  # off unless an operator picks a port
    assert check_bind(m.model_copy(update={"port": 9311})) == "127.0.0.1"


def test_committed_grafana_dashboard_is_what_the_script_writes():
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "scripts/grafana_dashboard.py", "--check"], cwd=repo, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    dash = json.loads((repo / "deploy" / "grafana" / "stockbot-dashboard.json").read_text())
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert panels and all(p["targets"] and all("stockbot_" in t["expr"] for t in p["targets"]) for p in panels)
    assert all('account=~"$account"' in t["expr"] for p in panels for t in p["targets"])
    assert [v["name"] for v in dash["templating"]["list"]] == ["datasource", "account"]
    import yaml

    scrape = yaml.safe_load((repo / "deploy" / "prometheus" / "stockbot-scrape.yml").read_text())
    [job] = scrape["scrape_configs"]
    assert job["job_name"] == "stockbot" and job["honor_labels"] is True
    assert all(t.startswith("127.0.0.1:") for c in job["static_configs"] for t in c["targets"])  # loopback only
    assert scrape["rule_files"] == ["stockbot-rules.yml"]
    assert (repo / "deploy" / "prometheus" / "stockbot-rules.yml").exists()
