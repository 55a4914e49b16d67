"""A fleet on one host: N account daemons against one local exchange (``make bench`` section ``fleet``).

``measure_fleet(n)`` lays out a host the way ``deploy/`` does: one env directory with a file
``.env.<id>`` per account (its own keys), one memory root with the shared seed lessons and a
directory per account, one embedding cache for the host (exported before the daemons start, as
at install). It starts one ``stockbot sim`` with an account per daemon, then the N daemons
(``stockbot.chaos.child``: the real daemon, its first decision right after READY) together, and
reports:

* READY: spawn -> ``READY=1`` of each (on its own local ``NOTIFY_SOCKET``);
* trades: each account's orders and filled orders at the sim (the broker's side);
* memory: ``VmRSS`` of each daemon and their sum while trading, ``Pss`` (shared pages split
  between the processes that map them: what the host really spends) beside it;
* CPU at idle: CPU seconds used per daemon over a quiet window after every account traded
  (health every 30 s as in production, no decision due), as % of one core;
* isolation: the file tree of the whole host (env dir, memory root, embedding cache and the
  daemons' ``HOME``) before and after; every path created, changed or removed must be inside the
  directory of the account that wrote it, and each daemon's files open for writing must be in
  its own account directory.

Also ``python scripts/bench_fleet.py`` (quick: ``--accounts 3``).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from stockbot.chaos.rig import DaemonChild, NotifySocket, SimProcess, Workspace

KEY_FMT, SECRET_FMT = "SIMKEY_FLEET{:02d}", "SIMSECRET_FLEET{:02d}"


def _status(pid: int) -> dict[str, float]:
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:", "RssAnon:", "RssFile:")):
                out[line.split(":")[0]] = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1]) / 1024
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its threads), seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: relative path -> (size, mtime ns). Directories count as files."""
    out: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            try:
                st = p.lstat()
            except FileNotFoundError:  # removed while walking
                continue
            out[str(p.relative_to(root))] = (0 if p.is_dir() else st.st_size, 0 if p.is_dir() else st.st_mtime_ns)
    return out


def changes(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    """Paths created, removed or changed (size or mtime) between two ``tree`` snapshots."""
    return sorted({p for p in before.keys() | after.keys() if before.get(p) != after.get(p)})


def writable_files(pid: int) -> list[str]:
    """Regular files a process holds open for writing (O_WRONLY / O_RDWR)."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as fh:
                flags = int(next(line for line in fh if line.startswith("flags:")).split()[1], 8)
        except (OSError, StopIteration):
            continue
        if target.startswith("/") and flags & 0o3:
            out.append(target)
    return out


def measure_fleet(n: int = 10, *, decision_every_s: float = 3600.0, ready_timeout_s: float = 300.0,
                  trade_timeout_s: float = 180.0, idle_s: float = 20.0, embed_cache: Path | None = None) -> dict[str, Any]:
    """Run ``n`` daemons on one sim; READY, trades, memory, idle CPU and isolation (see module doc)."""
    from stockbot.lessons.onnx_model import ensure_exported

    cache = ensure_exported(embed_cache)  # as at install: the daemons only read it
    ids = [f"fleet{i:02d}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        work = Path(tmp)
        host = work / "host"  # env/ + memory/ as on a deployed host
        home = work / "home"  # the daemons' HOME: must stay empty
        home.mkdir()
        accounts = [f"{KEY_FMT.format(i)}:{SECRET_FMT.format(i)}:equity=1000000" for i in range(n)]
        extra: list[str] = ["--rate-limit", "100000", "--stream-multiple"]
        for spec in accounts:
            extra += ["--account", spec]
        sim = SimProcess(work, extra=tuple(extra))
        spaces = [Workspace(host, account=a) for a in ids]
        for i, ws in enumerate(spaces):
            ws.write_env(sim.url, ALPACA_API_KEY=KEY_FMT.format(i), ALPACA_SECRET_KEY=SECRET_FMT.format(i),
                         SCHEDULE_HEALTH_INTERVAL_S="30")
        watched = {"host": host, "home": home, "cache": cache}
        before = {name: tree(path) for name, path in watched.items()}
        children: list[DaemonChild] = []
        sockets: list[NotifySocket] = []
        result: dict[str, Any] = {"accounts": n}
        try:
            spawned = time.monotonic()
            for ws in spaces:
                sock = NotifySocket(Path(f"/tmp/sbfleet-{os.getpid()}-{ws.account}.sock"))
                sockets.append(sock)
                env = {"HOME": str(home), "STOCKBOT_EMBED_CACHE": str(cache.parent)}
                children.append(_spawn(ws, work / f"{ws.account}.log", sock, decision_every_s, env))
            ready = [s.first("READY=1", max(1.0, ready_timeout_s - (time.monotonic() - spawned))) for s in sockets]
            result["ready"] = sum(r is not None for r in ready)
            result["ready_s"] = {a: (round(r - spawned, 2) if r else None) for a, r in zip(ids, ready)}
            result["all_ready_s"] = round(max(r for r in ready if r) - spawned, 2) if all(ready) else None
            samples: list[float] = []
            pss: list[float] = []
            deadline = time.monotonic() + trade_timeout_s
            filled: dict[str, int] = {}
            while time.monotonic() < deadline:
                stats = [_status(c.proc.pid) for c in children if c.alive()]
                samples.append(sum(s["VmRSS"] for s in stats))
                pss.append(sum(s["Pss"] for s in stats))
                filled = _fills(sim, n)
                if all(filled.get(KEY_FMT.format(i), 0) > 0 for i in range(n)):
                    break
                time.sleep(1.0)
            stats = {a: _status(c.proc.pid) for a, c in zip(ids, children) if c.alive()}
            result["traded"] = sum(1 for i in range(n) if filled.get(KEY_FMT.format(i), 0) > 0)
            result["filled_orders"] = {a: filled.get(KEY_FMT.format(i), 0) for i, a in enumerate(ids)}
            result["rss_mb_while_trading"] = {"total_peak": round(max(samples), 1) if samples else None,
                                              "total_median": round(statistics.median(samples), 1) if samples else None,
                                              "total_pss_peak": round(max(pss), 1) if pss else None}
            result["rss_mb_per_daemon"] = {a: round(s["VmRSS"], 1) for a, s in stats.items()}
            result["rss_mb_total_after_trades"] = round(sum(s["VmRSS"] for s in stats.values()), 1)
            result["pss_mb_total_after_trades"] = round(sum(s["Pss"] for s in stats.values()), 1)
            result["private_mb_per_daemon_median"] = round(statistics.median(s["RssAnon"] for s in stats.values()), 1)
            c0 = {c.proc.pid: cpu_seconds(c.proc.pid) for c in children if c.alive()}
            s0 = cpu_seconds(sim.proc.pid)
            t0 = time.monotonic()
            time.sleep(idle_s)
            span = time.monotonic() - t0
            used = [cpu_seconds(pid) - v for pid, v in c0.items()]
            result["idle_cpu_pct_of_one_core"] = {
                "per_daemon_median": round(100 * statistics.median(used) / span, 2) if used else None,
                "all_daemons": round(100 * sum(used) / span, 2), "sim": round(100 * (cpu_seconds(sim.proc.pid) - s0) / span, 2),
                "window_s": round(span, 1)}
            own = {a: str(ws.account_dir) for a, ws in zip(ids, spaces)}
            roots = tuple(str(p) + os.sep for p in watched.values())  # not the rig's own log files
            stray_fds = {a: [f for f in writable_files(c.proc.pid) if f.startswith(roots)
                             and not f.startswith(own[a] + os.sep)] for a, c in zip(ids, children) if c.alive()}
        finally:
            codes = [c.terminate() for c in children]
            for s in sockets:
                s.close()
            sim.stop()
        after = {name: tree(path) for name, path in watched.items()}
        result["exit_codes"] = sorted(set(codes))
        result["isolation"] = _isolation(before, after, {a: ws.account_dir.relative_to(host) for a, ws in
                                                         zip(ids, spaces)}, stray_fds)
        result["method"] = (f"{n} daemons (stockbot.chaos.child = the real daemon, first decision right after READY, "
                            "health every 30 s) started together against one `stockbot sim` (own process, one account "
                            "and key pair per daemon); one env dir with .env.<id> per account, one memory root, one "
                            f"pre-exported embedding cache ({cache}); RSS = sum of VmRSS (shared pages counted in "
                            "every process), PSS = the same pages split between the processes; idle CPU = "
                            f"utime+stime over {idle_s:.0f} s after every account had a filled order.")
    return result


def _spawn(ws: Workspace, log: Path, sock: NotifySocket, decision_every_s: float, env: dict[str, str]) -> DaemonChild:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # Workspace.environ() copies this process's environment
    try:
        return DaemonChild(ws, log, decision_every=decision_every_s, notify=sock,
                           extra=("--manage-every", "60", "--reconcile-every", "60"))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fills(sim: SimProcess, n: int) -> dict[str, int]:
    out = {}
    for i in range(n):
        key = KEY_FMT.format(i)
        orders = sim.admin("GET", f"/_sim/accounts/{key}/orders")["orders"]
        out[key] = sum(1 for o in orders if o.get("status") == "filled")
    return out


def _isolation(before: dict, after: dict, own: dict[str, Path], stray_fds: dict[str, list[str]]) -> dict[str, Any]:
    """Which changed paths lie outside every account's own directory (must be none)."""
    changed_host = changes(before["host"], after["host"])
    prefixes = [str(p) for p in own.values()]
    # the parents of the account directories (memory/accounts) are created by the first start
    parents = {str(parent) for p in own.values() for parent in p.parents}
    outside = [p for p in changed_host if p not in parents and
               not any(p == pre or p.startswith(pre + os.sep) for pre in prefixes)]
    by_account = {a: sum(1 for p in changed_host if p.startswith(str(d) + os.sep)) for a, d in own.items()}
    home = changes(before["home"], after["home"])
    cache = changes(before["cache"], after["cache"])
    strays = {a: fds for a, fds in stray_fds.items() if fds}
    return {"ok": not (outside or home or cache or strays) and all(by_account.values()),
            "changed_outside_account_dirs": outside[:20], "changed_in_home": home[:20], "changed_in_cache": cache[:20],
            "writable_fds_outside_own_dir": strays, "paths_written_per_account": by_account}
