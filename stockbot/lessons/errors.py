"""The one exception the lessons package raises for bad lesson data or an unusable index."""

from __future__ import annotations

from stockbot.errors import StockbotError


class LessonError(StockbotError):
    """A lesson file, a guard or the lesson index cannot be used; the message names the file.

    Raised when loading (so a typo in a guard is refused, never silently ignored) and by the
    index when its storage cannot be opened. Capture never lets it escape into trading code.

    Caller: operator fix (the named file or index); capture and retrieval skip it and fail closed.
    """
