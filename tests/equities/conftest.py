"""Fixtures for the equity/index tests: no internet (helpers live in ``equity_helpers.py``)."""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

# No-internet guard: the suite-wide one in tests/conftest.py (resolution and connects).
