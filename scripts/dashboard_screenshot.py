#!/usr/bin/env python3
"""Render the dashboard and screenshot it for the README (docs/dashboard.png).

Offline. ``--from-demo SECONDS`` first runs the real daemon on the local exchange (``stockbot demo
--second-account``: decisions, a condor, the injected orphan and its lesson) into a temporary root
and renders that; without it, the sample accounts (``stockbot.dashboard.sample``) are rendered.
The page is served by ``stockbot dashboard serve``'s server on 127.0.0.1 and shot with Debian's
Chromium driven by playwright (``apt-get install -y chromium``; playwright never downloads a browser).

    .venv/bin/python scripts/dashboard_screenshot.py --from-demo 120 --account demo --out docs/dashboard-sim.png
    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/dashboard.png] [--lang en|zh]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "dashboard.png")
    p.add_argument("--lang", choices=["en", "zh"], default="en")
    p.add_argument("--account", default="sp500", help="the tab to show")
    p.add_argument("--height", type=int, default=1300, help="clip height in CSS pixels")
    p.add_argument("--from-demo", type=float, default=None, metavar="SECONDS",
                   help="render a real run: the offline demo (sim + daemon + a second account) for SECONDS")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} not found: apt-get install -y chromium", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="stockbot-shot-") as tmp:
        # The sample accounts go to a throwaway root; nothing of the checkout's memory/ is touched.
        os.environ["STOCKBOT_MEMORY_ROOT"] = str(Path(tmp) / "memory")  # isolation: ok
        os.environ["STOCKBOT_ENV_DIR"] = str(Path(tmp) / "env")
        Path(tmp, "env").mkdir()
        from playwright.sync_api import sync_playwright

        from stockbot.dashboard.data import collect_all
        from stockbot.dashboard.render import write_dashboard
        from stockbot.dashboard.sample import build_sample
        from stockbot.dashboard.serve import serve_in_thread

        if args.from_demo:
            # The demo keeps its env files and memory in --workdir: exactly the layout of a real host.
            demo = [sys.executable, "-m", "stockbot.cli", "demo", "--seconds", str(args.from_demo),
                    "--second-account", "--decision-every", "10", "--workdir", tmp]
            subprocess.run(demo, check=True, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        else:
            build_sample(seed_lessons=ROOT / "memory" / "lessons")
        out_dir = Path(tmp) / "site"
        write_dashboard(out_dir, collect_all())
        server, url = serve_in_thread(out_dir)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": args.height})
                page.goto(url)
                page.evaluate("([k, v]) => localStorage.setItem(k, v)", ["stockbot.lang", args.lang])
                page.goto(f"{url}#{args.account}")
                page.reload()
                page.wait_for_selector(f"#panel-{args.account} .chart svg path.line")
                args.out.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(args.out), clip={"x": 0, "y": 0, "width": 1280, "height": args.height})
                browser.close()
        finally:
            server.shutdown()
            server.server_close()
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
