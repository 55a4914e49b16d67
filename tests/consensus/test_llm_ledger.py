"""Raw LLM answers in the store and the per-account daily budget, through litellm and the sim's
scripted agents on loopback (real HTTP, real SQLite store)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr

from stockbot.config import AgentSettings, AgentSpec, LLMSettings
from stockbot.consensus.agents import build_agents
from stockbot.consensus.budget import ALERT_KIND, LLMBudget, budget_status
from stockbot.consensus.runner import ConsensusRunner
from stockbot.consensus.structured import lean_prompt, prompt_sha256
from stockbot.consensus.schema import ParamBounds
from stockbot.store import Store
from stockbot.store_llm import calls, replay_answer, spend_on


class SentAlerts:
    """Keeps what was sent; same ``send`` signature as ``stockbot.alerts.Alerter``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, kind: str, message: str, *, force: bool = False) -> None:
        self.sent.append((kind, message))


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "state.db")
    yield s
    s.close()


def _runner(url: str, store, models: list[str], *, llm: LLMSettings, alerter=None, kind: str = "llm",
            timeout_s: float = 10.0, deadline_s: float = 20.0) -> ConsensusRunner:
    key = SecretStr("sk-sim") if kind == "llm" else None  # a local agent sends its own placeholder key
    specs = tuple(AgentSpec(name=f"a{i}", kind=kind, model=m, api_base=f"{url}/v1", timeout_s=timeout_s, api_key=key)
                  for i, m in enumerate(models))
    budget = LLMBudget(llm, store, alerter=alerter)
    agents = build_agents(AgentSettings(agents=specs, allow_fewer_than_three=True), budget=budget)
    return ConsensusRunner(agents, deadline_s=deadline_s, store=store, allow_fewer_than_three=True)


async def test_every_raw_answer_is_recorded_with_hash_model_tokens_and_latency(agent_server, store, make_condor):
    runner = _runner(agent_server.url, store, ["openai/scripted-analyst", "openai/scripted-malformed",
                                               "openai/scripted-error"], llm=LLMSettings())
    result = await runner.decide(make_condor(), decision_id="d1")
    rows = {r["agent"]: r for r in calls(store, decision_id="d1")}
    assert set(rows) == {"a0", "a1", "a2"}
    ok, bad, err = rows["a0"], rows["a1"], rows["a2"]
    assert ok["raw"].startswith("{") and ok["error"] is None and ok["prompt_tokens"] > 100
    assert ok["completion_tokens"] > 0 and ok["latency_s"] > 0 and ok["response_format"] == "json_object"
    assert ok["model"] == "openai/scripted-analyst" and len(ok["prompt_sha256"]) == 64
    # the malformed answer is kept verbatim (audit) and its vote is a HOLD with the reason
    assert bad["raw"] and bad["error"].startswith("invalid_json") and bad["raw_sha256"]
    assert err["raw"] is None and err["error"].startswith("transport:")
    by_agent = {b.agent: b for b in result.ballots}
    assert by_agent["a1"].action == "HOLD" and by_agent["a0"].raw_sha256 == ok["raw_sha256"]
    # replay: the recorded answer for this prompt and model is what --llm replay serves
    assert replay_answer(store, ok["prompt_sha256"], "openai/scripted-analyst") == ok["raw"]


async def test_spent_token_cap_means_hold_with_reason_no_call_and_one_alert(agent_server, store, make_condor):
    alerts = SentAlerts()
    llm = LLMSettings(daily_budget_usd=5, daily_token_cap=1500)
    runner = _runner(agent_server.url, store, ["openai/scripted-enter"] * 3, llm=llm, alerter=alerts)
    first = await runner.decide(make_condor(), decision_id="d1")
    assert first.action.value == "ENTER"  # ~3 x 600 tokens: the cap is now spent
    assert budget_status(store, llm).exhausted_reason
    before = len(agent_server.state.requests)
    for n in (2, 3):
        result = await runner.decide(make_condor(), decision_id=f"d{n}")
        assert result.action.value == "HOLD"
        assert all(b.action == "HOLD" and "LLM_DAILY_TOKEN_CAP" in b.error for b in result.ballots)
    assert len(agent_server.state.requests) == before  # no call was made once spent
    assert [k for k, _ in alerts.sent] == [ALERT_KIND]  # once, not once per agent or per decision
    [event] = store.events(kind=ALERT_KIND)
    assert event.payload["exhausted"] and event.payload["token_cap"] == 1500
    # a restarted daemon (new budget object, same store) does not alert again that day
    alerts2 = SentAlerts()
    await _runner(agent_server.url, store, ["openai/scripted-enter"], llm=llm, alerter=alerts2).decide(make_condor())
    assert alerts2.sent == []


async def test_dollar_budget_counts_recorded_cost(store):
    from stockbot.store_llm import LLMCall, record_call

    now = datetime(2026, 11, 18, 15, 0, tzinfo=timezone.utc)
    for cost in (0.4, 0.7):
        record_call(store, LLMCall(agent="a", model="openai/gpt-4o", prompt_sha256="p" * 64, response_format=None,
                                   raw="{}", prompt_tokens=10, completion_tokens=5, cost_usd=cost, estimated=False,
                                   latency_s=0.1), decision_id="d", ts=now)
    # yesterday's spend does not count today
    record_call(store, LLMCall(agent="a", model="m", prompt_sha256="p" * 64, response_format=None, raw=None,
                               prompt_tokens=1, completion_tokens=1, cost_usd=9.0, estimated=True, latency_s=1),
                decision_id=None, ts=datetime(2026, 11, 17, 23, 59, tzinfo=timezone.utc))
    spend = spend_on(store, now)
    assert spend.calls == 2 and spend.tokens == 30 and spend.cost_usd == pytest.approx(1.1)
    budget = LLMBudget(LLMSettings(daily_budget_usd=1.0), store, clock=lambda: now)
    reason = await budget.check()
    assert "LLM_DAILY_BUDGET_USD" in reason and "$1.1000" in reason
    assert await LLMBudget(LLMSettings(daily_budget_usd=2.0), store, clock=lambda: now).check() is None


async def test_timed_out_calls_are_charged_an_estimate_so_timeouts_cannot_bypass_the_cap(agent_server, store,
                                                                                        make_condor):
    llm = LLMSettings(daily_token_cap=1500)
    runner = _runner(agent_server.url, store, ["openai/scripted-timeout"], llm=llm, timeout_s=0.5)
    result = await runner.decide(make_condor(), decision_id="t1")
    [row] = calls(store, decision_id="t1")
    assert result.ballots[0].error.startswith("timeout") and row["raw"] is None and row["estimated"]
    assert row["completion_tokens"] == 400 and row["prompt_tokens"] > 100  # the whole max_tokens is charged
    # a runner deadline that cuts the agent off charges it as well
    cut = _runner(agent_server.url, store, ["openai/scripted-timeout"], llm=llm, timeout_s=30, deadline_s=0.5)
    result = await cut.decide(make_condor(), decision_id="t2")
    [row2] = calls(store, decision_id="t2")
    assert result.ballots[0].error.startswith(("deadline", "timeout")) and row2["estimated"]
    assert row["prompt_tokens"] + 400 < 1500  # one estimate alone stays under the cap...
    assert budget_status(store, llm).exhausted_reason  # ...two of them exceed it
    third = await runner.decide(make_condor(), decision_id="t3")
    assert "LLM_DAILY_TOKEN_CAP" in third.ballots[0].error and calls(store, decision_id="t3") == []


async def test_local_kind_gets_the_lean_prompt_and_the_schema(agent_server, store, make_condor):
    runner = _runner(agent_server.url, store, ["smollm2-135m"], llm=LLMSettings(), kind="local")
    ctx = make_condor()
    await runner.decide(ctx, decision_id="l1")
    sent = agent_server.state.requests[-1]
    assert sent["model"] == "smollm2-135m"  # litellm's openai/ prefix is stripped on the wire
    fmt = sent["params"]["response_format"]
    assert fmt["type"] == "json_object" and fmt["schema"]["properties"]["condor"]["required"]
    [row] = calls(store, decision_id="l1")
    assert row["model"] == "openai/smollm2-135m" and row["response_format"] == "json_object+schema"
    assert row["prompt_sha256"] == prompt_sha256(lean_prompt(ctx, ParamBounds()))


async def test_store_less_budget_keeps_an_in_memory_ledger(agent_server, make_condor):
    specs = tuple(AgentSpec(name=f"a{i}", kind="llm", model="openai/scripted-hold", api_base=f"{agent_server.url}/v1",
                            api_key=SecretStr("sk-sim")) for i in range(3))
    budget = LLMBudget(LLMSettings(daily_token_cap=1000))
    runner = ConsensusRunner(build_agents(AgentSettings(agents=specs), budget=budget))
    await runner.decide(make_condor())
    assert budget.status().calls == 3 and budget.status().tokens > 1000
    result = await runner.decide(make_condor())
    assert all("LLM_DAILY_TOKEN_CAP" in b.error for b in result.ballots)


def test_llm_spend_and_calls_commands_read_the_accounts_own_store(capsys):
    from stockbot.cli import main
    from stockbot.store_llm import LLMCall, record_call

    with Store.for_account("alpha") as s:
        record_call(s, LLMCall(agent="smol", model="openai/smollm2-135m", prompt_sha256="a" * 64,
                               response_format="json_object+schema", raw='{"action":"HOLD"}', prompt_tokens=250,
                               completion_tokens=40, cost_usd=None, estimated=False, latency_s=2.1),
                    decision_id="condor-1", ts=datetime.now(timezone.utc))
    assert main(["llm", "spend", "--account", "alpha", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["calls"] == 1 and data["tokens"] == 290 and data["budget_usd"] == 5.0 and not data["exhausted"]
    assert main(["llm", "spend", "--account", "beta", "--json"]) == 0  # isolation: nothing of alpha's
    assert json.loads(capsys.readouterr().out)["calls"] == 0
    assert main(["llm", "calls", "--account", "alpha", "--raw"]) == 0
    out = capsys.readouterr().out
    assert "condor-1 smol openai/smollm2-135m json_object+schema tokens 250+40" in out and '{"action":"HOLD"}' in out
