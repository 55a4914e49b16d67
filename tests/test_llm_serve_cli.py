"""``stockbot llm serve``: the real llama.cpp server in the foreground, on loopback, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from stockbot.llm_server import local_model_available

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not local_model_available(),
                                                   reason="extra `llm` not installed (make install installs it)")]


def test_llm_serve_answers_on_loopback_and_stops_on_sigterm(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "STOCKBOT_ENV_DIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "stockbot.cli", "llm", "serve", "--port", str(port),
                             "--log", str(tmp_path / "server.log"), "--seconds", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        first = proc.stdout.readline()  # printed once /v1/models answers
        assert f"on http://127.0.0.1:{port}/v1" in first and "smollm2-135m" in first, first
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).json()
        assert [m["id"] for m in models["data"]] == ["smollm2-135m"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "llama.cpp server stopped" in out
    with pytest.raises(httpx.HTTPError):  # the child server went with it
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
