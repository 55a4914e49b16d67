"""``stockbot lessons list | show ID | search TEXT | add | confirm ID | retire ID | reindex``.

Files are the source of truth, so list/show/add/confirm/retire work on the files and then try to
update the index. In embedded mode a running daemon holds the index directory; then the index is
left alone (the daemon notices the changed files at its next decision and re-syncs), and
``search`` runs on a temporary in-memory index built from the files.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import yaml

from stockbot import config
from stockbot.domain import utcnow
from stockbot.lessons.errors import LessonError
from stockbot.lessons.files import SHARED_SCOPE, LessonStore
from stockbot.lessons.guards import parse_guard
from stockbot.lessons.model import Lesson, Severity, Status, Tags, render_lesson

EXIT_ERROR = 1
# A guard added without an end gets a review date, so nobody forgets a rule that blocks trades.
DEFAULT_REVIEW_DAYS = 90


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``lessons`` and its subcommands on the top-level parser's subparsers."""
    from stockbot.cli_args import add_account  # the same validated --account as every command

    p = subparsers.add_parser("lessons", help="lessons learned: list, show, search, add, confirm, retire, reindex")
    sub = p.add_subparsers(dest="lessons_command", metavar="ACTION")

    def cmd(name: str, func, help_text: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help_text)
        add_account(sp)
        sp.set_defaults(func=func)
        return sp

    sp = cmd("list", _list, "list lessons (shared seeds and this account's)")
    sp.add_argument("--status", choices=[s.value for s in Status], help="only lessons with this status")
    sp = cmd("show", _show, "print one lesson")
    sp.add_argument("id")
    sp = cmd("search", _search, "semantic search over the lessons")
    sp.add_argument("text")
    sp.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    sp.add_argument("--include-retired", action="store_true")
    sp = cmd("add", _add, "write a new lesson (draft unless --status confirmed)")
    sp.add_argument("--title", required=True)
    sp.add_argument("--trigger", required=True)
    for flag in ("impact", "root-cause", "fix", "prevention"):
        sp.add_argument(f"--{flag}", default="")
    sp.add_argument("--severity", choices=[s.value for s in Severity], default="medium")
    sp.add_argument("--status", choices=["draft", "confirmed"], default="draft")
    for tag in ("strategy", "symbol", "order-type", "component"):
        sp.add_argument(f"--{tag}", action="append", default=[], help=f"{tag} tag (repeatable)")
    sp.add_argument("--guard", help="guard as YAML/JSON, e.g. '{kind: block_symbol, symbol: XYZ}'")
    sp = cmd("confirm", _confirm, "mark a lesson confirmed (its guard is then enforced)")
    sp.add_argument("id")
    sp = cmd("retire", _retire, "retire a lesson (no longer retrieved, its guard no longer enforced)")
    sp.add_argument("id")
    cmd("reindex", _reindex, "rebuild the vector index from the lesson files")
    sp = cmd("impact", _impact, "blast radius: what a lesson's guard would have blocked in the recorded history")
    sp.add_argument("id")
    sp.add_argument("--days", type=int, default=30, help="how far back to replay (default 30)")
    sp.add_argument("--limit", type=int, default=50, help="blocked trades to list (default 50)")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p


# --------------------------------------------------------------------------- commands


def _list(args: argparse.Namespace) -> int:
    from stockbot.lessons.enforcement import guard_state

    loaded = LessonStore(args.account).load()
    rows = [x for x in loaded.lessons if not args.status or x.status.value == args.status]
    now = utcnow()
    for x in rows:
        scope = "shared" if x.scope == SHARED_SCOPE else "account"
        guard = x.guard.kind if x.guard else "-"
        print(f"{x.id:<8} {x.status.value:<9} {x.severity.value:<8} {scope:<7} x{x.occurrences:<4} "
              f"guard={guard:<24} {x.title}")
        if x.guard is not None:
            st = guard_state(x, now)
            review = " (review due)" if st.review_due else ""
            print(f"{'':<8} guard {st.state}{review}: {st.note}; {x.guard.scope_text()}")
    print(f"{len(rows)} lesson(s)")
    _print_errors(loaded.errors)
    return 0


def _show(args: argparse.Namespace) -> int:
    from stockbot.lessons.capture import shared_occurrences

    lesson = _guarded(lambda: LessonStore(args.account).get(args.id.upper()))
    if lesson is None:
        return EXIT_ERROR
    print(f"# {lesson.path}")
    if lesson.guard is not None:
        from stockbot.lessons.enforcement import guard_state

        st = guard_state(lesson, utcnow())
        print(f"# guard {lesson.guard.kind}: {st.state}{' (review due)' if st.review_due else ''} - {st.note}; "
              f"{lesson.guard.scope_text()}")
    print(render_lesson(lesson), end="")
    if lesson.scope == SHARED_SCOPE:
        occ = shared_occurrences(args.account, lesson.id)
        if occ["count"]:
            print(f"\nThis account: {occ['count']} more occurrence(s)")
            for ev in occ["evidence"][-10:]:
                print(f"  - {ev}")
    return 0


def _search(args: argparse.Namespace) -> int:
    from stockbot.lessons.service import LessonService

    store = LessonStore(args.account)
    loaded = store.load()
    index, note = _open_index(args.account, fallback_lessons=loaded.lessons)
    if index is None:
        print(f"stockbot lessons: {note}", file=sys.stderr)
        return EXIT_ERROR
    try:
        svc = LessonService(store, index, _settings(args.account))
        hits = svc.search(args.text, args.k, include_retired=args.include_retired)
    finally:
        index.close()
    if note:
        print(f"note: {note}", file=sys.stderr)
    for r in hits:
        x = r.lesson
        print(f"{r.score:6.3f}  {x.id:<8} {x.status.value:<9} {x.title}")
    if not hits:
        print("no lessons")
    _print_errors(loaded.errors)
    return 0


def _add(args: argparse.Namespace) -> int:
    store = LessonStore(args.account)

    def build() -> Lesson:
        guard = None
        if args.guard:
            try:
                spec: Any = yaml.safe_load(args.guard)
            except yaml.YAMLError as exc:
                raise LessonError(f"--guard is not valid YAML/JSON: {exc}") from None
            if isinstance(spec, dict) and not {"expires", "review_by"} & set(spec):
                spec = {**spec, "review_by": (date.today() + timedelta(days=DEFAULT_REVIEW_DAYS)).isoformat()}
            guard = parse_guard(spec, "LL-000", "--guard")
        tags = Tags(strategy=tuple(s.lower() for s in args.strategy), symbol=tuple(s.upper() for s in args.symbol),
                    order_type=tuple(s.lower() for s in args.order_type),
                    component=tuple(s.lower() for s in args.component))
        draft = Lesson(id="LL-000", title=args.title, date=date.today(), trigger=args.trigger, impact=args.impact,
                       root_cause=args.root_cause, fix_applied=args.fix, prevention=args.prevention,
                       severity=Severity(args.severity), status=Status(args.status), tags=tags, guard=guard,
                       source="manual", scope=store.scope)
        new_id = store.reserve_id()
        try:
            if guard is not None:  # the guard cites the lesson's real id
                draft = replace(draft, guard=parse_guard(dict(guard.spec), new_id, "--guard"))
            return store.save(replace(draft, id=new_id))
        except BaseException:
            store.release(new_id)
            raise

    lesson = _guarded(build)
    if lesson is None:
        return EXIT_ERROR
    print(f"wrote {lesson.path}")
    _index_note()
    return 0


def _confirm(args: argparse.Namespace) -> int:
    return _set_status(args, Status.CONFIRMED)


def _impact(args: argparse.Namespace) -> int:
    from stockbot.lessons.impact import account_impact
    from stockbot.store import StoreError

    lesson = _guarded(lambda: LessonStore(args.account).get(args.id.upper()))
    if lesson is None:
        return EXIT_ERROR
    if lesson.guard is None:
        print(f"{lesson.id} has no guard: it blocks nothing (it is advice in prompts only)")
        return 0
    if args.days < 1:
        print("stockbot lessons: --days must be at least 1", file=sys.stderr)
        return EXIT_ERROR
    try:
        impact = account_impact(args.account, lesson.guard, now=utcnow(), days=args.days,
                                default_strategy=config.load_settings(args.account).strategy)
    except StoreError as exc:
        print(f"stockbot lessons: cannot read the account's records: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"{lesson.summary_line()}\nguard {lesson.guard.kind}: {lesson.guard.scope_text()}")
    print(impact.report(args.limit))
    return 0


def _retire(args: argparse.Namespace) -> int:
    return _set_status(args, Status.RETIRED)


def _set_status(args: argparse.Namespace, status: Status) -> int:
    store = LessonStore(args.account)
    lesson = _guarded(lambda: store.set_status(args.id.upper(), status))
    if lesson is None:
        return EXIT_ERROR
    print(f"{lesson.id} is now {lesson.status.value}: {lesson.title}")
    if status is Status.CONFIRMED and lesson.guard is not None:
        print(f"guard {lesson.guard.kind} now enforces ({lesson.guard.scope_text()}); its blast radius: "
              f"stockbot lessons impact {lesson.id} --days 30")
    _index_note()
    return 0


def _reindex(args: argparse.Namespace) -> int:
    loaded = LessonStore(args.account).load()
    index, note = _open_index(args.account)
    if index is None:
        print(f"stockbot lessons: {note}", file=sys.stderr)
        return EXIT_ERROR
    try:
        count = index.reindex(loaded.lessons, progress=True)
        drift = index.drift(loaded.lessons)
    finally:
        index.close()
    print(f"indexed {count} lesson(s) into {index.describe}; {drift.describe()}")
    _print_errors(loaded.errors)
    return 0 if not loaded.errors else EXIT_ERROR


# --------------------------------------------------------------------------- helpers


def _settings(account: str | None) -> config.LessonSettings:
    return config.load_settings(account).lessons


def _open_index(account: str | None, fallback_lessons=None):
    """(index, note): the account's index; with ``fallback_lessons``, an in-memory index built
    from them when the embedded one is held by another process."""
    from stockbot.lessons.embedder import get_embedder
    from stockbot.lessons.index import LessonIndex

    settings = _settings(account)
    embedder = get_embedder()
    try:
        return LessonIndex.open(embedder, account, url=settings.qdrant_url), ""
    except LessonError as exc:
        if fallback_lessons is None:
            return None, str(exc)
    from qdrant_client import QdrantClient

    index = LessonIndex(embedder, QdrantClient(":memory:"), account=account, describe="temporary in-memory index")
    index.reindex(list(fallback_lessons), progress=False)
    return index, "the account's index is in use (daemon running?); searched a temporary index built from the files"


def _index_note() -> None:
    # Loading the embedder takes seconds and a running daemon holds the embedded index, so the
    # files are the only thing written here: the index is derived and re-syncs by itself.
    print("the index picks this up at the daemon's next decision or start (or run: stockbot lessons reindex)")


def _guarded(func):
    try:
        return func()
    except LessonError as exc:
        print(f"stockbot lessons: {exc}", file=sys.stderr)
        return None


def _print_errors(errors) -> None:
    for err in errors:
        print(f"error: {err}", file=sys.stderr)
