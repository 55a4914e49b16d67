"""``kill -9`` of the daemon at chosen and random points of the order path, then a restart.

One sim process (with ``--state``) stays up as the broker; the daemon (``stockbot.chaos.child``,
the real ``Daemon`` with a decision every two seconds, two ENTER agents out of three, so nearly
every decision sends a condor entry) is started, killed with SIGKILL, and started again, round
after round. Each round kills at one *phase*:

=============  ==================================================================================
phase          where the SIGKILL lands
=============  ==================================================================================
after_intent   the daemon kills itself right after the order intent is durable, before the POST
in_post        the POST of the entry is held 250 ms by the sim; SIGKILL from outside meanwhile
               (the sim still executes the order: the client never hears the answer)
after_ack      right after the broker's answer to the POST was recorded (before fill/booking)
after_fill     right after the filled rung was recorded, before the condor trade is booked
after_trade    right after the trade row, before its ``trade_opened`` event
resting        the entry rests at the broker (fills only at the touch); SIGKILL while it works
startup        1.5-4 s after the lessons are loaded: building the services or start-up
               reconciliation, which is resolving the intent the previous round left (it follows
               an ``after_intent`` round)
random         at a random instant 0-6 s after READY
close_intent   right after a *closing* mleg intent is durable, before its POST
close_ack      right after the broker's "filled" for a closing mleg was recorded, before the trade
               is closed with its exit price and P&L
=============  ==================================================================================

The two close phases run with ``CONDOR_EXIT_DTE=60`` (every open condor is past its time exit, so
the manage job closes them one after another); the other rounds keep the default and let the
condors accumulate.

Each restart must reach READY through start-up reconciliation (orders resolved by client id,
late fills booked, resting orders cancelled, orphans closed). After every kill the writes the
dead process reported are checked against the database; after the last round a clean life runs,
is stopped with SIGTERM (exit 0) and the broker is compared with the store
(``stockbot.chaos.invariants``).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from stockbot.chaos.invariants import check_broker, check_claims
from stockbot.chaos.rig import KEY, DaemonChild, SimProcess, Workspace
from stockbot.store import Store

READY = r"E \d+ daemon_ready"


@dataclass(frozen=True)
class Phase:
    name: str
    die_on: str | None = None  # the child kills itself after the N-th write matching this
    trigger: str | None = None  # ... or the parent kills it ``delay`` after a matching write
    delay: tuple[float, float] = (0.0, 0.0)
    fill: str = "mid"  # the sim's mleg fill model for the round
    hold_post_ms: int = 0  # latency of the first order POST of the life
    after_ready: bool = True  # the trigger counts only once the life reached READY
    env: tuple[tuple[str, str], ...] = ()  # settings of this life only (the env file is rewritten)


CLOSE_NOW = (("CONDOR_EXIT_DTE", "60"),)  # past every condor's time exit: the manage job closes it


PHASES = {
    "after_intent": Phase("after_intent", die_on=r"^I "),
    "in_post": Phase("in_post", trigger=r"^I ", delay=(0.02, 0.22), hold_post_ms=250),
    "after_ack": Phase("after_ack", die_on=r"^U \S+ (new|accepted|pending_new|partially_filled|filled) condor_open$"),
    "after_fill": Phase("after_fill", die_on=r"^E \d+ ladder_rung$"),
    "after_trade": Phase("after_trade", die_on=r"^T \S+ open$"),
    "resting": Phase("resting", trigger=r"^U \S+ new$", delay=(0.0, 0.6), fill="touch"),
    "startup": Phase("startup", trigger=r"^E \d+ lessons_loaded$", delay=(1.5, 4.0), after_ready=False),
    "random": Phase("random", trigger=READY, delay=(0.0, 6.0)),
    "close_intent": Phase("close_intent", die_on=r"^I \S+ condor_close$", env=CLOSE_NOW),
    "close_ack": Phase("close_ack", die_on=r"^U \S+ filled condor_close$", env=CLOSE_NOW),
}
BASE_ENV = {"ALPACA_REQUESTS_PER_MINUTE": "200"}
LIFE_TIMEOUT_S = 60.0  # a round whose kill point never comes is killed anyway (and reported)


def _match(pattern: str) -> Callable[[str], bool]:
    import re

    rx = re.compile(pattern)
    return lambda line: bool(rx.search(line))


def schedule(rounds: int, rng: random.Random, phases: list[str] | None = None) -> list[str]:
    """``rounds`` phase names: every phase once per cycle, in a shuffled order, except that
    ``startup`` follows ``after_intent``, so the start-up it interrupts has an order to resolve."""
    if phases:
        return [phases[i % len(phases)] for i in range(rounds)]
    out: list[str] = []
    while len(out) < rounds:
        names = [n for n in PHASES if n != "startup"]
        rng.shuffle(names)
        names.insert(names.index("after_intent") + 1, "startup")
        out.extend(names)
    return out[:rounds]


def _life(sim: SimProcess, ws: Workspace, workdir: Path, phase: Phase, rng: random.Random) -> dict[str, Any]:
    """Start one daemon life and kill it at ``phase``; returns what happened."""
    sim.admin("DELETE", "/_sim/faults")
    sim.admin("POST", "/_sim/settings", {"mleg_fill": phase.fill})
    ws.write_env(sim.url, **BASE_ENV, **dict(phase.env))
    if phase.hold_post_ms:
        sim.admin("POST", "/_sim/faults", {"kind": "latency", "ms": phase.hold_post_ms, "method": "POST",
                                           "path": "/v2/orders", "key_id": KEY, "times": 1})
    extra: tuple[str, ...] = ()
    die_at = rng.randint(1, 2)
    if phase.die_on:
        extra = ("--die-on", phase.die_on, "--die-at", str(die_at))
    child = DaemonChild(ws, workdir / "daemon.log", extra=extra)
    info: dict[str, Any] = {"phase": phase.name, "fill": phase.fill}
    if phase.die_on:
        info["die_at"] = die_at
        _wait_exit(child, LIFE_TIMEOUT_S)
        info["killed_by"] = "self" if child.proc.returncode == -9 else "timeout"
    else:
        start = 0
        if phase.after_ready:  # not the start-up reconciliation's own writes
            ready = child.wait_line(_match(READY), LIFE_TIMEOUT_S)
            start = ready if ready is not None else len(child.lines)
        at = child.wait_line(_match(phase.trigger or READY), LIFE_TIMEOUT_S, start=start)
        delay = rng.uniform(*phase.delay)
        info["delay_s"] = round(delay, 3)
        if at is not None:
            time.sleep(max(0.0, delay - (time.monotonic() - child.lines[at][0])))
        info["killed_by"] = "parent" if at is not None and child.alive() else "timeout"
    if not child.alive() and child.proc.returncode not in (-9, None):
        info["killed_by"] = f"exited rc={child.proc.returncode}"
    reports = child.kill9()
    info["reports"] = len(reports)
    info["last_report"] = reports[-1] if reports else None
    ready_at = [t for t, line in child.lines if line.endswith(" daemon_ready")]
    info["ready_s"] = round(ready_at[0] - child.started, 2) if ready_at else None
    claims = check_claims(ws.state_db, reports)
    info["claims"] = claims.as_dict()
    return info


def _wait_exit(child: DaemonChild, timeout: float) -> bool:
    """True when the child ended within ``timeout``; otherwise it is left running for kill9."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            return True
        time.sleep(0.05)
    return False


def _final_life(sim: SimProcess, ws: Workspace, workdir: Path) -> dict[str, Any]:
    """A clean life: READY, at least one decision after it, then SIGTERM; exit code 0 expected."""
    sim.admin("DELETE", "/_sim/faults")
    sim.admin("POST", "/_sim/settings", {"mleg_fill": "mid"})
    ws.write_env(sim.url, **BASE_ENV)
    child = DaemonChild(ws, workdir / "daemon.log")
    ready = child.wait_line(_match(READY), LIFE_TIMEOUT_S)
    out: dict[str, Any] = {"ready": ready is not None}
    if ready is not None:
        out["ready_s"] = round(child.lines[ready][0] - child.started, 2)
        child.wait_line(_match(r"^E \d+ decision_cycle$"), 30, start=ready)
    out["exit_code"] = child.terminate()
    out["claims"] = check_claims(ws.state_db, child.reports()).as_dict()
    return out


def _restart_work(db: Path) -> dict[str, Any]:
    """What the start-up reconciliations did over all restarts (from the daemon's own events)."""
    statuses: Counter = Counter()
    booked: Counter = Counter()
    orphans = closed = 0
    with Store(db, readonly=True) as store:
        for e in store.events(kind="reconciled"):
            if not e.payload.get("startup"):
                continue
            statuses.update(status for _cid, status in e.payload.get("resolved") or [])
            booked.update(effect for _sid, effect in e.payload.get("booked") or [])
            orphans += len(e.payload.get("orphans") or [])
            closed += len(e.payload.get("closed") or [])
        starts = len(store.events(kind="daemon_start"))
        readies = len(store.events(kind="daemon_ready"))
        decisions = len(store.events(kind="decision_cycle"))
    return {"daemon_starts": starts, "daemon_ready": readies, "decision_cycles": decisions,
            "resolved_at_startup": dict(statuses), "late_fills_booked": dict(booked),
            "orphans_found_at_startup": orphans, "orphan_legs_closed_at_startup": closed}


def run_kill_loop(workdir: Path, rounds: int, *, seed: int = 7, phases: list[str] | None = None,
                  say: Callable[[str], None] = print) -> dict[str, Any]:
    """The whole scenario; returns counts (``bad`` must be all zero) and per-round details."""
    t0 = time.monotonic()
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    sim = SimProcess(workdir, seed=seed, extra=("--rate-limit", "100000"))
    try:
        ws = Workspace(workdir / "account")
        ws.write_env(sim.url, **BASE_ENV)
        lives = []
        for i, name in enumerate(schedule(rounds, rng, phases)):
            began = time.monotonic()
            life = _life(sim, ws, workdir, PHASES[name], rng)
            life["round"], life["wall_s"] = i + 1, round(time.monotonic() - began, 1)
            lives.append(life)
            say(f"kill round {i + 1}/{rounds}: {name:<12} killed by {life['killed_by']:<7} after "
                f"{life['reports']} writes (last: {life['last_report']}); lost {life['claims']['lost']}")
        final = _final_life(sim, ws, workdir)
        say(f"final life: ready={final['ready']} exit code {final['exit_code']}")
        broker = check_broker(sim.orders(), sim.positions(), ws.state_db)
        work = _restart_work(ws.state_db)
    finally:
        sim.stop()
    lost = sum(life["claims"]["lost"] for life in lives) + final["claims"]["lost"]
    bad = {
        "lost_writes": lost,
        "db_open_errors": sum(1 for life in lives if life["claims"]["db_open_error"]),
        "unexpected_exits": sum(1 for life in lives if life["killed_by"].startswith("exited")),
        "restart_not_ready": int(not final["ready"]),
        "final_exit_nonzero": int(final["exit_code"] != 0),
        **broker.bad_counts(),
    }
    return {
        "rounds": rounds, "seed": seed, "phases": dict(Counter(life["phase"] for life in lives)),
        "killed_by": dict(Counter(life["killed_by"] for life in lives)),
        "writes_claimed": sum(life["claims"]["claimed"] for life in lives) + final["claims"]["claimed"],
        "lives_ready_before_kill": sum(1 for life in lives if life["ready_s"] is not None),
        "ready_s_median": _median([life["ready_s"] for life in lives if life["ready_s"] is not None]),
        **work, "broker": broker.as_dict(), "final": final, "bad": bad,
        "ok": not any(bad.values()), "wall_s": round(time.monotonic() - t0, 1), "per_round": lives,
    }


def _median(xs: list[float]) -> float | None:
    import statistics

    return round(statistics.median(xs), 2) if xs else None
