#!/usr/bin/env python3
"""stockbot reliability suite: one command, a table of counts on stdout, JSON on disk.

    make chaos                                     # = .venv/bin/python scripts/chaos.py
    .venv/bin/python scripts/chaos.py --quick      # the short version (CI runs it as tests/chaos)
    .venv/bin/python scripts/chaos.py --only kill --rounds 8 --keep

Sections (details in RELIABILITY.md and the ``stockbot.chaos`` modules):
  kill     repeated ``kill -9`` of the daemon at chosen/random points of the order path, restart,
           then: writes lost, duplicate or unknown orders, double entries, unbooked fills,
           orphan legs, naked shorts, orders left in flight, database integrity
  faults   a trading session with random faults from the sim at --fault-rate of its requests
  fuzz     hypothesis fuzzing of the agents' answer parser
  inputs   bad env files, bad account ids, corrupt lesson files
  storage  corrupted and locked state databases
  expiry   random condors meet early assignment, expiration and expiry-day liquidation; then no naked
           stock, no naked short, no unbooked assignment (``stockbot.chaos.expiry``)

Every "bad" count must be 0; the exit code is 0 only then. Nothing here touches the internet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SECTIONS = ("kill", "faults", "fuzz", "inputs", "storage", "expiry")


def say(text: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {text}", flush=True)


def run_section(name: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    if name == "kill":
        from stockbot.chaos.killloop import run_kill_loop

        return run_kill_loop(work / "kill", args.rounds, seed=args.seed, say=say)
    if name == "faults":
        from stockbot.chaos.faultsession import run_fault_session

        return run_fault_session(work / "faults", args.fault_seconds, args.fault_rate, seed=args.seed + 4, say=say)
    if name == "fuzz":
        from stockbot.chaos.fuzz import run_fuzz

        return run_fuzz(args.examples)
    if name == "inputs":
        from stockbot.chaos.inputs import account_id_cases, env_file_cases, lesson_file_cases, lessons_cli_case

        return _cases({"env files": env_file_cases(work / "inputs"), "account ids": account_id_cases(work / "inputs"),
                       "lesson files": [*lesson_file_cases(work / "inputs"), lessons_cli_case(work / "inputs")]})
    if name == "storage":
        from stockbot.chaos.storage import corrupted_cases, locked_cases

        return _cases({"corrupted state.db": corrupted_cases(work / "storage"),
                       "locked state.db": locked_cases(work / "storage", with_cli=not args.quick)})
    if name == "expiry":
        from stockbot.chaos.expiry import run_expiry_section

        return run_expiry_section(work / "expiry", args.expiry_rounds, seed=args.seed, say=say)
    raise ValueError(name)


def _cases(groups: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    bad = {f"{group}: cases failed": sum(1 for r in rows if not r["ok"]) for group, rows in groups.items()}
    return {"cases": groups, "case_count": sum(len(rows) for rows in groups.values()), "bad": bad,
            "ok": not any(bad.values())}


def table(results: dict[str, Any]) -> str:
    """The counts as a plain-text table: section, count, value, verdict."""
    lines = [f"{'section':<9} {'count':<46} {'value':>8}  verdict", "-" * 75]
    for name in SECTIONS:
        res = results.get(name)
        if res is None:
            continue
        if "error" in res:
            lines.append(f"{name:<9} {'section crashed':<46} {'':>8}  FAIL  {res['error'][:60]}")
            continue
        for key, value in _facts(name, res):
            lines.append(f"{name:<9} {key:<46} {value!s:>8}")
        for key, value in res["bad"].items():
            lines.append(f"{name:<9} {key:<46} {value!s:>8}  {'ok' if value == 0 else 'FAIL'}")
        for group, rows in res.get("cases", {}).items():
            for r in rows:
                if not r["ok"]:
                    lines.append(f"{'':<9}   FAIL {group}: {r['case'][:40]}: {'; '.join(r['problems'])[:90]}")
        lines.append(f"{name:<9} {'wall time (s)':<46} {res.get('wall_s', ''):>8}")
    return "\n".join(lines)


def _facts(name: str, res: dict[str, Any]) -> list[tuple[str, Any]]:
    if name == "kill":
        return [("rounds (kill -9 + restart)", res["rounds"]), ("daemon starts / READY", f"{res['daemon_starts']}/"
                f"{res['daemon_ready']}"), ("writes reported before the kills", res["writes_claimed"]),
                ("orders at the broker", res["broker"]["broker_orders"]),
                ("entries filled", res["broker"]["entries_filled"]),
                ("orders resolved at start-up", sum(res["resolved_at_startup"].values())),
                ("late fills booked at start-up", ", ".join(f"{k} {v}" for k, v in
                                                             sorted(res["late_fills_booked"].items())) or "0"),
                ("orphan legs closed at start-up", res["orphan_legs_closed_at_startup"])]
    if name == "faults":
        acct = res["account"]
        return [("session seconds / fault rate", f"{res['seconds']:.0f}/{res['rate']}"),
                ("requests served", acct["requests_served"]), ("faults injected (hit)", res["faults_hit_total"]),
                ("decision cycles (failed)", f"{acct['decision_cycles']}({acct['decision_cycles_failed']})"),
                ("lessons captured", acct["lessons_captured"]),
                ("longest watchdog gap (s)", res["longest_watchdog_gap_s"])]
    if name == "expiry":
        return [("rounds", res["rounds"]), ("events", ", ".join(f"{k} {v}" for k, v in res["events"].items())),
                ("option activities", res["activities"]), ("lessons captured", res["lessons"])]
    if name == "fuzz":
        return [("parses (examples x properties)", res["parses"]), ("slowest parse (ms)", res["slowest_parse_ms"])]
    return [("cases", res["case_count"])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=None, help="kill -9 rounds (default 24; --quick 6)")
    ap.add_argument("--fault-rate", type=float, default=0.05, help="share of requests faulted (default 0.05)")
    ap.add_argument("--fault-seconds", type=float, default=None, help="fault session length (default 60; quick 20)")
    ap.add_argument("--examples", type=int, default=None, help="hypothesis examples per property (2000; quick 200)")
    ap.add_argument("--expiry-rounds", type=int, default=None, help="expiry rounds (default 24; quick 6)")
    ap.add_argument("--quick", action="store_true", help="the short version")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (kept anyway on a failure)")
    ap.add_argument("--out", default=str(ROOT / "chaos-results" / "latest.json"))
    args = ap.parse_args(argv)
    args.rounds = args.rounds if args.rounds is not None else (6 if args.quick else 24)
    args.fault_seconds = args.fault_seconds if args.fault_seconds is not None else (20 if args.quick else 60)
    args.expiry_rounds = args.expiry_rounds if args.expiry_rounds is not None else (6 if args.quick else 24)
    args.examples = args.examples if args.examples is not None else (200 if args.quick else 2000)
    work = Path(tempfile.mkdtemp(prefix="stockbot-chaos-"))
    started = time.monotonic()
    results: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
        "settings": {"rounds": args.rounds, "fault_rate": args.fault_rate, "fault_seconds": args.fault_seconds,
                     "examples": args.examples, "seed": args.seed, "quick": args.quick},
    }
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        if name not in SECTIONS:
            ap.error(f"unknown section {name!r}")
        say(f"== {name}")
        t0 = time.monotonic()
        try:
            results[name] = run_section(name, args, work)
        except Exception as exc:  # report and go on: one broken section must not hide the others
            results[name] = {"error": f"{type(exc).__name__}: {exc}", "ok": False, "bad": {"section crashed": 1}}
        results[name].setdefault("wall_s", round(time.monotonic() - t0, 1))
        say(f"{name}: {'ok' if results[name].get('ok') else 'FAIL'} in {results[name]['wall_s']}s")
    results["wall_s"] = round(time.monotonic() - started, 1)
    results["ok"] = all(results[s].get("ok") for s in SECTIONS if s in results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(table(results))
    print(f"\ntotal {results['wall_s']}s; JSON written to {out}")
    if args.keep or not results["ok"]:
        print(f"work files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    print("RESULT: every bad count is 0" if results["ok"] else "RESULT: FAIL (see the FAIL rows above)")
    return 0 if results["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
