"""Operator subcommands: ``preflight``, ``validation`` and ``refund`` (wired by ``stockbot.cli``).

Each answers with an exit code: 0 fine, 1 a check failed, 2 a configuration error (one line).
"""

from __future__ import annotations

import argparse


from stockbot.cli_args import add_account


def cmd_preflight(args: argparse.Namespace) -> int:
    from stockbot.preflight import preflight

    return preflight(args.account)


def cmd_validation(args: argparse.Namespace) -> int:
    from stockbot.status import validation_command

    rc, text = validation_command(args.account)
    print(text)
    return rc


def cmd_refund(args: argparse.Namespace) -> int:
    from stockbot.refund import refund

    return refund(args.account, args.key, args.secret)


def add_subparser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``preflight``, ``validation`` and ``refund``."""
    p = subparsers.add_parser("preflight", help="read-only check of an account's broker keys and account "
                                                "(status, equity, margin, shorting, options, paper/live)")
    add_account(p)
    p.set_defaults(func=cmd_preflight)

    p = subparsers.add_parser("validation", help="paper-validation report and whether live trading is allowed")
    add_account(p)
    p.set_defaults(func=cmd_validation)

    p = subparsers.add_parser("refund", help="install new keys after a paper account reset (then preflight; "
                                             "restores the old env file if it fails)")
    add_account(p)
    p.add_argument("--key", required=True, help="the new ALPACA_API_KEY (never printed)")
    p.add_argument("--secret", required=True, help="the new ALPACA_SECRET_KEY (never printed)")
    p.set_defaults(func=cmd_refund)
