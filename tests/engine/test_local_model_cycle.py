"""A real local model (SmolLM2-135M-Instruct on llama.cpp's server) votes through litellm in a full
condor decision cycle on the sim, beside two scripted agents.

Whatever the model answers, the decision record is complete (decision, one vote per agent, the
raw answer with its prompt hash, tokens and latency) and an invalid answer is a HOLD. One server
for the module: loading the model is the slow part.
"""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from stockbot.config import (AgentSettings, AgentSpec, AlpacaSettings, CondorSettings, LLMSettings, RiskSettings,
                             Settings)
from stockbot.consensus.schema import ParamBounds, parse_answer
from stockbot.llm_server import LocalServer, local_model_available
from stockbot.store_llm import calls

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not local_model_available(),
                                                   reason="extra `llm` not installed (make install installs it)")]

KEY, SECRET = "SIMKEY_ENGINE", "SIMSECRET_ENGINE"  # the engine fixtures' sim account


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def local_server(tmp_path_factory):
    llm = LLMSettings(serve_port=_free_port())
    server = LocalServer.from_settings(llm, log_path=tmp_path_factory.mktemp("llm") / "server.log")
    server.start()
    yield server
    server.stop()
    assert server.proc is None


async def test_local_model_votes_in_a_full_decision_cycle(local_server, make_sim, store, build):
    sim = await make_sim()
    agents = (AgentSpec(name="smollm2", kind="local", model=local_server.alias, api_base=local_server.api_base,
                        timeout_s=120, max_tokens=200),
              *(AgentSpec(name=f"scripted{i}", kind="llm", model="openai/scripted-enter", api_base=f"{sim.url}/v1",
                          api_key=SecretStr("sk-sim"), timeout_s=20) for i in range(2)))
    settings = Settings(account="eng", alpaca=AlpacaSettings(api_key=SecretStr(KEY), secret_key=SecretStr(SECRET),
                                                             base_url=sim.url),
                        agents=AgentSettings(agents=agents, deadline_s=150), condor=CondorSettings(dte_bounds=(14, 50)),
                        # a CPU-bound model on a busy 2-core box can take tens of seconds: the quotes
                        # read before the vote must still count as fresh for the risk gate
                        risk=RiskSettings(max_orders_per_hour=100, max_orders_per_day=300, max_quote_age_s=600))
    rig = build(sim, store, settings)
    out = await rig.engine.decide()
    [decision] = store.decisions()
    votes = {v.agent: v for v in store.votes(decision.decision_id)}
    assert set(votes) == {"smollm2", "scripted0", "scripted1"}
    local = votes["smollm2"]
    assert local.model == "openai/smollm2-135m" and local.latency_s > 0
    [call] = calls(store, decision_id=decision.decision_id, model="openai/smollm2-135m")
    # the model really answered: raw text, usage from the server, the schema sent as llama.cpp takes it
    assert call["raw"] and call["prompt_tokens"] > 0 and call["completion_tokens"] > 0
    assert call["response_format"] == "json_object+schema" and not call["estimated"]
    assert call["raw_sha256"] == local.raw_sha256
    parsed = parse_answer(call["raw"], strategy="condor", bounds=ParamBounds.from_settings(settings.condor))
    if parsed.error:  # an invalid answer (out-of-bound numbers included) is a HOLD with the reason
        assert local.action == "HOLD" and local.error == parsed.error and local.vote is None
    else:
        assert local.action == parsed.vote.action and local.error is None
    # the decision follows the count: 2 scripted ENTERs are the 2 of 3 needed whatever the model says,
    # and the cycle runs to its end: one mleg condor at the sim
    assert decision.action == "ENTER" and out.status == "entered", out
    assert [o.order_class for o in store.orders() if o.purpose == "condor_open"][:1] == ["mleg"]
