"""``stockbot dashboard render --out DIR`` and ``stockbot dashboard serve [--port] [--dir]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stockbot.dashboard.serve import DEFAULT_PORT

DEFAULT_DIR = "dashboard"


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``dashboard`` and its subcommands on the top-level parser's subparsers."""
    p = subparsers.add_parser("dashboard", help="static multi-account dashboard: render it, serve it on loopback")
    sub = p.add_subparsers(dest="dashboard_command", metavar="ACTION")
    r = sub.add_parser("render", help="write DIR/index.html for every account under the memory root (read-only)")
    r.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    r.set_defaults(func=cmd_render)
    s = sub.add_parser("serve", help="serve a rendered dashboard on 127.0.0.1")
    s.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    s.add_argument("--dir", type=Path, default=Path(DEFAULT_DIR),
                   help=f"the directory render wrote (default ./{DEFAULT_DIR})")
    s.set_defaults(func=cmd_serve)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p


def cmd_render(args: argparse.Namespace) -> int:
    """Render; exit 0 when every account was read, 1 when some could not be (the page still shows
    which, so the timer's unit turns failed and the operator looks)."""
    from stockbot.dashboard.data import collect_all
    from stockbot.dashboard.render import RenderError, write_dashboard

    dash = collect_all()
    try:
        path = write_dashboard(args.out, dash)
    except RenderError as exc:
        print(f"stockbot dashboard: {exc}", file=sys.stderr)
        return 1
    broken = [a.account or "default" for a in dash.accounts if a.error]
    names = ", ".join(a.account or "default" for a in dash.accounts) or "none"
    print(f"dashboard written: {path} (accounts: {names})")
    for a in dash.accounts:
        if a.error:
            print(f"stockbot dashboard: account {a.account or 'default'}: {a.error}", file=sys.stderr)
    return 1 if broken else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from stockbot.dashboard.serve import ServeError, make_server

    try:
        server = make_server(args.dir, args.port)
    except (ServeError, OSError) as exc:
        print(f"stockbot dashboard: {exc}", file=sys.stderr)
        return 2
    if not (Path(args.dir) / "index.html").exists():
        print(f"stockbot dashboard: warning: {args.dir}/index.html does not exist yet "
              f"(run: stockbot dashboard render --out {args.dir})", file=sys.stderr)
    host, port = server.server_address[:2]
    print(f"serving {Path(args.dir).resolve()} on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
