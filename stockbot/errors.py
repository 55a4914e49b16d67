"""The root of every exception stockbot raises on purpose.

Refusals are values (``Denied``, ``CondorRefusal``, a HOLD vote); exceptions are faults. Every
project exception derives from ``StockbotError``, so a process edge (the CLI, a scheduler job)
can tell "ours, with a known remedy" from "a bug" with one ``except``. Each subclass says in its
docstring what the caller must do, as one line ``Caller: <remedy>`` where the remedy is one of:

- ``operator fix``: nothing in the code can help; stop, and show the message to a person.
- ``retry``: the same call may succeed in a moment (only for idempotent calls, with backoff).
- ``skip``: give up on this one item (order, vote, symbol, request) and go on with the rest.

Ground level on purpose: this module imports nothing from stockbot, so any module may import it.
``tests/test_errors.py`` holds every exception class of the package to these rules.
"""

from __future__ import annotations

REMEDIES = ("operator fix", "retry", "skip")


class StockbotError(Exception):
    """Base of every project exception; the remedy is in each subclass's docstring.

    Caller: operator fix (an unclassified fault is never retried blindly).
    """


__all__ = ["REMEDIES", "StockbotError"]
