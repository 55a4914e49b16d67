"""Every exception class stockbot defines derives from StockbotError and names its remedy."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import stockbot
from stockbot.errors import REMEDIES, StockbotError

REMEDY_RE = re.compile(r"^\s*Caller: (" + "|".join(map(re.escape, REMEDIES)) + r")\b", re.MULTILINE)


def project_exceptions() -> list[type[BaseException]]:
    """Every exception class defined in a module of the stockbot package (all modules imported)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(stockbot.__path__, prefix="stockbot."):
        if info.name.endswith(".__main__"):  # a script: importing it runs it
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == info.name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


EXCEPTIONS = project_exceptions()


def test_the_walk_finds_the_known_exceptions():
    names = {f"{c.__module__}.{c.__qualname__}" for c in EXCEPTIONS}
    # One per layer: if the walk stopped finding these, the tests below would pass vacuously.
    assert {"stockbot.config.ConfigError", "stockbot.broker.errors.TransientError",
            "stockbot.store.StoreLocked", "stockbot.lessons.errors.LessonError",
            "stockbot.errors.StockbotError"} <= names
    assert len(EXCEPTIONS) >= 20


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_project_exception_subclasses_stockbot_error(cls):
    assert issubclass(cls, StockbotError)


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_every_project_exception_says_what_the_caller_must_do(cls):
    doc = cls.__dict__.get("__doc__") or ""  # its own docstring, not one inherited from a base
    assert REMEDY_RE.search(doc), f"{cls.__qualname__}: no 'Caller: {' | '.join(REMEDIES)}' line in its docstring"


def test_catching_the_root_catches_a_broker_fault_and_keeps_builtin_bases():
    from stockbot.broker.errors import TransientError
    from stockbot.equities.universes import UniverseError

    with pytest.raises(StockbotError):
        raise TransientError("503", status=503)
    # Callers that catch ValueError for a bad symbol still do.
    with pytest.raises(ValueError):
        raise UniverseError("ZZZZ is not in the universe")
