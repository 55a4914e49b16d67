#!/usr/bin/env python3
"""Read-only broker preflight of one account (same as ``stockbot preflight --account ID``).

    .venv/bin/python scripts/broker_preflight.py --account sp500

Exit 0: every check passed; 1: a check failed (alert ``preflight_failed`` sent); 2: configuration error.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from stockbot.preflight import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
