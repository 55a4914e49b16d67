"""Production-defaults fixtures: the settings that ship in ``.env.example``, unchanged.

Only the keys and the local exchange's URL are added (that is what a new user edits). The sim runs
with its defaults too: a clock that moves (not frozen), fills only at the touch (an mleg credit
fills when the bids minus the asks pay it, never at mid), the NYSE calendar (not always open).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from stockbot.config import Settings, env_dir, load_settings
from stockbot.sim.accounts import AccountSpec
from stockbot.sim.app import SimServer

REPO = Path(__file__).resolve().parents[2]
KEY, SECRET = "SIMKEY_PROD", "SIMSECRET_PROD"
ACCOUNT = "prod"
# Monday 2026-11-16, 10:45 New York: the shipped SCHEDULE_DECISION_CRON fires now.
DECISION_AT = datetime(2026, 11, 16, 15, 45, tzinfo=timezone.utc)


def write_shipped_env(url: str, account: str = ACCOUNT, *, key: str = KEY, secret: str = SECRET,
                      extra: dict[str, str] | None = None) -> Path:
    """``.env.example`` verbatim, then the keys and the local URL (and ``extra``, which a test
    must justify): the account's env file, mode 0600."""
    lines = [(REPO / ".env.example").read_text(), f"ALPACA_API_KEY={key}", f"ALPACA_SECRET_KEY={secret}",
             f"ALPACA_BASE_URL={url}"]
    lines += [f"{k}={v}" for k, v in (extra or {}).items()]
    path = env_dir() / f".env.{account}"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def shipped_settings(url: str, account: str = ACCOUNT, **kw: Any) -> Settings:
    write_shipped_env(url, account, **kw)
    return load_settings(account, environ={})


@pytest.fixture
async def prod_sim():
    """``await prod_sim(start_at=..., equity=...)``: the sim with its own defaults (moving clock,
    touch fills, the real calendar)."""
    started: list[SimServer] = []

    async def make(*, start_at: datetime = DECISION_AT, equity: str = "100000", seed: int = 3,
                   options_level: int = 3, **kw: Any) -> SimServer:
        spec = AccountSpec(key_id=KEY, secret=SECRET, equity=Decimal(equity), options_level=options_level)
        server = SimServer(seed=seed, start_at=start_at, accounts=[spec], **kw)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        await server.stop()
