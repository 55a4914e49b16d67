"""Entry point ``stockbot``: one subcommand per operator task.

Heavy modules (alpaca-py, litellm, torch) are imported inside the subcommands that need them so
``stockbot status`` and ``stockbot stop`` answer instantly even on a busy box.
Every operator error (bad account id, broken env file) is one readable line and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from stockbot import __version__
from stockbot.cli_args import add_account
from stockbot.config import ConfigError
from stockbot.store import StoreError

EXIT_CONFIG = 2


def cmd_run(args: argparse.Namespace) -> int:
    from stockbot.daemon import run_daemon

    return run_daemon(args.account)


def cmd_stop(args: argparse.Namespace) -> int:
    from stockbot.flags import write_stop
    from stockbot.store import Store

    path = write_stop(args.account, args.reason)
    with Store.for_account(args.account) as store:
        store.append_event("stop_flag_set", {"reason": args.reason, "path": str(path)})
    print(f"STOP flag written: {path} (new orders halted; cancels and closes still allowed)")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from stockbot.flags import remove_stop
    from stockbot.store import Store

    removed = remove_stop(args.account)
    with Store.for_account(args.account) as store:
        store.append_event("stop_flag_removed", {"was_set": removed})
    print("STOP flag removed: trading resumes at the next cycle" if removed else "no STOP flag was set")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from stockbot.status import account_status, fleet_status, known_accounts, render_status

    if not args.all:
        print(render_status(args.account, events=args.events))
        return 0
    # The fleet table; exit 1 when any account is halted or unhealthy (usable as a health check).
    rc, table = fleet_status()
    print(table)
    if args.details:
        for acc in known_accounts():
            print("\n" + account_status(acc, events=args.events))
    return rc


def cmd_sim(args: argparse.Namespace) -> int:
    from stockbot.sim.app import main as sim_main

    return sim_main(args.sim_args)


def cmd_demo(args: argparse.Namespace) -> int:
    from stockbot.demo import main as demo_main

    return demo_main(args.demo_args)


def cmd_alert(args: argparse.Namespace) -> int:
    from stockbot.sdnotify import alert_main

    return alert_main(["--unit", args.unit, "--message", args.message])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stockbot", description="Self-healing multi-account trading daemon")
    parser.add_argument("--version", action="version", version=f"stockbot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run the daemon for one account (foreground; systemd runs this)")
    add_account(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("stop", help="halt an account: write its STOP flag (no new orders)")
    add_account(p)
    p.add_argument("--reason", default="operator stop", help="why (recorded in the flag)")
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser("resume", help="remove an account's STOP flag")
    add_account(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("status", help="STOP state and recent events of one or all accounts")
    add_account(p)
    p.add_argument("--all", action="store_true", help="one table of every account under the memory root; "
                                                      "exit 1 when any is halted or unhealthy")
    p.add_argument("--details", action="store_true", help="with --all: each account's full status after the table")
    p.add_argument("--events", type=int, default=10, help="how many recent events to show")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("sim", help="run the local Alpaca-compatible exchange (offline default)",
                       add_help=False)
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("demo", help="offline demo: local exchange + scripted agents + a daemon (make demo)",
                       add_help=False)
    p.add_argument("demo_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("alert", help="alert that a stockbot unit failed (systemd OnFailure=)")
    p.add_argument("--unit", required=True)
    p.add_argument("--message", default="")
    p.set_defaults(func=cmd_alert)

    for register in _extensions():
        register(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommand groups that live next to their feature (lessons, preflight, dashboard...)."""
    from stockbot.dashboard.cli import add_subparser as dashboard
    from stockbot.strategies.equity.cli import add_subparser as equities
    from stockbot.lessons.cli import add_subparser as lessons
    from stockbot.llm_cli import add_subparser as llm
    from stockbot.ops_cli import add_subparser as ops

    return [lessons, equities, dashboard, ops, llm]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    argv = list(sys.argv[1:] if argv is None else argv)
    # The sim and the demo own their flags (argparse REMAINDER cannot capture leading options).
    if argv[:1] == ["sim"]:
        return cmd_sim(argparse.Namespace(sim_args=argv[1:]))
    if argv[:1] == ["demo"]:
        return cmd_demo(argparse.Namespace(demo_args=argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    if getattr(args, "account", None):
        # Structural scoping: any child process this command starts inherits the account.
        os.environ["STOCKBOT_ACCOUNT"] = args.account
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"stockbot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"stockbot: state database error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
