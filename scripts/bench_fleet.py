#!/usr/bin/env python3
"""The fleet benchmark alone: N account daemons on one host against one ``stockbot sim``.

    .venv/bin/python scripts/bench_fleet.py                 # ten accounts (as in `make bench`)
    .venv/bin/python scripts/bench_fleet.py --accounts 3    # quick

Prints the figures as JSON (method in ``stockbot.chaos.fleetbench``); exit 1 when a daemon did
not get READY, an account did not trade or the isolation check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=10)
    ap.add_argument("--idle-s", type=float, default=20.0, help="quiet window for the idle CPU figure")
    args = ap.parse_args(argv)
    from stockbot.chaos.fleetbench import measure_fleet

    out = measure_fleet(args.accounts, idle_s=args.idle_s)
    print(json.dumps(out, indent=2, default=str))
    ok = out["ready"] == args.accounts and out["traded"] == args.accounts and out["isolation"]["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
