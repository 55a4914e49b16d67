"""The log of every request the sim served (``SimState.requests``; read through ``/_sim/requests``)."""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any


class RequestLog:
    """Every request the sim served: method, path, query, key id (never the secret), status,
    duration, sim and wall time, and the JSON body of writes (truncated to 8 KiB)."""

    def __init__(self, maxlen: int = 100_000) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)

    def add(self, entry: dict[str, Any]) -> None:
        entry["seq"] = next(self._seq)
        self._entries.append(entry)

    def clear(self) -> None:
        self._entries.clear()

    def query(self, *, method: str | None = None, path: str | None = None, path_prefix: str | None = None,
              key_id: str | None = None, status: int | None = None, since: int | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
        """Entries oldest first; every given filter must match (``since``: seq greater than)."""
        out = []
        for e in list(self._entries):  # a snapshot: other threads may read while the loop appends
            if method and e["method"] != method.upper():
                continue
            if path and e["path"] != path:
                continue
            if path_prefix and not e["path"].startswith(path_prefix):
                continue
            if key_id and e["key_id"] != key_id:
                continue
            if status is not None and e["status"] != status:
                continue
            if since is not None and e["seq"] <= since:
                continue
            out.append(e)
        return out[-limit:] if limit else out

    def __len__(self) -> int:
        return len(self._entries)
