"""``stockbot dashboard serve``: the rendered directory over HTTP on loopback only.

A static file server (the standard library's) restricted to GET/HEAD, with no directory listings
and headers that keep the page self-contained (CSP, no sniffing, no referrer, no caching, so a
re-render is seen on the next reload). Reach it from elsewhere through an SSH tunnel
(``ssh -L 8787:127.0.0.1:8787 host``), never by binding a public address.
"""

from __future__ import annotations

import ipaddress
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import structlog

from stockbot.errors import StockbotError

log = structlog.get_logger("dashboard")
DEFAULT_PORT = 8787
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'none'; "
       "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class ServeError(StockbotError):
    """The server cannot start as asked (a non-loopback host, a missing directory).

    Caller: operator fix.
    """


class DashboardHandler(SimpleHTTPRequestHandler):
    """Static files from one directory; no listings, no uploads, security headers on everything."""

    server_version = "stockbot-dashboard"
    sys_version = ""

    def end_headers(self) -> None:
        # The page's own meta CSP (hash-pinned) is stricter; this header also covers other files.
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def send_head(self):  # type: ignore[override]
        # Always the full file: If-Modified-Since has one-second resolution, so a re-render within
        # the second of the last fetch would be answered 304 and the browser kept the old page.
        del self.headers["If-Modified-Since"]
        del self.headers["If-None-Match"]
        return super().send_head()

    def list_directory(self, path):  # type: ignore[override]
        self.send_error(404, "not found")
        return None

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        self.send_error(405, "read-only")

    do_PUT = do_DELETE = do_PATCH = do_POST

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        log.info("dashboard.request", client=self.client_address[0], line=format % args)


def check_loopback(host: str) -> str:
    """Only loopback addresses are served: the page is for the operator on this machine."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ServeError(f"refusing to serve the dashboard on {host!r}: loopback only (use an SSH tunnel)")


def make_server(directory: Path, port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A bound (not yet running) server for ``directory``; ``port=0`` picks a free port."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ServeError(f"{directory}: no such directory (run: stockbot dashboard render --out {directory})")
    host = check_loopback(host)
    handler = partial(DashboardHandler, directory=str(directory.resolve()))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve_in_thread(directory: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread (tests, screenshots); returns it and its base URL."""
    server = make_server(directory, port)
    threading.Thread(target=server.serve_forever, name="dashboard-http", daemon=True).start()
    host, bound = server.server_address[:2]
    return server, f"http://{host}:{bound}/"
