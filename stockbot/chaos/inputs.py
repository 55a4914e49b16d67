"""Broken inputs an operator can produce: env files, account ids and lesson files.

Every case runs the real command line (``stockbot run --account ID`` in a child process) or the
real loader, and passes when the refusal is *clear*: the documented exit code (2 = fix the
settings), one readable message naming the file and the setting, no traceback, no secret in the
output, and nothing written (no state database, no directory outside the memory root).
Corrupt lesson files must be reported by name while every other lesson still loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from stockbot.chaos.rig import OFFLINE_ENV, ROOT, SEEDS, Workspace, write_private

SECRET = "SUPERSECRETVALUE0123456789"  # must never appear in any output
GOOD = {"ALPACA_API_KEY": "PKCHAOSKEY", "ALPACA_SECRET_KEY": SECRET, "ALPACA_BASE_URL": "http://127.0.0.1:9"}
AGENTS2 = '[{"name":"a","kind":"rule","model":"iv_rank"},{"name":"b","kind":"rule","model":"trend"}]'


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str, float]:
    """``stockbot ARGS`` in a child process: (exit code, stdout+stderr, seconds)."""
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "stockbot.cli", *args], cwd=ROOT, env={**env, **OFFLINE_ENV},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    return proc.returncode, proc.stdout, round(time.monotonic() - t0, 2)


def uncaught(out: str) -> bool:
    """A raw Python traceback on the console (JSON log records may carry one: those are logging)."""
    return any(line.startswith("Traceback (most recent call last)") for line in out.splitlines())


def last_line(out: str) -> str:
    lines = [line for line in out.strip().splitlines() if line.strip()]
    return lines[-1][:240] if lines else ""


def _env_text(values: dict[str, str]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


# (case, how the file is made, what the message must mention)
ENV_CASES: list[tuple[str, Any, str]] = [
    ("missing file", None, "ALPACA_API_KEY"),
    ("no keys in the file", _env_text({"LOG_LEVEL": "INFO"}), "ALPACA_SECRET_KEY"),
    ("empty file", "", "ALPACA_API_KEY"),
    ("unknown setting (typo)", _env_text({**GOOD, "RISK_MAX_ORDERS_PER_DAI": "5"}), "RISK_MAX_ORDERS_PER_DAI"),
    ("number that is not one", _env_text({**GOOD, "RISK_MAX_ORDERS_PER_DAY": "lots"}), "RISK_MAX_ORDERS_PER_DAY"),
    ("share out of range", _env_text({**GOOD, "RISK_DAILY_LOSS_LIMIT": "7"}), "RISK_DAILY_LOSS_LIMIT"),
    ("broken AGENTS JSON", _env_text({**GOOD, "AGENTS": "'[{\"name\": ]'"}), "AGENTS"),
    ("fewer than three agents", _env_text({**GOOD, "AGENTS": f"'{AGENTS2}'"}), "AGENTS"),
    ("live money on a local exchange", _env_text({**GOOD, "ALPACA_PAPER": "false"}), "ALPACA_PAPER"),
    ("not a KEY=value line", _env_text(GOOD) + "this is not a setting\n", "KEY=value"),
    ("bytes that are not UTF-8", _env_text(GOOD) + "LOG_LEVEL=\udcff\udcfe\n", "UTF-8"),
    ("world-readable file with keys", ("mode", 0o644), "chmod"),
    ("group-writable file with keys", ("mode", 0o660), "chmod"),
    ("a directory instead of a file", ("dir", 0), ".env.bad"),
]
BAD_IDS = ["../escape", "A B", "UPPER", "x/y", ".hidden", "-dash", "a" * 33, "ünï", "acc;rm -rf x", "acc\nnext", ""]


def _check(rc: int, out: str, *, want_rc: int, mentions: list[str], ws: Workspace) -> list[str]:
    problems = []
    if rc != want_rc:
        problems.append(f"exit code {rc}, expected {want_rc}")
    if uncaught(out):
        problems.append("traceback in the output")
    if SECRET in out:
        problems.append("the secret appears in the output")
    for m in mentions:
        if m not in out:
            problems.append(f"message does not mention {m!r}")
    if ws.state_db.exists():
        problems.append("a state database was created")
    return problems


def env_file_cases(workdir: Path) -> list[dict[str, Any]]:
    """``stockbot run --account bad`` against each broken env file."""
    rows = []
    for i, (name, content, mention) in enumerate(ENV_CASES):
        ws = Workspace(workdir / f"env-{i}", account="bad")
        path = ws.env_dir / ".env.bad"
        if isinstance(content, str):
            path.write_bytes(content.encode("utf-8", "surrogateescape"))
            path.chmod(0o600)
        elif isinstance(content, tuple) and content[0] == "mode":
            write_private(path, _env_text(GOOD), content[1])
        elif isinstance(content, tuple) and content[0] == "dir":
            path.mkdir()
        rc, out, secs = run_cli(["run", "--account", "bad"], ws.environ())
        problems = _check(rc, out, want_rc=2, mentions=[mention, ".env.bad"], ws=ws)
        rows.append({"case": name, "exit_code": rc, "seconds": secs, "message": last_line(out),
                     "ok": not problems, "problems": problems})
    return rows


def account_id_cases(workdir: Path) -> list[dict[str, Any]]:
    """``stockbot run --account ID`` and ``stockbot status --account ID`` for ids that must be refused."""
    ws = Workspace(workdir / "ids", account="placeholder")
    before = _tree(ws.root.parent)
    rows = []
    for i, bad in enumerate(BAD_IDS):
        for cmd in ("run", "status") if i < 3 else ("run",):  # status shares the parser: a few suffice
            rc, out, secs = run_cli([cmd, "--account", bad], ws.environ())
            problems = _check(rc, out, want_rc=2, mentions=["account"], ws=ws)
            rows.append({"case": f"{cmd} --account {bad!r}", "exit_code": rc, "seconds": secs,
                         "message": last_line(out), "ok": not problems, "problems": problems})
    created = sorted(_tree(ws.root.parent) - before)
    if created:
        rows.append({"case": "files created by refused ids", "exit_code": None, "seconds": 0,
                     "message": ", ".join(created[:5]), "ok": False, "problems": ["paths created"]})
    return rows


def _tree(top: Path) -> set[str]:
    return {str(p.relative_to(top)) for p in top.rglob("*")}


_BODY = b"## Trigger\nx\n## Impact\nx\n## Root cause\nx\n## Fix applied\nx\n## Prevention\nx\n"
# Each file is LL-<n>.md; "{id}" in the text becomes that id, so only the intended fault is present.
LESSON_CASES: list[tuple[str, bytes]] = [
    ("random bytes", os.urandom(2048)),
    ("broken YAML front matter", b"---\nid: {id}\ntitle: [unclosed\n---\n" + _BODY),
    ("no front matter", b"# just a heading\nand some text\n"),
    ("unknown guard kind", b"---\nid: {id}\ntitle: t\ndate: 2026-11-18\nguard:\n  kind: allow_everything\n---\n" + _BODY),
    ("required field missing (title)", b"---\nid: {id}\ndate: 2026-11-18\n---\n" + _BODY),
    ("id does not match the file name", b"---\nid: LL-999\ntitle: t\ndate: 2026-11-18\n---\n" + _BODY),
    ("empty file older than a minute", b""),
    ("NUL bytes in the text", b"---\nid: {id}\ntitle: t\x00\x00\ndate: 2026-11-18\n---\n" + _BODY),
]


def lesson_file_cases(workdir: Path) -> list[dict[str, Any]]:
    """A corrupt file in the account's lessons: named in the errors, every other lesson loads."""
    from stockbot.lessons.files import LessonStore

    seeds = len(list(SEEDS.glob("LL-*.md")))
    rows = []
    for i, (name, data) in enumerate(LESSON_CASES):
        ws = Workspace(workdir / f"lessons-{i}", account="lsn")
        ws.lessons_dir.mkdir(parents=True, exist_ok=True)
        bad = ws.lessons_dir / f"LL-{901 + i}.md"
        bad.write_bytes(data.replace(b"{id}", bad.stem.encode()))
        if not data:  # an empty file younger than a minute is an id being reserved, not corruption
            old = time.time() - 120
            os.utime(bad, (old, old))
        problems: list[str] = []
        try:
            loaded = LessonStore("lsn", shared_dir=ws.path(None, "shared_lessons"), account_dir=ws.lessons_dir).load()
        except Exception as exc:  # noqa: BLE001 - a raise is exactly what must not happen
            loaded, message = None, f"{type(exc).__name__}: {exc}"
            problems.append("load raised")
        if loaded is not None:
            named = [e for e in loaded.errors if bad.name in e]
            message = named[0][:240] if named else "; ".join(loaded.errors)[:240]
            if not named:
                problems.append("the corrupt file is not named in the errors")
            if len(loaded.lessons) != seeds:
                problems.append(f"{len(loaded.lessons)} lessons loaded, expected the {seeds} good ones")
        rows.append({"case": name, "exit_code": None, "seconds": 0.0, "message": message, "ok": not problems,
                     "problems": problems})
    return rows


def lessons_cli_case(workdir: Path) -> dict[str, Any]:
    """``stockbot lessons list --account lsn`` with a corrupt file beside the good ones."""
    ws = Workspace(workdir / "lessons-cli", account="lsn")
    ws.lessons_dir.mkdir(parents=True, exist_ok=True)
    (ws.lessons_dir / "LL-901.md").write_bytes(LESSON_CASES[1][1].replace(b"{id}", b"LL-901"))
    rc, out, secs = run_cli(["lessons", "list", "--account", "lsn"], ws.environ())
    problems = [] if "LL-901.md" in out else ["the corrupt file is not named"]
    problems += ["traceback in the output"] if uncaught(out) else []
    problems += [] if "LL-221" in out else ["the good lessons are not listed"]
    return {"case": "stockbot lessons list with a corrupt file", "exit_code": rc, "seconds": secs,
            "message": next((line[:240] for line in out.splitlines() if "LL-901" in line), last_line(out)),
            "ok": not problems, "problems": problems}
