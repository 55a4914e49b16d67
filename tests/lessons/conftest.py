"""Fixtures for the lessons tests: one embedder for the whole session (loading takes seconds)."""

from __future__ import annotations

import pytest



@pytest.fixture(scope="session")
def embedder():
    """The process-wide embedder (also what get_embedder() returns to code under test)."""
    from stockbot.lessons.embedder import get_embedder

    return get_embedder()


@pytest.fixture
def memory_index(embedder):
    """Factory: an in-memory index for an account."""
    from qdrant_client import QdrantClient

    from stockbot.lessons.index import LessonIndex

    made = []

    def make(account=None, **kw):
        idx = LessonIndex(embedder, QdrantClient(":memory:"), account=account, **kw)
        made.append(idx)
        return idx

    yield make
    for idx in made:
        idx.close()
