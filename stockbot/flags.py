"""The STOP flag: a file in the account's memory dir. Present = halted (no new orders).

The file records who set it, when and why, so an operator reading ``stockbot status`` or the
dashboard knows whether a halt was deliberate. Cancels and closing orders remain allowed.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import datetime
from pathlib import Path
from typing import Any

from stockbot.config import account_paths
from stockbot.fsutil import atomic_write_text
from stockbot.domain import utcnow


def stop_flag_path(account: str | None) -> Path:
    return account_paths(account)["stop_flag"]


def write_stop(account: str | None, reason: str, *, who: str | None = None, now: datetime | None = None) -> Path:
    """Create (or replace) the STOP flag atomically; returns its path."""
    path = stop_flag_path(account)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        user = who or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still record something useful
        user = who or str(os.getuid())
    body = {"who": f"{user}@{socket.gethostname()}", "when": (now or utcnow()).isoformat(), "why": reason}
    atomic_write_text(path, json.dumps(body, indent=2) + "\n")
    return path


def read_stop(account: str | None) -> dict[str, Any] | None:
    """The STOP flag's contents, or None when the account is not halted.

    A flag that exists but cannot be parsed still means halted: fail closed.
    """
    path = stop_flag_path(account)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {"why": str(data)}
    except (OSError, ValueError):
        return {"who": "?", "when": "?", "why": f"unreadable STOP file at {path} (still halted)"}


def remove_stop(account: str | None) -> bool:
    """Remove the STOP flag; returns False if there was none."""
    try:
        stop_flag_path(account).unlink()
        return True
    except FileNotFoundError:
        return False
