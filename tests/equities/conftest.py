"""Fixtures for the equity/index tests: no internet (helpers live in ``equity_helpers.py``)."""

from __future__ import annotations

import os
import socket

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

_LOCAL = {"127.0.0.1", "localhost", "::1", None}


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Only loopback resolves: anything reaching out fails the test."""
    real = socket.getaddrinfo
    attempts: list[str] = []

    def guarded(host, *args, **kwargs):
        h = host.decode() if isinstance(host, bytes) else host
        if h not in _LOCAL:
            attempts.append(str(h))
            raise OSError(f"test tried to reach {h!r}: no internet in tests")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert not attempts, f"tried to reach the internet: {attempts}"
