"""Ops test helpers: sim accounts, env-file writers, a recording alerter."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

from stockbot.config import env_file_path
from stockbot.sim.accounts import AccountSpec

from simfixtures import RecordingAlerter  # noqa: F401 - re-exported for the ops tests

KEY_A, SECRET_A = "OPSKEYAAAA1111", "OPSSECRETAAAA1111xyz"  # multiplier 2, shorting, level 3
KEY_B, SECRET_B = "OPSKEYBBBB2222", "OPSSECRETBBBB2222xyz"  # multiplier 1, no shorting, level 2
ACCOUNTS = [
    AccountSpec(key_id=KEY_A, secret=SECRET_A, equity=Decimal("100000"), multiplier=2, shorting=True,
                options_level=3),
    AccountSpec(key_id=KEY_B, secret=SECRET_B, equity=Decimal("50000"), multiplier=1, shorting=False,
                options_level=2),
]


def write_env(account: str | None, text: str, mode: int = 0o640) -> Path:
    path = env_file_path(account)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def sim_env(url: str, key: str = KEY_A, secret: str = SECRET_A, extra: str = "") -> str:
    return (f"# ops test account\nALPACA_API_KEY={key}\nALPACA_SECRET_KEY={secret}\n"
            f"ALPACA_PAPER=true\nALPACA_BASE_URL={url}\n{extra}")


def methods(sim) -> set[str]:
    return {e["method"] for e in sim.state.requests.query()}
