"""LessonStore: the Markdown files that are the source of truth.

Two directories make up what one account knows: the shared seed lessons (``memory/lessons``,
committed, read-only at run time) and the account's learned lessons (``account_paths(id)
["lessons"]``). Lesson numbers are unique across both, so a learned lesson never shadows a seed.
Writes are atomic (temp file, fsync, ``os.replace``) so a crash never leaves half a lesson.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from stockbot import config
from stockbot.fsutil import atomic_write_text
from stockbot.lessons.errors import LessonError
from stockbot.lessons.lint import check_lesson
from stockbot.lessons.model import (Lesson, Status, format_id, lesson_number, parse_lesson,
                                    render_lesson)

SHARED_SCOPE = "shared"


def account_scope(account: str | None) -> str:
    """The scope name an account's learned lessons carry in the index."""
    return "account:" + (account or "default")


@dataclass(frozen=True)
class LoadResult:
    """Every lesson that loaded, and one error line per file that did not (naming the file)."""

    lessons: tuple[Lesson, ...]
    errors: tuple[str, ...]

    def by_id(self) -> dict[str, Lesson]:
        return {lesson.id: lesson for lesson in self.lessons}


def _just_reserved(path: Path) -> bool:
    """An empty file younger than a minute is a number being claimed by a writer, not corruption."""
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_size == 0 and time.time() - st.st_mtime < 60


class LessonStore:
    """Reads the shared and account lesson files; writes only the account's."""

    def __init__(self, account: str | None = None, shared_dir: Path | None = None,
                 account_dir: Path | None = None):
        self.account = config.validate_account_id(account)
        self.shared_dir = shared_dir if shared_dir is not None else config.shared_lessons_dir()
        self.account_dir = account_dir if account_dir is not None else config.account_paths(account)["lessons"]
        self.scope = account_scope(account)

    # ------------------------------------------------------------------ reading

    def load(self) -> LoadResult:
        """Load every lesson. A corrupt file, or one lesson lint refuses, becomes an error line
        (naming the file and the reason); the rest still load."""
        lessons: dict[str, Lesson] = {}
        errors: list[str] = []
        for directory, scope in ((self.shared_dir, SHARED_SCOPE), (self.account_dir, self.scope)):
            for path in self._files(directory):
                if _just_reserved(path):
                    continue
                try:
                    lesson = parse_lesson(path.read_text(encoding="utf-8"), path, scope=scope)
                    check_lesson(lesson, str(path))
                except LessonError as exc:
                    errors.append(str(exc))
                    continue
                except (OSError, UnicodeDecodeError) as exc:
                    errors.append(f"{path}: cannot read: {exc}")
                    continue
                if lesson.id in lessons:
                    errors.append(f"{path}: duplicate id {lesson.id} (already in {lessons[lesson.id].path}); skipped")
                    continue
                lessons[lesson.id] = lesson
        ordered = tuple(sorted(lessons.values(), key=lambda x: x.number))
        return LoadResult(ordered, tuple(errors))

    def get(self, lesson_id: str) -> Lesson:
        lesson_number(lesson_id)
        for directory, scope in ((self.account_dir, self.scope), (self.shared_dir, SHARED_SCOPE)):
            path = directory / f"{lesson_id}.md"
            if path.is_file():
                return parse_lesson(path.read_text(encoding="utf-8"), path, scope=scope)
        raise LessonError(f"no lesson {lesson_id} in {self.shared_dir} or {self.account_dir}")

    def next_id(self) -> str:
        """The next free number across shared and account files (corrupt files count too)."""
        highest = 0
        for directory in (self.shared_dir, self.account_dir):
            for path in self._files(directory):
                try:
                    highest = max(highest, lesson_number(path.stem))
                except LessonError:
                    continue
        return format_id(highest + 1)

    def signature(self) -> tuple:
        """Cheap change detector over both directories (names, sizes, mtimes)."""
        sig = []
        for directory in (self.shared_dir, self.account_dir):
            for path in self._files(directory):
                try:
                    st = path.stat()
                except OSError:
                    continue
                sig.append((str(path), st.st_size, st.st_mtime_ns))
        return tuple(sig)

    @staticmethod
    def _files(directory: Path) -> list[Path]:
        if not directory.is_dir():
            return []
        return sorted(p for p in directory.glob("LL-*.md") if p.is_file())

    # ------------------------------------------------------------------ writing

    def is_shared(self, lesson: Lesson) -> bool:
        return lesson.scope == SHARED_SCOPE

    def save(self, lesson: Lesson) -> Lesson:
        """Write an account lesson atomically; shared seed lessons are read-only at run time."""
        if lesson.scope == SHARED_SCOPE:
            raise LessonError(f"{lesson.id} is a shared seed lesson in {self.shared_dir}; it is read-only "
                              "at run time (edit the committed file instead)")
        path = self.account_dir / f"{lesson.id}.md"
        text = render_lesson(lesson)
        check_lesson(parse_lesson(text, path), str(path))  # never write a file we could not load back
        atomic_write_text(path, text)
        return replace(lesson, scope=self.scope, path=path)

    def reserve_id(self) -> str:
        """Claim the next free number by creating its (empty) file exclusively, so two writers
        never take the same number. Fill it with ``save``; ``release`` it if that fails."""
        self.account_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            new_id = self.next_id()
            try:
                fd = os.open(self.account_dir / f"{new_id}.md", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            return new_id
        raise LessonError(f"could not reserve a new lesson number in {self.account_dir}")

    def release(self, lesson_id: str) -> None:
        """Remove a reserved but still empty lesson file."""
        path = self.account_dir / f"{lesson_id}.md"
        try:
            if path.stat().st_size == 0:
                path.unlink()
        except FileNotFoundError:
            pass

    def create(self, lesson: Lesson) -> Lesson:
        """Save ``lesson`` under the next free number (its own id is ignored)."""
        new_id = self.reserve_id()
        try:
            return self.save(replace(lesson, id=new_id, scope=self.scope))
        except BaseException:
            self.release(new_id)
            raise

    def set_status(self, lesson_id: str, status: Status) -> Lesson:
        lesson = self.get(lesson_id)
        if lesson.status is status:
            return lesson
        return self.save(replace(lesson, status=status))

    def new_draft(self, *, title: str, trigger: str, **fields) -> Lesson:
        """A draft lesson value (not yet written); ``create`` gives it a number."""
        return Lesson(id="LL-000", title=title, date=fields.pop("date", date.today()), trigger=trigger,
                      status=fields.pop("status", Status.DRAFT), scope=self.scope, **fields)
