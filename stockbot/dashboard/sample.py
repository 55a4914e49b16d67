"""Sample accounts for the dashboard's tests and README screenshot, written through the real APIs
(``Store`` and ``LessonStore``) into the memory root of the environment (a temp dir in tests).

Three accounts: ``sp500`` (a condor account with history, open condors and lessons), ``nasdaq``
(halted by its STOP flag, out of capital, a failing quote stream) and the default account (a new
account with a few days of data). Deterministic for a seed, except event timestamps, which the
store stamps itself with the current time.
"""

from __future__ import annotations

import random
import shutil
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from stockbot.config import account_paths, shared_lessons_dir
from stockbot.domain import OptionRight, utcnow
from stockbot.flags import write_stop
from stockbot.lessons.files import LessonStore
from stockbot.lessons.model import Severity, Status
from stockbot.options.occ import occ_symbol
from stockbot.store import Store

AGENTS = (("iv_rank", "iv_rank"), ("trend", "trend"), ("range", "range"), ("analyst", "openai/gpt-4o"))
RATIONALES = {
    "ENTER": ("IV rank 62 is high enough to sell premium; the 16-delta wings sit outside the expected move.",
              "SPY has held a 2% range for nine sessions; a 35-DTE condor fits the range.",
              "Implied volatility is rich against realised; credit is 31% of the width."),
    "HOLD": ("Trend is strong (20-day slope +1.8%); a short call would be tested.",
             "IV rank 18 is too low: the credit would not pay for the risk.",
             "An FOMC announcement falls inside the window; wait for it."),
}


def copy_seed_lessons(source: Path) -> None:
    """Copy committed seed lessons (e.g. ``memory/lessons``) into the current memory root."""
    target = shared_lessons_dir()
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(source).glob("LL-*.md")):
        shutil.copyfile(path, target / path.name)


def _equity_path(rng: random.Random, start: Decimal, days: int, now: datetime, drift: float,
                 vol: float) -> list[tuple[datetime, Decimal]]:
    """Daily closes for ``days`` days, then half-hourly points today up to ``now``."""
    points, eq = [], float(start)
    first = now - timedelta(days=days)
    for d in range(days):
        ts = (first + timedelta(days=d)).replace(hour=21, minute=15, second=0, microsecond=0)
        if ts.weekday() >= 5 or ts >= now:
            continue
        eq *= 1 + rng.gauss(drift, vol)
        points.append((ts, Decimal(f"{eq:.2f}")))
    for k in range(1, 8):
        ts = now - timedelta(minutes=30 * (8 - k))
        eq *= 1 + rng.gauss(drift / 4, vol / 3)
        points.append((ts, Decimal(f"{eq:.2f}")))
    return points


def _condor(store: Store, sid: str, opened: datetime, expiration: date, put_short: int, call_short: int,
            qty: int, credit: str, *, closed: datetime | None = None, pnl: str | None = None) -> None:
    strikes = {"long_put": put_short - 5, "short_put": put_short, "short_call": call_short,
               "long_call": call_short + 5}
    legs = [{"symbol": occ_symbol("SPY", expiration, right, Decimal(strikes[name])),
             "qty": str(sign * qty)}
            for name, right, sign in (("long_put", OptionRight.PUT, 1), ("short_put", OptionRight.PUT, -1),
                                      ("short_call", OptionRight.CALL, -1), ("long_call", OptionRight.CALL, 1))]
    max_loss = (Decimal(5) - Decimal(credit)) * 100
    meta = {"underlying": "SPY", "expiration": expiration.isoformat(), "strikes": strikes, "width": "5",
            "credit": credit, "max_loss": str(max_loss)}
    store.record_trade(structure_id=sid, strategy="condor", opened_ts=opened, status="closed" if closed else "open",
                       entry_client_order_id=f"{sid}-open-1", qty=Decimal(qty), entry_price=Decimal(credit),
                       legs=legs, meta=meta, closed_ts=closed, pnl=None if pnl is None else Decimal(pnl))


def _decision(store: Store, rng: random.Random, did: str, enter_votes: int, *, outcome: str,
              failed: str | None = None) -> None:
    actions = ["ENTER"] * enter_votes + ["HOLD"] * (len(AGENTS) - enter_votes)
    rng.shuffle(actions)
    if failed and actions[-1] == "ENTER":  # the failing agent (analyst, last) counts as HOLD
        actions[actions.index("HOLD")], actions[-1] = "ENTER", "HOLD"
    action = "ENTER" if enter_votes >= 3 else "HOLD"
    reason = (f"{enter_votes} of {len(AGENTS)} agents voted ENTER (3 needed); params from the agreeing agents"
              if action == "ENTER" else f"{enter_votes} of {len(AGENTS)} agents voted ENTER, 3 needed")
    store.record_decision(did, strategy="condor", action=action, reason=reason,
                          params={"short_delta": 0.16, "wing_width": 5, "dte": 35} if action == "ENTER" else {},
                          context={"iv_rank": {"value": 0.62}})
    for (agent, model), act in zip(AGENTS, actions):
        error = failed if failed and agent == "analyst" else None
        vote = None if error else {"action": act, "confidence": round(rng.uniform(0.55, 0.9), 2),
                                   "rationale": rng.choice(RATIONALES[act])}
        store.record_vote(did, agent=agent, model=model, action="HOLD" if error else act,
                          confidence=None if error else vote["confidence"], latency_s=round(rng.uniform(0.01, 2.5), 3),
                          prompt_tokens=None, completion_tokens=None, cost_usd=None, vote=vote,
                          raw_sha256=None, error=error)
    store.append_event("decision_cycle", {"status": outcome, "decision_id": did, "enter_votes": enter_votes,
                                          "required": 3, "reason": reason})


def _lessons(account: str | None, items: list[tuple[str, str, Severity, int, int]], today: date) -> None:
    lessons = LessonStore(account)
    for title, trigger, severity, occurrences, age_days in items:
        lessons.create(lessons.new_draft(title=title, trigger=trigger, severity=severity, occurrences=occurrences,
                                         status=Status.CONFIRMED, date=today - timedelta(days=age_days),
                                         source="capture"))


def build_sp500(now: datetime, rng: random.Random) -> None:
    with Store(account_paths("sp500")["state_db"]) as store:
        store.append_event("daemon_start", {"strategy": "condor", "paper": True, "pid": 4242})
        store.append_event("stream_connected", {"connects": 1})
        for ts, eq in _equity_path(rng, Decimal(100_000), 150, now, 0.0009, 0.0045):
            store.record_equity(ts, eq, eq * Decimal("0.6"))
        for i in range(26):
            opened = now - timedelta(days=140 - i * 5)
            win = rng.random() < 0.84
            pnl = f"{rng.uniform(70, 160):.2f}" if win else f"-{rng.uniform(180, 390):.2f}"
            _condor(store, f"condor-{i:03d}", opened, (opened + timedelta(days=35)).date(), 540 + i, 600 + i, 1,
                    "1.35", closed=opened + timedelta(days=rng.randint(9, 21)), pnl=pnl)
        _condor(store, "condor-20260-open-a", now - timedelta(days=12), (now + timedelta(days=23)).date(), 565, 625,
                2, "1.42")
        _condor(store, "condor-20260-open-b", now - timedelta(days=3), (now + timedelta(days=33)).date(), 570, 632,
                1, "1.28")
        # Oldest first: the store stamps decisions as they are written, so the last one is the newest.
        for k, (votes, outcome) in enumerate(((0, "hold"), (3, "entered"), (2, "hold"), (3, "not_filled"),
                                              (1, "hold"), (4, "entered"))):
            _decision(store, rng, f"condor-sample-{k}", votes, outcome=outcome,
                      failed="Timeout: agent did not answer within 20s" if votes == 1 else None)
        store.append_event("reconciled", {"clean": True})
        store.append_event("stream_stale", {"symbols": {"SPY": 75.0}, "silence_s": 60})
        store.append_event("stream_recovered", {"symbols": ["SPY"]})
        store.append_event("job_crash", {"job": "manage", "error": "TransientError: broker timed out after 10s"})
        store.append_event("manage_cycle", {"outcomes": [{"structure_id": "condor-020", "action": "hold"}]})
        store.append_event("eod_report", {"equity": "104210.55", "day_pnl": "312.40"})
    _lessons("sp500", [
        ("Quote stream went silent for 75s during the open", "no SPY quote for 75 seconds while the market was open",
         Severity.MEDIUM, 4, 9),
        ("Broker timed out while managing open condors", "TransientError from the positions endpoint",
         Severity.LOW, 7, 30),
        ("Entry ladder exhausted without a fill", "condor entry walked four price steps without a fill",
         Severity.MEDIUM, 2, 2),
    ], now.date())


def build_nasdaq(now: datetime, rng: random.Random) -> None:
    with Store(account_paths("nasdaq")["state_db"]) as store:
        store.append_event("daemon_start", {"strategy": "condor", "paper": True, "pid": 4243})
        for ts, eq in _equity_path(rng, Decimal(25_000), 60, now, -0.0012, 0.006):
            store.record_equity(ts, eq, eq * Decimal("0.1"))
        for i in range(5):
            opened = now - timedelta(days=50 - i * 9)
            _condor(store, f"nq-{i:03d}", opened, (opened + timedelta(days=30)).date(), 500 + i, 560 + i, 1, "1.10",
                    closed=opened + timedelta(days=8), pnl="95.00" if i % 2 else "-310.00")
        _decision(store, rng, "condor-nasdaq-0", 4, outcome="out_of_capital")
        store.append_event("out_of_capital", {"decision_id": "condor-nasdaq-0", "needed": "780.00",
                                              "buying_power": "412.35", "equity": "23990.10", "source": "precheck",
                                              "reason": "buying power $412.35 < max loss $780.00"})
        store.append_event("stream_406", {"error": "connection limit exceeded"})
        store.append_event("stop_flag_set", {"reason": "investigating the 406 stream errors"})
    write_stop("nasdaq", "investigating the 406 stream errors", who="ops")


def build_default(now: datetime, rng: random.Random) -> None:
    with Store(account_paths(None)["state_db"]) as store:
        store.append_event("daemon_start", {"strategy": "condor", "paper": True, "pid": 4244})
        for ts, eq in _equity_path(rng, Decimal(10_000), 6, now, 0.0005, 0.002):
            store.record_equity(ts, eq, eq)
        _decision(store, rng, "condor-default-0", 2, outcome="hold")


def build_sample(*, now: datetime | None = None, seed: int = 7, seed_lessons: Path | None = None) -> None:
    """Write the three sample accounts into the current memory root."""
    now = (now or utcnow()).astimezone(timezone.utc)
    rng = random.Random(seed)
    if seed_lessons is not None:
        copy_seed_lessons(seed_lessons)
    build_sp500(now, rng)
    build_nasdaq(now, rng)
    build_default(now, rng)
