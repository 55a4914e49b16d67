"""A running daemon on the sim serves Prometheus metrics on loopback (METRICS_PORT); the scraped
values equal what its store and its live state say; no secret is in the scrape; a non-loopback
address refuses start-up as a configuration error; the endpoint closes with the daemon."""

from __future__ import annotations

import json
import re
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml
from daemonkit import ACCOUNT, KEY, SECRET, daemon_settings
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from stockbot.alerts import Alerter
from stockbot.config import AlertSettings, MetricsSettings
from stockbot.daemon import EXIT_CONFIG, StartupRefused
from stockbot.status import FINAL_ORDER_STATES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Samples by (name, labels without ``account``); every one must be labelled with the daemon's account."""
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            labels = dict(s.labels)
            assert labels.pop("account") == ACCOUNT, s
            out[(s.name, tuple(sorted(labels.items())))] = s.value
    return out


def names(text: str) -> set[str]:
    """Family names (counters without ``_total``) and sample names of a scrape."""
    out = set()
    for fam in text_string_to_metric_families(text):
        out.add(fam.name)
        out.update(s.name for s in fam.samples)
    return out


def get(m: dict, name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_scrape_of_a_running_daemon_matches_its_store(make_sim, rig_for, seeds, waiter):
    sim = await make_sim()
    port = free_port()
    settings = daemon_settings(sim.url).model_copy(update={"metrics": MetricsSettings(port=port)})
    rig = rig_for(sim, settings)
    d = rig.daemon
    # the real alerter (its counters are scraped), with a target nothing listens on
    d.alerter = Alerter(AlertSettings(urls=SecretStr("json://127.0.0.1:9/nothing")), settings.account)
    await d.start()
    try:
        assert d.metrics is not None and d.metrics.url == f"http://127.0.0.1:{port}/metrics"
        assert d.trigger("decision")
        await waiter(lambda: rig.events("decision_cycle"), what="a decision cycle")
        assert d.trigger("eod")
        await waiter(lambda: rig.events("eod_report"), what="the end-of-day report")
        async with httpx.AsyncClient() as client:
            text = (await client.get(d.metrics.url, timeout=10)).text
        m = samples(text)
        store = d.store
        for secret in (KEY, SECRET, "sk-sim"):
            assert secret not in text
        assert get(m, "stockbot_store_readable") == 1 and get(m, "stockbot_daemon_ready") == 1
        for action, n in Counter(r.action for r in store.decisions(limit=1000)).items():
            assert get(m, "stockbot_decisions_total", action=action) == n
        [cycle] = rig.events("decision_cycle")
        assert get(m, "stockbot_decision_cycles_total", outcome=cycle.payload["status"]) == 1
        votes = store.votes(cycle.payload["decision_id"])
        assert votes
        for v in votes:
            result = "error" if v.error else "ok"
            assert get(m, "stockbot_votes_total", agent=v.agent, action=v.action, result=result) == 1
            assert get(m, "stockbot_agent_latency_seconds_count", agent=v.agent) == 1
            assert get(m, "stockbot_agent_latency_seconds_sum", agent=v.agent) == pytest.approx(v.latency_s)
        orders = store.orders()
        assert orders
        for (purpose, status), n in Counter((o.purpose, o.status) for o in orders).items():
            name = "stockbot_orders_total" if status in FINAL_ORDER_STATES else "stockbot_orders_working"
            assert get(m, name, purpose=purpose or "none", status=status) == n
        filled = Counter(o.purpose for o in orders if o.filled_qty > 0)
        for purpose, n in filled.items():
            assert get(m, "stockbot_fills_total", purpose=purpose) == n
        assert sum(v for (name, _), v in m.items() if name == "stockbot_open_structures") == \
            len(store.trades(status="open"))
        latest = store.equity_curve()[-1][1]
        assert get(m, "stockbot_equity_dollars") == pytest.approx(float(latest))
        assert get(m, "stockbot_trading_state", state="ACTIVE") == 1 and get(m, "stockbot_stop_flag") == 0
        for job in ("decision", "eod"):
            assert get(m, "stockbot_job_runs_total", job=job) == d.jobs.runs[job] >= 1
        assert get(m, "stockbot_stream_alive") == 1
        assert ("stockbot_stream_quote_age_seconds", (("symbol", "SPY"),)) in m
        assert get(m, "stockbot_guards_active") == len(d.strategy.deps.gate.guards) > 0
        await d.alerter.send("halt", "a test alert")
        async with httpx.AsyncClient() as client:
            text = (await client.get(d.metrics.url, timeout=10)).text
        assert get(samples(text), "stockbot_alerts_total", kind="halt", result="failed") == 1
        # every series the shipped Grafana dashboard and the example rules use is served
        served = names(text)
        grafana = json.loads((DEPLOY / "grafana" / "stockbot-dashboard.json").read_text())
        exprs = [t["expr"] for p in grafana["panels"] for t in p.get("targets", [])]
        rules = yaml.safe_load((DEPLOY / "prometheus" / "stockbot-rules.yml").read_text())
        exprs += [r["expr"] for g in rules["groups"] for r in g["rules"]]
        used = {n for e in exprs for n in re.findall(r"\bstockbot_[a-z_]+", e)}
        assert len(used) > 25
        missing = sorted(n for n in used if n not in served and n.removesuffix("_total") not in served)
        assert not missing, missing
    finally:
        await d.stop()
    assert d.metrics is None
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


async def test_metrics_off_by_default(make_sim, rig_for):
    sim = await make_sim()
    rig = rig_for(sim)
    await rig.daemon.start()
    try:
        assert rig.daemon.metrics is None
    finally:
        await rig.daemon.stop()


async def test_a_public_metrics_address_refuses_start_up(make_sim, rig_for):
    sim = await make_sim()
    settings = daemon_settings(sim.url).model_copy(
        update={"metrics": MetricsSettings(port=free_port(), host="0.0.0.0")})
    rig = rig_for(sim, settings)
    with pytest.raises(StartupRefused) as refused:
        await rig.daemon.start()
    assert refused.value.exit_code == EXIT_CONFIG and "loopback only" in refused.value.reason
    assert "startup_refused" in rig.alerts.kinds()
