"""``stockbot llm``: serve the local model, show an account's LLM spend vs budget and its raw answers."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
from pathlib import Path
from typing import Any


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the server like Ctrl-C does


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the llama.cpp server in the foreground until Ctrl-C / SIGTERM (or ``--seconds``)."""
    from stockbot.config import LLMSettings, load_settings
    from stockbot.llm_server import LocalServer

    base = load_settings(args.account).llm
    settings = LLMSettings(**{**base.model_dump(), **({"serve_port": args.port} if args.port else {}),
                              **({"serve_model": str(args.model)} if args.model else {})})
    server = LocalServer.from_settings(settings, log_path=args.log)
    server.start()
    if server.reused:
        print(f"a llama.cpp server already answers on {server.api_base}: nothing to start")
        return 0
    print(f"serving {server.model.name} as openai/{server.alias} on {server.api_base} "
          f"(pid {server.proc.pid}); agents: {{\"kind\": \"local\", \"model\": \"{server.alias}\"}}", flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.proc.wait(timeout=args.seconds)
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    print("llama.cpp server stopped")
    return 0


def spend_data(account: str | None) -> dict[str, Any]:
    """Today's spend vs budget of one account (also the dashboard's ``llm`` section)."""
    from stockbot.config import load_settings
    from stockbot.consensus.budget import budget_status
    from stockbot.store import Store

    settings = load_settings(account)
    with Store.for_account(account) as store:
        return budget_status(store, settings.llm).as_dict()


def cmd_spend(args: argparse.Namespace) -> int:
    data = spend_data(args.account)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    budget = f"${data['budget_usd']:g}" if data["budget_usd"] else "no dollar limit"
    cap = str(data["token_cap"]) if data["token_cap"] else "no token cap"
    print(f"{data['day']} (UTC): {data['calls']} LLM call(s), ${data['spent_usd']:.4f} of {budget}, "
          f"{data['tokens']} token(s) of {cap}")
    if data["exhausted"]:
        print(f"SPENT: {data['reason']} -> LLM agents vote HOLD")
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    from stockbot.store import Store
    from stockbot.store_llm import calls

    with Store.for_account(args.account) as store:
        rows = calls(store, decision_id=args.decision, limit=args.limit)
    for r in reversed(rows):
        cost = "-" if r["cost_usd"] is None else f"${r['cost_usd']:.6f}"
        tokens = f"{r['prompt_tokens'] or 0}+{r['completion_tokens'] or 0}"
        print(f"{r['ts']} {r['decision_id'] or '-'} {r['agent']} {r['model']} {r['response_format'] or '-'} "
              f"tokens {tokens}{' (est.)' if r['estimated'] else ''} {cost} {r['latency_s']:.2f}s "
              f"prompt {r['prompt_sha256'][:12]} {'error: ' + r['error'] if r['error'] else 'ok'}")
        if args.raw and r["raw"] is not None:
            print(f"    raw: {r['raw']}")
    return 0


def add_subparser(sub: argparse._SubParsersAction) -> None:
    from stockbot.cli_args import add_account

    p = sub.add_parser("llm", help="local model server, LLM spend vs budget, raw answers")
    llm = p.add_subparsers(dest="llm_command", metavar="ACTION", required=True)

    s = llm.add_parser("serve", help="run the local llama.cpp server (extra `llm`) until Ctrl-C")
    add_account(s)
    s.add_argument("--port", type=int, default=None, help="port (default: LLM_SERVE_PORT)")
    s.add_argument("--model", type=Path, default=None, help="GGUF file (default: LLM_SERVE_MODEL or SmolLM2)")
    s.add_argument("--seconds", type=float, default=None, help="stop by itself after N seconds")
    s.add_argument("--log", type=Path, default=None, help="append the server's output to this file")
    s.set_defaults(func=cmd_serve)

    s = llm.add_parser("spend", help="today's LLM spend vs LLM_DAILY_BUDGET_USD / LLM_DAILY_TOKEN_CAP")
    add_account(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_spend)

    s = llm.add_parser("calls", help="recorded LLM calls (prompt hash, model, tokens, cost, latency)")
    add_account(s)
    s.add_argument("--decision", default=None, help="only this decision id")
    s.add_argument("--limit", type=int, default=20)
    s.add_argument("--raw", action="store_true", help="print each raw answer too")
    s.set_defaults(func=cmd_calls)
