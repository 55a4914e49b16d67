"""Lessons learned: Markdown lesson files, guards, the Qdrant index, retrieval and failure capture.

Public API (imported lazily so that ``stockbot.lessons.guards`` stays cheap for the risk gate):

- ``Lesson``, ``Status``, ``Severity``, ``Tags``, ``Evidence`` (model), ``LessonError``
- ``Guard``, ``parse_guard``, ``CLOSE_POSITION_PURPOSE`` (guards)
- ``LessonStore`` (files), ``LessonIndex``, ``Drift``, ``Where`` (index), ``Embedder``, ``get_embedder``
- ``LessonService``, ``RetrievedLesson``, ``build_query``, ``prompt_block``, ``enforced_guards`` (retrieval)
- ``Failure``, ``fingerprint``, ``LessonCapture``, ``CaptureResult`` (capture)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Lesson": "model", "Status": "model", "Severity": "model", "Tags": "model", "Evidence": "model",
    "LessonError": "errors", "Guard": "guards", "parse_guard": "guards", "CLOSE_POSITION_PURPOSE": "guards",
    "LessonStore": "files", "LessonIndex": "index", "Drift": "index", "Where": "index",
    "Embedder": "embedder", "get_embedder": "embedder",
    "LessonService": "service", "RetrievedLesson": "service", "build_query": "service",
    "prompt_block": "service", "enforced_guards": "enforcement", "guard_state": "enforcement",
    "Failure": "failure", "fingerprint": "failure", "LessonCapture": "capture", "CaptureResult": "capture",
}
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - the lazy exports' names, computed once


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stockbot.lessons' has no attribute {name!r}")
    return getattr(importlib.import_module(f"stockbot.lessons.{module}"), name)
