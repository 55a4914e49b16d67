"""Fixtures for the local exchange's own tests (see ``tests/simfixtures.py``)."""

from __future__ import annotations

from simfixtures import make_sim_thread, sim, sim_thread  # noqa: F401  (pytest fixtures)
