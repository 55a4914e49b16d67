"""``stockbot train | screen | picks | grade --account ID``: the equity/index operator commands.

- ``train``: fetch the universe's history, walk-forward validate, fit and save the screener
  (progress bar on stderr), print the validation summary.
- ``screen``: rank the universe with the saved model and show the slate the strategy would
  propose (no vote, no order).
- ``picks``: run the advisor once: vote, write ``picks/<date>.json``, e-mail it if configured
  (``--no-email`` to skip).
- ``grade``: grade matured picks and rewrite the account's learnings.

Register with ``add_subparser(subparsers)`` (the top-level CLI's extension hook).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

EXIT_ERROR = 1


def add_subparser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``train``, ``screen``, ``picks`` and ``grade`` on the top-level parser."""
    from stockbot.cli_args import add_account  # the same validated --account as every command

    p = subparsers.add_parser("train", help="train an equity/index account's screener (walk-forward validated)")
    add_account(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--max-iter", type=int, default=None, help="boosting iterations (default 200)")
    p.add_argument("--folds", type=int, default=None, help="walk-forward validation folds (default 4)")
    p.set_defaults(func=_train)
    p = subparsers.add_parser("screen", help="rank an equity/index account's universe with its saved screener")
    add_account(p)
    p.add_argument("--top", type=int, default=10, help="rows to show from each end (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_screen)
    p = subparsers.add_parser("picks", help="run the advisor: vote on the slate, write and e-mail the picks")
    add_account(p)
    p.add_argument("--no-email", action="store_true", help="write the file only")
    p.set_defaults(func=_picks)
    p = subparsers.add_parser("grade", help="grade matured advisor picks and update the account's learnings")
    add_account(p)
    p.set_defaults(func=_grade)


def _open(account: str | None, **engine_kwargs: Any) -> tuple[Any, Any, Any]:
    """(settings, store, engine) for an equity/index account; raises ConfigError otherwise."""
    from stockbot.config import ConfigError, load_settings, require_broker_keys
    from stockbot.daemon.runtime import open_broker, open_store, strategy_services
    from stockbot.strategies.equity.services import build

    settings = load_settings(account)
    if settings.strategy not in ("equity", "index"):
        raise ConfigError(f"account {account or 'default'} runs STRATEGY={settings.strategy}; these commands are "
                          "for STRATEGY=equity or index accounts")
    require_broker_keys(settings)
    store = open_store(account)
    services = strategy_services(settings, store=store, broker=open_broker(settings), lessons=None, capture=None,
                                 alerter=None)
    return settings, store, build(services, **engine_kwargs).engine


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


def _train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from stockbot.strategies.equity.screener import ScreenerError, TrainConfig

    config = TrainConfig()
    if args.max_iter is not None:
        config = replace(config, max_iter=max(1, args.max_iter), steps=min(config.steps, max(1, args.max_iter)))
    if args.folds is not None:
        config = replace(config, n_folds=max(1, args.folds))
    settings, store, engine = _open(args.account, train_config=config)
    bar = None

    def progress(done: int, total: int, stage: str) -> None:
        nonlocal bar
        if args.no_progress:
            return
        if bar is None:
            bar = tqdm(total=total, desc="training", unit="step", file=sys.stderr)
        bar.set_postfix_str(stage)
        bar.update(done - bar.n)

    try:
        screener = _run(engine.train(progress=progress))
    except ScreenerError as exc:
        print(f"stockbot: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if bar is not None:
            bar.close()
        store.close()
    m = screener.meta
    v = m["validation"]["mean"]
    print(f"trained {m['universe']} screener to {m['cutoff']}: {m['rows']} rows, {m['symbols']} symbols, "
          f"window {m['training_window']['first_row']}..{m['training_window']['last_label']}")
    print("walk-forward: " + ", ".join(f"{k} {'n/a' if x is None else f'{x:.4f}'}" for k, x in v.items()))
    return 0


def _screen(args: argparse.Namespace) -> int:
    from stockbot.strategies.equity.screener import ScreenerError
    from stockbot.strategies.equity.strategy import propose_slate

    settings, store, engine = _open(args.account)

    async def both() -> tuple[Any, Any]:
        return await engine.screen(), await engine.deps.broker.account()

    try:
        result, account = _run(both())
    except ScreenerError as exc:
        print(f"stockbot: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        store.close()
    slate = propose_slate(result.ranked, engine.params, account.shorting_enabled)
    if args.json:
        print(json.dumps({"date": result.market_date.isoformat(), "model_cutoff": result.model.get("cutoff"),
                          "ranked": [{"symbol": r.symbol, "score": r.score, "prob": r.prob} for r in result.ranked],
                          "slate": [{"symbol": c.symbol, "side": c.side, "score": c.score} for c in slate]}, indent=2))
        return 0
    n = max(1, args.top)
    ranked = result.ranked
    print(f"{engine.universe.name} on {result.market_date} (model to {result.model.get('cutoff')}), "
          f"{len(ranked)} ranked; profile {engine.params.profile}")
    rows: list[Any] = list(ranked) if len(ranked) <= 2 * n else [*ranked[:n], None, *ranked[-n:]]
    for r in rows:
        print("   ..." if r is None else f"  {r.symbol:<6} score {r.score:+.4f}  close {r.last_close:>10.2f}")
    print("proposed slate: " + (", ".join(f"{c.side} {c.symbol}" for c in slate) or "(none)"))
    return 0


def _picks(args: argparse.Namespace) -> int:
    from stockbot.strategies.equity.picks import Advisor
    from stockbot.strategies.equity.screener import ScreenerError

    settings, store, engine = _open(args.account)
    try:
        report = _run(Advisor(engine, None if args.no_email else settings.alerts).run())
    except ScreenerError as exc:
        print(f"stockbot: {exc}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        store.close()
    c = report.payload["consensus"]
    print(f"picks written: {report.path} ({len(report.payload['picks'])} picks, consensus {c['action']})")
    if report.email_error:
        print(f"e-mail failed: {report.email_error}", file=sys.stderr)
    elif report.emailed:
        print("e-mailed to the configured recipient")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from stockbot.strategies.equity.grading import Grader
    from stockbot.strategies.equity.history import NY

    settings, store, engine = _open(args.account)

    async def grade() -> Any:
        day = (await engine.deps.broker.clock()).ts.astimezone(NY).date()
        return await Grader(args.account, engine.deps.broker, engine.universe).run(day)

    try:
        report = _run(grade())
    finally:
        store.close()
    s = report.learnings["summary"]["overall"]
    hit = "n/a" if s["hit_rate"] is None else f"{s['hit_rate']:.0%}"
    print(f"graded {len(report.graded_days)} day(s), {len(report.pending_days)} pending, "
          f"{len(report.refused)} refused; all time: {s['n']} picks, hit rate {hit}")
    return 0
