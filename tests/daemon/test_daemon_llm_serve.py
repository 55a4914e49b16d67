"""``LLM_SERVE=true``: the daemon starts this host's llama.cpp server before the agents, reuses one
that already answers on the port, and still starts (local agents HOLD) when it cannot."""

from __future__ import annotations

from daemonkit import QUIET, daemon_settings

from stockbot.config import LLMSettings


async def test_a_server_that_cannot_start_is_an_event_and_an_alert_not_a_refusal(make_sim, rig_for, tmp_path):
    sim = await make_sim()
    settings = daemon_settings(sim.url).model_copy(
        update={"llm": LLMSettings(serve=True, serve_model=str(tmp_path / "missing.gguf"))})
    rig = rig_for(sim, settings, timings=QUIET)
    await rig.daemon.start()
    try:
        [event] = rig.events("llm_serve_failed")
        assert "missing.gguf" in event.payload["error"] and rig.daemon.llm_server is None
        assert "llm_serve_failed" in rig.alerts.kinds() and rig.daemon.started
    finally:
        await rig.daemon.stop()


async def test_a_server_already_answering_on_the_port_is_reused_and_left_running(make_sim, rig_for, tmp_path):
    sim = await make_sim()  # the sim answers GET /v1/models like an OpenAI-compatible server
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    port = int(sim.url.rsplit(":", 1)[1])
    settings = daemon_settings(sim.url).model_copy(
        update={"llm": LLMSettings(serve=True, serve_port=port, serve_model=str(gguf))})
    rig = rig_for(sim, settings, timings=QUIET)
    await rig.daemon.start()
    server = rig.daemon.llm_server
    try:
        [event] = rig.events("llm_serve_started")
        assert event.payload["reused"] is True and event.payload["pid"] is None
        assert server.reused and server.proc is None and server.api_base == f"{sim.url}/v1"
    finally:
        await rig.daemon.stop()
    assert rig.daemon.llm_server is None
