"""Argument helpers every ``stockbot`` subcommand shares (ground level: imported by the main CLI
and by each package's own subcommands, importing none of them)."""

from __future__ import annotations

import argparse

from stockbot.config import AccountId, ConfigError, validate_account_id


def account_arg(value: str) -> AccountId:
    """argparse ``type=``: a valid account id (as an AccountId), or a usage error naming the rule."""
    try:
        account = validate_account_id(value)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert account is not None  # a command-line value is never None
    return account


def add_account(p: argparse.ArgumentParser) -> None:
    """The ``--account ID`` option (default: the default account, settings from ``.env``)."""
    p.add_argument("--account", type=account_arg, default=None,
                   help="account id (default: the default account, settings from .env)")
