"""Suite-wide guards: every test runs against a temporary memory root and env dir, offline."""

from __future__ import annotations

import os

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
