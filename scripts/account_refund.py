#!/usr/bin/env python3
"""Install new Alpaca keys after a paper account reset (same as ``stockbot refund``).

    .venv/bin/python scripts/account_refund.py --account sp500 --key NEWKEY --secret NEWSECRET

Rewrites only ALPACA_API_KEY / ALPACA_SECRET_KEY in .env.<id> (atomically, mode 0640 or stricter),
then runs the preflight; on failure the previous file is restored exactly. Keys are never printed.
Exit 0: installed and verified; 1: preflight failed (file restored); 2: configuration error.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from stockbot.refund import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
