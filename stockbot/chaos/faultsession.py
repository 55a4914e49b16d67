"""A trading session under random faults injected by the sim at a given rate.

The daemon (``stockbot.chaos.child``: a decision every few seconds, two ENTER agents of three)
trades against ``stockbot sim`` while an injector arms one-shot fault rules so that about
``rate`` of the requests it serves (Trading API, market data, the agents' endpoint) go wrong:
5xx on reads (single ones, which retries must absorb, and bursts of four, which exhaust them),
429s, latency of up to 2.5 s, 500 or 504-after-acceptance on the order POST (the ambiguous
cases), order rejections, Alpaca's own refusals with their codes (403/40310000 insufficient qty,
qty held for orders, uncovered option legs: the sim's ``reject_as``), agent errors, and abrupt or
clean drops of the quote stream. (The refusals that pause entries by design — pattern day
trader, options level, time in force — have their own scenario tests; here they would end the
session's order flow, so they are left out.)

Afterwards the faults are cleared, the daemon gets time to reconcile what is still open, and is
stopped with SIGTERM. Pass criteria: it never died, it kept its systemd watchdog fed (the
longest gap between WATCHDOG=1 pings stays far under the unit's WatchdogSec=90), it exits 0; every
fault that reached the daemon's code is on record (see ``account``); and the invariants of
``stockbot.chaos.invariants`` hold.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from stockbot.chaos.invariants import check_broker, check_claims
from stockbot.chaos.rig import KEY, DaemonChild, NotifySocket, SimProcess, Workspace, write_private
from stockbot.trading.deps import IN_FLIGHT
from stockbot.store import Store

READ_PATHS = ("/v2/account", "/v2/clock", "/v2/positions", "/v2/orders", "/v2/orders/.*",
              "/v2/orders:by_client_order_id", "/v2/stocks/.*", "/v1beta1/options/.*", "/v2/options/contracts")
MENU: tuple[tuple[str, int], ...] = (  # fault kind, weight
    ("read_5xx", 24), ("read_burst", 8), ("rate_limit", 12), ("latency", 12), ("order_504_after", 10),
    ("order_500", 8), ("order_reject", 6), ("order_refused", 6), ("agent_500", 10), ("stream_drop", 6),
)
# Alpaca's refusals (code 40310000) that do not pause entries: the next decision may trade again.
REFUSALS = ("insufficient_qty", "held_for_orders", "uncovered")
CORRUPT_LESSON = "LL-950.md"


def fault_rule(kind: str, rng: random.Random) -> dict[str, Any] | None:
    """The sim fault rule for ``kind`` (None for a stream drop, which is a stream command)."""
    if kind == "read_5xx":
        return {"kind": "http_error", "status": rng.choice([500, 502, 503]), "method": "GET",
                "path": rng.choice(READ_PATHS), "key_id": KEY, "times": 1}
    if kind == "read_burst":  # 1 try + 3 retries: the read fails for its caller
        return {"kind": "http_error", "status": 503, "method": "GET", "path": rng.choice(READ_PATHS),
                "key_id": KEY, "times": 4}
    if kind == "rate_limit":
        return {"kind": "rate_limit", "path": rng.choice((*READ_PATHS, "/v2/orders")), "key_id": KEY, "times": 1}
    if kind == "latency":
        return {"kind": "latency", "ms": rng.randint(300, 2500), "path": rng.choice((*READ_PATHS, "/v2/orders")),
                "key_id": KEY, "times": rng.randint(1, 3)}
    if kind == "order_504_after":  # accepted by the exchange, the client sees a gateway timeout
        return {"kind": "http_error", "status": 504, "after": True, "method": "POST", "path": "/v2/orders",
                "key_id": KEY, "times": 1}
    if kind == "order_500":
        return {"kind": "http_error", "status": 500, "method": "POST", "path": "/v2/orders", "key_id": KEY,
                "times": 1}
    if kind == "order_reject":
        return {"kind": "reject_orders", "key_id": KEY, "times": 1}
    if kind == "order_refused":  # Alpaca's own code and message for the reason
        return {"kind": "reject_as", "reason": rng.choice(REFUSALS), "key_id": KEY, "times": 1}
    if kind == "agent_500":
        return {"kind": "http_error", "status": 500, "method": "POST", "path": "/v1/chat/completions", "times": 1}
    return None


class Injector:
    """Arms about ``rate`` faults per request served, reading the sim's request log."""

    def __init__(self, sim: SimProcess, rate: float, rng: random.Random):
        self.sim, self.rate, self.rng = sim, rate, rng
        self.seq = 0
        self.budget = 0.0
        self.served: list[dict[str, Any]] = []
        self.armed: Counter = Counter()
        self.rule_kind: dict[int, str] = {}
        self.stream_drops = 0
        self._kinds = [k for k, _ in MENU]
        self._weights = [w for _, w in MENU]

    def poll(self) -> None:
        entries = self.sim.admin("GET", f"/_sim/requests?since={self.seq}")["requests"]
        if entries:
            self.seq = entries[-1]["seq"]
        fresh = [e for e in entries if not e["path"].startswith("/_sim/")]
        self.served.extend({k: e.get(k) for k in ("seq", "ts", "method", "path", "status", "body", "key_id")}
                           for e in fresh)
        self.budget += self.rate * len(fresh)
        while self.budget >= 1.0:
            self.budget -= 1.0
            self.arm(self.rng.choices(self._kinds, self._weights)[0])

    def arm(self, kind: str) -> None:
        self.armed[kind] += 1
        rule = fault_rule(kind, self.rng)
        if rule is None:
            self.sim.admin("POST", "/_sim/stream", {"disconnect": True, "abrupt": self.rng.random() < 0.5})
            self.stream_drops += 1
            return
        self.rule_kind[self.sim.admin("POST", "/_sim/faults", rule)["id"]] = kind

    def hits(self) -> Counter:
        """Requests each kind of fault actually hit (a rule may outlive the session unused)."""
        out: Counter = Counter()
        for rule in self.sim.admin("GET", "/_sim/faults")["faults"]:
            kind = self.rule_kind.get(rule["id"])
            if kind is not None:
                out[kind] += rule["hits"]
        out["stream_drop"] = self.stream_drops
        return out


def _lesson_for(events: list, seq: int, lo: int, hi: int | None = None) -> bool:
    """A ``lesson_captured`` event for the failure at ``seq`` (by reference, or in ``(lo, hi)``)."""
    for e in events:
        if e.kind != "lesson_captured":
            continue
        if e.payload.get("failure_event_id") == seq or (lo < e.seq < (hi if hi is not None else seq)):
            return True
    return False


def account(db: Path, served: list[dict[str, Any]]) -> dict[str, Any]:
    """Is every fault that reached the daemon's code on record? Returns counts and examples."""
    with Store(db, readonly=True) as store:
        events = store.events()
        rows = {o.client_order_id: o for o in store.orders()}
        votes_with_error = sum(1 for d in store.decisions(limit=100000) for v in store.votes(d.decision_id)
                               if v.error)
    ambiguous = {e.payload.get("client_order_id") for e in events if e.kind == "order_ambiguous"}
    unrecorded: list[str] = []
    failed_posts = [e for e in served if e["method"] == "POST" and e["path"] == "/v2/orders" and e["status"] >= 400]
    for e in failed_posts:
        body = e.get("body")
        try:
            body = json.loads(body) if isinstance(body, (str, bytes)) else body
        except ValueError:
            body = None
        cid = body.get("client_order_id") if isinstance(body, dict) else None
        row = rows.get(cid)
        if row is None or not (cid in ambiguous or row.status in ("rejected", "not_received")):
            unrecorded.append(f"order POST {e['status']} {cid}: store {row['status'] if row else 'no row'}")
    cycles = [e for e in events if e.kind == "decision_cycle"]
    failed_cycles = 0
    last = 0
    for e in cycles:
        if e.payload.get("status") in ("error", "rejected", "unresolved"):
            failed_cycles += 1
            if not _lesson_for(events, e.seq, last):
                unrecorded.append(f"decision {e.payload.get('decision_id')} {e.payload['status']}: no lesson")
        last = e.seq
    crashes = [e for e in events if e.kind == "job_crash"]
    for e in crashes:
        if not _lesson_for(events, e.seq, e.seq, e.seq + 50):
            unrecorded.append(f"job_crash {e.payload.get('job')}: no lesson")
    statuses = Counter(str(e["status"]) for e in served)
    return {
        "requests_served": len(served), "answers_by_status": dict(sorted(statuses.items())),
        "order_posts_failed": len(failed_posts), "order_ambiguous_events": len(ambiguous),
        "decision_cycles": len(cycles), "decision_cycles_failed": failed_cycles, "job_crashes": len(crashes),
        "lessons_captured": sum(1 for e in events if e.kind == "lesson_captured"),
        "votes_with_error": votes_with_error,
        "stream_events": dict(Counter(e.kind for e in events if e.kind.startswith("stream_"))),
        "unrecorded": len(unrecorded), "unrecorded_examples": unrecorded[:5],
    }


def _settle(db: Path, child: DaemonChild, timeout: float) -> bool:
    """Wait until the store holds no order in flight (the reconcile job resolves them)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.alive():
        try:
            with Store(db, readonly=True) as store:
                if not [o for o in store.orders() if o.status in IN_FLIGHT]:
                    return True
        except Exception:  # noqa: BLE001 - a reader may race a checkpoint; try again
            pass
        time.sleep(1.0)
    return False


def run_fault_session(workdir: Path, seconds: float, rate: float, *, seed: int = 11, prime: bool = True,
                      say: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole scenario; returns counts (``bad`` must be all zero). ``prime`` arms one fault of
    every kind right after READY, so each kind is exercised however short the session is."""
    t0 = time.monotonic()
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    sim = SimProcess(workdir, seed=seed, extra=("--rate-limit", "100000"))
    notify = NotifySocket(Path(f"/tmp/stockbot-chaos-{os.getpid()}-{seed}.sock"))
    child: DaemonChild | None = None
    try:
        ws = Workspace(workdir / "account")
        ws.write_env(sim.url, ALPACA_REQUESTS_PER_MINUTE="200")
        ws.lessons_dir.mkdir(parents=True, exist_ok=True)  # a broken lesson file must not stop the start
        write_private(ws.lessons_dir / CORRUPT_LESSON, "---\nid: LL-950\ntitle: [unclosed\n---\nbody", 0o644)
        child = DaemonChild(ws, workdir / "daemon.log", decision_every=2.5, notify=notify)
        ready = notify.first("READY=1", 90)
        out: dict[str, Any] = {"seconds": seconds, "rate": rate, "seed": seed, "ready": ready is not None}
        injector = Injector(sim, rate, rng)
        if prime and ready is not None:
            for kind, _ in MENU:
                injector.arm(kind)
        began = time.monotonic()
        died_at = None
        while ready is not None and time.monotonic() - began < seconds:
            if not child.alive():
                died_at = round(time.monotonic() - began, 1)
                break
            injector.poll()
            time.sleep(0.25)
        injector.poll()
        hits = injector.hits()
        sim.admin("DELETE", "/_sim/faults")
        stream = sim.admin("GET", "/_sim/stream")
        say(f"fault session: {sum(hits.values())} faults hit in {seconds:.0f}s; settling")
        out["settled"] = _settle(ws.state_db, child, 60)
        pings = [t for t in notify.times("WATCHDOG=1") if t >= (ready or 0)]
        gaps = [b - a for a, b in zip([ready or 0, *pings], [*pings, time.monotonic()])]
        out["exit_code"] = child.terminate()
        unhealthy = [line for line in notify.lines() if line.startswith("STATUS=UNHEALTHY")]
        claims = check_claims(ws.state_db, child.reports())
        with Store(ws.state_db, readonly=True) as store:
            loaded = store.events(kind="lessons_loaded")
        lesson_errors = loaded[0].payload.get("errors", []) if loaded else []
        broker = check_broker(sim.orders(), sim.positions(), ws.state_db)
        acct = account(ws.state_db, injector.served)
    finally:
        if child is not None and child.alive():  # an error above must not leave a daemon behind
            child.kill9()
        notify.close()
        sim.stop()
    out.update({
        "faults_armed": dict(injector.armed), "faults_hit": dict(hits), "faults_hit_total": sum(hits.values()),
        "realized_rate": round(sum(hits.values()) / max(1, len(injector.served)), 4),
        "watchdog_pings": len(pings), "longest_watchdog_gap_s": round(max(gaps), 1) if gaps else None,
        "unhealthy_status_lines": len(unhealthy), "stream_connections_at_end": stream.get("connections"),
        "corrupt_lesson_reported": any(CORRUPT_LESSON in err for err in lesson_errors),
        "account": acct, "claims": claims.as_dict(), "broker": broker.as_dict(),
    })
    bad = {"daemon_died": int(died_at is not None or ready is None), "exit_nonzero": int(out["exit_code"] != 0),
           "watchdog_gap_over_45s": int((out["longest_watchdog_gap_s"] or 1e9) > 45),
           "not_settled": int(not out["settled"]), "unrecorded_faults": acct["unrecorded"],
           "lost_writes": len(claims.lost), "corrupt_lesson_unreported": int(not out["corrupt_lesson_reported"]),
           **broker.bad_counts()}
    out.update({"died_at_s": died_at, "bad": bad, "ok": not any(bad.values()),
                "wall_s": round(time.monotonic() - t0, 1)})
    return out
