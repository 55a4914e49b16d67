"""Suite-wide guards: every test runs against a temporary memory root and env dir, offline."""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def isolated_roots(tmp_path_factory, monkeypatch):
    """No test can write to the checkout's memory/ or read a developer's .env files."""
    root = tmp_path_factory.mktemp("memory")
    envdir = tmp_path_factory.mktemp("envdir")
    monkeypatch.setenv("STOCKBOT_MEMORY_ROOT", str(root))
    monkeypatch.setenv("STOCKBOT_ENV_DIR", str(envdir))
    monkeypatch.delenv("STOCKBOT_ACCOUNT", raising=False)
    for key in list(os.environ):
        if key.startswith(("ALPACA_", "AGENT", "RISK_", "CONDOR_", "EQUITY_", "ALERT_", "QDRANT_URL")):
            monkeypatch.delenv(key, raising=False)
    return root


_LOCAL_NAMES = {"127.0.0.1", "localhost", "::1", None, ""}


def _is_loopback(host) -> bool:
    h = host.decode() if isinstance(host, bytes) else host
    if h in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(str(h).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """No test may reach beyond loopback: name lookups and TCP/UDP connects elsewhere fail, and the
    test fails even when the code under test swallowed the error (litellm and alpaca-py retry and
    catch a lot)."""
    attempts: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            attempts.append(str(host))
            raise OSError(f"test tried to resolve {host!r}: no internet in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(str(address[0]))
            raise OSError(f"test tried to connect to {address[0]!r}: no internet in tests")

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield
    assert not attempts, f"a test tried to reach the internet: {attempts}"


class SmtpSink:
    """aiosmtpd handler keeping every message it receives (raw bytes)."""

    def __init__(self):
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp():
    """A local SMTP server: ``(port, sink)``; ``sink.messages`` holds what was delivered."""
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = SmtpSink()
    ctl = Controller(sink, hostname="127.0.0.1", port=port)
    ctl.start()
    yield port, sink
    ctl.stop()


@pytest.fixture
def seeds(isolated_roots):
    """Copy the committed seed lessons into this test's shared lessons dir."""
    import shutil

    from stockbot import config

    dest = config.shared_lessons_dir()
    dest.mkdir(parents=True, exist_ok=True)
    for path in (config.DEFAULT_MEMORY_ROOT / "lessons").glob("LL-*.md"):
        shutil.copy(path, dest / path.name)
    return dest
