"""Raw LLM answers in the account's store: the audit trail, the replay source and the budget's ledger.

Every call an LLM agent makes is one row of ``llm_calls``: the prompt's hash, the model, the raw
text it answered (or none: timeouts and transport errors are rows too), tokens, cost, latency and
whether the charge is an estimate. The daily budget sums these rows, so a call is charged whether
or not its answer was usable, and a timed-out call is charged what it could have cost.

The queries live here rather than in ``store.py``; they use the store's own locked connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

# Applied by ``stockbot.store`` as schema migration 2.
LLM_CALLS_MIGRATION = """
CREATE TABLE llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    decision_id TEXT,
    agent TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    response_format TEXT,
    raw TEXT,
    raw_sha256 TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    estimated INTEGER NOT NULL DEFAULT 0,
    latency_s REAL,
    error TEXT
);
CREATE INDEX llm_calls_ts ON llm_calls(ts);
CREATE INDEX llm_calls_prompt ON llm_calls(prompt_sha256, model);
"""

# A raw answer longer than this is stored cut (the parser refuses such answers anyway).
MAX_RAW_STORED = 20_000


@dataclass(frozen=True, slots=True)
class LLMCall:
    """One LLM call as the agent saw it (the runner adds the decision id when it stores it)."""

    agent: str
    model: str
    prompt_sha256: str
    response_format: str | None
    raw: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    estimated: bool
    latency_s: float
    error: str | None = None

    @property
    def tokens(self) -> int:
        return int(self.prompt_tokens or 0) + int(self.completion_tokens or 0)


@dataclass(frozen=True, slots=True)
class Spend:
    """What LLM calls cost in one UTC day."""

    day: str
    calls: int
    cost_usd: float
    tokens: int


def day_bounds(now: datetime) -> tuple[str, str, str]:
    """The UTC day of ``now`` as (label, start iso, end iso) for range queries on ``ts``."""
    start = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return start.date().isoformat(), start.isoformat(), (start + timedelta(days=1)).isoformat()


def record_call(store: Any, call: LLMCall, *, decision_id: str | None, ts: datetime) -> None:
    """Insert one call (thread-safe through the store's lock)."""
    import hashlib

    raw = call.raw[:MAX_RAW_STORED] if isinstance(call.raw, str) else None
    raw_sha = hashlib.sha256(call.raw.encode("utf-8", "replace")).hexdigest() if isinstance(call.raw, str) else None
    store._write(
        "INSERT INTO llm_calls(ts, decision_id, agent, model, prompt_sha256, response_format, raw, raw_sha256,"
        " prompt_tokens, completion_tokens, cost_usd, estimated, latency_s, error)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (ts.astimezone(timezone.utc).isoformat(), decision_id, call.agent, call.model, call.prompt_sha256,
         call.response_format, raw, raw_sha, call.prompt_tokens, call.completion_tokens, call.cost_usd,
         int(call.estimated), round(call.latency_s, 6), call.error),
    )


def spend_on(store: Any, now: datetime) -> Spend:
    """Calls, dollars and tokens charged in the UTC day of ``now``."""
    label, start, end = day_bounds(now)
    row = store._rows(
        "SELECT COUNT(*) AS n, COALESCE(SUM(cost_usd), 0) AS cost,"
        " COALESCE(SUM(COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0)), 0) AS tokens"
        " FROM llm_calls WHERE ts >= ? AND ts < ?", (start, end))[0]
    return Spend(day=label, calls=int(row["n"]), cost_usd=float(row["cost"]), tokens=int(row["tokens"]))


def calls(store: Any, *, decision_id: str | None = None, prompt_sha256: str | None = None,
          model: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Recorded calls, newest first, filtered by decision, prompt hash and/or model."""
    where, params = [], []
    for col, value in (("decision_id", decision_id), ("prompt_sha256", prompt_sha256), ("model", model)):
        if value is not None:
            where.append(f"{col} = ?")
            params.append(value)
    sql = "SELECT * FROM llm_calls" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC LIMIT ?"
    rows = store._rows(sql, (*params, limit))
    for r in rows:
        r["estimated"] = bool(r["estimated"])
    return rows


def replay_answer(store: Any, prompt_sha256: str, model: str) -> str | None:
    """The latest raw answer recorded for this prompt and model (what ``--llm replay`` serves)."""
    rows = store._rows("SELECT raw FROM llm_calls WHERE prompt_sha256 = ? AND model = ? AND raw IS NOT NULL"
                       " ORDER BY id DESC LIMIT 1", (prompt_sha256, model))
    return rows[0]["raw"] if rows else None
