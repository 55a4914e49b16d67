"""``stockbot preflight``: a READ-ONLY check that an account's broker keys and account match settings.

Only GET requests are made (the account endpoint): nothing is placed, cancelled or closed.
Checks, each a row (check, expected, actual, ok):

- keys work        the broker answers the account endpoint with these keys
- paper/live       ALPACA_PAPER agrees with the endpoint (paper-api.alpaca.markets or a loopback
                   sim for paper, api.alpaca.markets for live; decided from the settings, before any call)
- status           the account is ACTIVE
- not blocked      neither trading nor the account is blocked
- equity           equity >= EXPECT_MIN_EQUITY
- multiplier / shorting / options level   equal EXPECT_* when those are set
- options level for condors   >= 3 (spreads) when STRATEGY=condor, whatever EXPECT_* says

Exit codes: 0 all pass; 1 a check failed (bad keys included; a ``preflight_failed`` alert is sent);
2 configuration error (broken env file, missing keys). Keys are never printed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO
from urllib.parse import urlsplit

from stockbot.config import ConfigError, Settings, load_settings, require_broker_keys

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
PAPER_HOST = "paper-api.alpaca.markets"
LIVE_HOST = "api.alpaca.markets"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    expected: str
    actual: str
    ok: bool


@dataclass(frozen=True, slots=True)
class PreflightResult:
    account: str | None
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)


def endpoint_kind(base_url: str | None, paper: bool) -> str:
    """``paper``, ``sim`` (loopback), ``live`` or ``unknown`` for the trading endpoint in use.

    Without ``ALPACA_BASE_URL`` alpaca-py picks the endpoint from ``paper``, so it always agrees.
    """
    if not base_url:
        return "paper" if paper else "live"
    host = (urlsplit(base_url).hostname or "").lower()
    if host == PAPER_HOST:
        return "paper"
    if host == LIVE_HOST:
        return "live"
    if host == "localhost":
        return "sim"
    try:
        return "sim" if ipaddress.ip_address(host).is_loopback else "unknown"
    except ValueError:
        return "unknown"


def mode_check(settings: Settings) -> Check:
    a = settings.alpaca
    kind = endpoint_kind(a.base_url, a.paper)
    where = a.base_url or ("default paper endpoint" if a.paper else "default live endpoint")
    if a.paper:
        return Check("paper/live", f"paper ({PAPER_HOST} or loopback sim)", f"{kind} ({where})",
                     kind in ("paper", "sim"))
    return Check("paper/live", f"live ({LIVE_HOST})", f"{kind} ({where})", kind == "live")


def _fmt_dec(v: Decimal) -> str:
    return f"{v:,.2f}"


def strategy_refusal(settings: Settings, acct: Any) -> str | None:
    """Why this account cannot trade its STRATEGY at all (None if it can), as the strategy says.
    Used by preflight and by ``stockbot run``, which refuses to start: every order would be rejected."""
    from stockbot.strategies import module_for

    refusal: str | None = module_for(settings.strategy).account_refusal(settings, acct)
    return refusal


def account_checks(settings: Settings, acct: Any) -> list[Check]:
    """Rows comparing an :class:`~stockbot.domain.AccountSnapshot` with the settings."""
    e = settings.expect
    blocked = [n for n, v in (("trading", acct.trading_blocked), ("account", acct.account_blocked)) if v]
    rows = [
        Check("status", "ACTIVE", str(acct.status).upper(), str(acct.status).upper() == "ACTIVE"),
        Check("not blocked", "no blocks", ", ".join(f"{b} blocked" for b in blocked) or "no blocks", not blocked),
        Check("equity", f">= {_fmt_dec(e.min_equity)}", _fmt_dec(acct.equity), acct.equity >= e.min_equity),
    ]
    if e.multiplier is not None:
        rows.append(Check("multiplier", f"{e.multiplier.normalize()}", f"{Decimal(acct.multiplier).normalize()}",
                          Decimal(acct.multiplier) == e.multiplier))
    if e.shorting is not None:
        rows.append(Check("shorting", "enabled" if e.shorting else "disabled",
                          "enabled" if acct.shorting_enabled else "disabled", bool(acct.shorting_enabled) == e.shorting))
    if e.options_level is not None:
        rows.append(Check("options level", str(e.options_level), str(acct.options_level),
                          int(acct.options_level) == e.options_level))
    from stockbot.strategies import module_for

    need = module_for(settings.strategy).account_requirement(settings, acct)
    if need is not None:  # what the strategy needs of the account: (check, expected, actual)
        rows.append(Check(*need, strategy_refusal(settings, acct) is None))
    return rows


async def run_checks(settings: Settings, *, broker: Any = None, broker_kwargs: dict | None = None) -> PreflightResult:
    """All checks for ``settings`` (keys required). Only ``broker.account()`` is called (a GET)."""
    from stockbot.broker.errors import BrokerError

    require_broker_keys(settings)
    rows = [mode_check(settings)]
    if broker is None:
        from stockbot.broker.alpaca import AlpacaBroker

        broker = AlpacaBroker(settings.alpaca, **(broker_kwargs or {}))
    try:
        acct = await broker.account()
    except BrokerError as exc:
        status = getattr(exc, "status", None)
        why = "rejected by the broker" if status in (401, 403) else "broker unreachable or failing"
        rows.insert(0, Check("keys work", "account readable", f"{why}: {exc}", False))
        return PreflightResult(settings.account, tuple(rows))
    rows.insert(0, Check("keys work", "account readable", f"yes (account {acct.account_number})", True))
    rows.extend(account_checks(settings, acct))
    return PreflightResult(settings.account, tuple(rows))


def render(result: PreflightResult) -> str:
    """A plain-text table (check, expected, actual, ok) and a verdict line."""
    table = [("check", "expected", "actual", "ok")]
    table += [(c.name, c.expected, c.actual, "yes" if c.ok else "NO") for c in result.checks]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    name = result.account or "default"
    verdict = (f"preflight {name}: OK" if result.ok else
               f"preflight {name}: FAILED: " + ", ".join(c.name for c in result.failed))
    return "\n".join(lines + ["", verdict])


def failure_message(result: PreflightResult) -> str:
    return "; ".join(f"{c.name}: expected {c.expected}, got {c.actual}" for c in result.failed)


async def _alert(settings: Settings, result: PreflightResult, alerter: Any) -> None:
    if alerter is None:
        from stockbot.alerts import Alerter

        alerter = Alerter(settings.alerts, settings.account)
    await alerter.send("preflight_failed", failure_message(result), force=True)


def preflight_settings(settings: Settings, *, out: TextIO | None = None, alerter: Any = None,
                       broker: Any = None, broker_kwargs: dict | None = None) -> int:
    """Run the checks for already-loaded settings, print the table, alert on failure; exit code."""
    out = out or sys.stdout

    async def go() -> PreflightResult:
        result = await run_checks(settings, broker=broker, broker_kwargs=broker_kwargs)
        if not result.ok:
            await _alert(settings, result, alerter)
        return result

    result = asyncio.run(go())
    print(render(result), file=out)
    return EXIT_OK if result.ok else EXIT_FAILED


def preflight(account: str | None, *, environ: dict[str, str] | None = None, out: TextIO | None = None,
              err: TextIO | None = None, alerter: Any = None, broker_kwargs: dict | None = None) -> int:
    """``stockbot preflight --account ID``: load the account's settings and check them (exit code)."""
    err = err or sys.stderr
    try:
        settings = load_settings(account, environ)
        require_broker_keys(settings)
    except ConfigError as exc:
        print(f"stockbot preflight: configuration error: {exc}", file=err)
        return EXIT_CONFIG
    return preflight_settings(settings, out=out, alerter=alerter, broker_kwargs=broker_kwargs)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scripts/broker_preflight.py``."""
    import argparse

    from stockbot.config import validate_account_id

    p = argparse.ArgumentParser(prog="broker_preflight", description=__doc__.splitlines()[0])
    p.add_argument("--account", default=None, help="account id (default: the default account, .env)")
    args = p.parse_args(argv)
    try:
        validate_account_id(args.account)
    except ConfigError as exc:
        print(f"broker_preflight: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return preflight(args.account)
