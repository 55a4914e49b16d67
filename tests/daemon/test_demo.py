"""``stockbot demo`` end to end: sim + daemon + scripted agents, a condor as one mleg order, the
planted naked short put closed by reconciliation and captured as a lesson, a clean stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockbot.demo import env_file_text
from stockbot.llm_server import local_model_available
from stockbot.store import Store
from stockbot.store_llm import calls

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_places_an_mleg_condor_and_learns_from_the_planted_orphan(tmp_path):
    work = tmp_path / "demo"
    local = local_model_available()  # extra `llm`: a real local model votes too (each vote takes seconds)
    seconds = "60" if local else "30"
    proc = subprocess.run([sys.executable, "-m", "stockbot.demo", "--seconds", seconds, "--workdir", str(work)],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    env_file = work / "env" / ".env.demo"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    with Store(work / "memory" / "accounts" / "demo" / "state.db", readonly=True) as store:
        entries = [o for o in store.orders() if o.purpose == "condor_open"]
        assert entries and all(o.order_class == "mleg" and len(o.intent["legs"]) == 4 for o in entries)
        assert any(o.status == "filled" for o in entries)
        captured = store.events(kind="lesson_captured")
        assert any(e.payload["kind"] == "orphan_position" for e in captured)
        [stop] = store.events(kind="daemon_stop")
        assert stop.payload["orders_in_flight"] == []
        votes = store.votes(store.decisions()[-1].decision_id)
        local_calls = calls(store, model="openai/smollm2-135m")
    expected = {"openai/scripted-analyst", "openai/scripted-enter", "rule:iv_rank"}
    assert {v.model for v in votes} == expected | ({"openai/smollm2-135m"} if local else set())
    if local:  # the real model answered at least once, through the server the daemon started
        assert any(c["raw"] and c["completion_tokens"] for c in local_calls)
        assert "smollm2=a REAL local model" in out and "vote smollm2 (openai/smollm2-135m)" in out
    lesson_id = next(e.payload["lesson_id"] for e in captured if e.payload["kind"] == "orphan_position")
    # the console tells the story: votes, consensus, the mleg order, the fault, the lesson, the stop
    for text in ("vote analyst", "consensus:", "4 legs in ONE order", "FAULT injected", "reconciliation found orphan",
                 f"LESSON {lesson_id}", "stopping (the same path as SIGTERM)", "stream: quotes"):
        assert text in out, f"{text!r} missing from the demo output:\n{out}"
    assert "SIMSECRET_DEMO" not in out and "sk-sim" not in out


def test_demo_env_file_is_valid_settings(tmp_path, monkeypatch):
    from stockbot.config import load_settings
    from stockbot.demo import demo_agents, write_env

    monkeypatch.setenv("STOCKBOT_ENV_DIR", str(tmp_path))
    url = "http://127.0.0.1:9"
    write_env(tmp_path, "demo", env_file_text(url, "SIMKEY_DEMO", "SIMSECRET_DEMO", demo_agents(url)))
    s = load_settings("demo")
    assert [a.model for a in s.agents.agents] == ["openai/scripted-analyst", "openai/scripted-enter", "iv_rank"]
    assert s.agents.agents[0].api_base == f"{url}/v1" and s.alpaca.stream_url == "ws://127.0.0.1:9/v2/iex"
    assert s.schedule.manage_interval_s == 10 and s.log_level == "WARNING"
