"""``stockbot refund``: install new keys after a paper account was reset in Alpaca's dashboard.

Resetting (re-funding) a paper account issues new API keys. This rewrites ONLY the
``ALPACA_API_KEY`` and ``ALPACA_SECRET_KEY`` values in ``.env.<id>`` (every other byte: other
lines, comments, order, quoting, inline comments, line endings, stays as it was), atomically, with
the file's mode kept at 0640 or stricter and never looser than before. Then the preflight runs
with the new keys; if it fails, the previous file is restored exactly (bytes and mode) and the
exit code is non-zero. The keys are never printed.

Exit codes: 0 keys installed and preflight passed; 1 preflight failed (file restored);
2 configuration error (no such env file, malformed key, unreadable file; nothing written).
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, TextIO

from stockbot.config import ConfigError, env_file_path, load_settings, validate_account_id
from stockbot.fsutil import atomic_write_text
from stockbot.preflight import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, preflight_settings

KEY_NAMES = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY")
# Alpaca keys are alphanumeric; anything that could break the env file's syntax is refused.
VALUE_RE = re.compile(r"^[A-Za-z0-9_\-.+/=]{1,256}$")
MAX_MODE = 0o640


def _line_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"^(?P<pre>[ \t]*(?:export[ \t]+)?{name}[ \t]*=[ \t]*)"
                      rf"(?P<val>\"[^\"]*\"|'[^']*'|[^\s#]*)(?P<post>.*)$", re.DOTALL)


def replace_keys(text: str, values: dict[str, str]) -> str:
    """``text`` with the value of each ``values`` key replaced on every line that sets it.

    Quoting of the old value and anything after it (spaces, an inline comment, the line ending)
    are kept. A key that no line sets is appended at the end.
    """
    patterns = {name: _line_re(name) for name in values}
    seen: set[str] = set()
    out: list[str] = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        for name, pat in patterns.items():
            m = pat.match(body)
            if m:
                val = m.group("val")
                quote = val[0] if val[:1] in ("'", '"') else ""
                body = f"{m.group('pre')}{quote}{values[name]}{quote}{m.group('post')}"
                seen.add(name)
                break
        out.append(body + ending)
    missing = [n for n in values if n not in seen]
    if missing:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.extend(f"{n}={values[n]}\n" for n in missing)
    return "".join(out)


def new_mode(old_mode: int) -> int:
    """0640 or stricter, never looser than ``old_mode``."""
    return stat.S_IMODE(old_mode) & MAX_MODE


def _restore(path: Path, old_text: str, old_mode: int, owner: tuple[int, int]) -> None:
    atomic_write_text(path, old_text, mode=old_mode, owner=owner)


def refund(account: str | None, key: str, secret: str, *, out: TextIO | None = None, err: TextIO | None = None,
           alerter: Any = None, broker_kwargs: dict | None = None) -> int:
    """Install ``key``/``secret`` into the account's env file and verify them with the preflight."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        validate_account_id(account)
        path = env_file_path(account)
        for name, value in (("--key", key), ("--secret", secret)):
            if not VALUE_RE.fullmatch(value or ""):
                raise ConfigError(f"{name}: not a valid Alpaca key (1-256 of A-Z a-z 0-9 _ - . + / =)")
        if not path.is_file():
            raise ConfigError(f"{path}: no such env file (create the account's settings first)")
        raw = path.read_bytes()
        try:
            old_text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        st = path.stat()
        old_mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    except ConfigError as exc:
        print(f"stockbot refund: configuration error: {exc}", file=err)
        return EXIT_CONFIG

    new_text = replace_keys(old_text, dict(zip(KEY_NAMES, (key, secret))))
    mode = new_mode(old_mode)
    overridden = [n for n in KEY_NAMES if os.environ.get(n)]
    # The preflight must test the keys in the file, not ones from the environment.
    environ = {k: v for k, v in os.environ.items() if k not in KEY_NAMES}
    # Keep owner and group: the unit reads root:stockbot 0640; a rewrite as root:root locks it out.
    atomic_write_text(path, new_text, mode=mode, owner=owner)
    try:
        try:
            settings = load_settings(account, environ)
        except ConfigError as exc:
            _restore(path, old_text, old_mode, owner)
            print(f"stockbot refund: configuration error after the rewrite: {exc}; previous {path} restored",
                  file=err)
            return EXIT_CONFIG
        rc = preflight_settings(settings, out=out, alerter=alerter, broker_kwargs=broker_kwargs)
    except BaseException:
        _restore(path, old_text, old_mode, owner)
        raise
    if rc != EXIT_OK:
        _restore(path, old_text, old_mode, owner)
        print(f"stockbot refund: preflight failed with the new keys; previous {path} restored unchanged "
              f"(mode {old_mode:04o})", file=err)
        return EXIT_FAILED
    print(f"stockbot refund: {', '.join(KEY_NAMES)} updated in {path} (mode {mode:04o}, owner "
          f"{owner[0]}:{owner[1]} kept); preflight passed", file=out)
    unit = f"stockbot@{account}" if account else "stockbot@<account>"
    print(f"stockbot refund: a running daemon still holds the old keys; restart it to use the new ones: "
          f"systemctl restart {unit} (once the old keys are revoked it reports 'broker refuses the keys' "
          "and opens nothing)", file=out)
    if overridden:
        print(f"stockbot refund: warning: {', '.join(overridden)} set in the environment override the file "
              "for processes started with it", file=err)
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scripts/account_refund.py``."""
    import argparse

    p = argparse.ArgumentParser(prog="account_refund", description=__doc__.splitlines()[0])
    p.add_argument("--account", default=None, help="account id (default: the default account, .env)")
    p.add_argument("--key", required=True, help="the new ALPACA_API_KEY")
    p.add_argument("--secret", required=True, help="the new ALPACA_SECRET_KEY")
    args = p.parse_args(argv)
    return refund(args.account, args.key, args.secret)
