"""A small local HTTP server for download tests: 127.0.0.1 only, bounded in requests and time.

Routes map a URL path to a :class:`Reply`, a list of replies (one per request, the last one
repeating) or a function of ``(path, query)`` returning a reply; a POST calls the function with
``(path, query, body)`` (the request body as bytes, also kept in ``bodies``). Replies can fail (any status),
drop the connection half-way (``truncate_at``: a ``Content-Length`` larger than what is sent)
or answer slowly (``delay_s``). Unknown paths get a 404. Every request is recorded.

The server stops itself after ``lifetime_s`` seconds or ``max_requests`` requests, and when its
``with`` block ends.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """What the server answers to one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    truncate_at: int | None = None  # announce len(body), send only this many bytes, close
    delay_s: float = 0.0  # wait before answering (interrupted when the server stops)


Route = Reply | list[Reply] | Callable[..., Reply]


class LocalServer:
    """Threaded HTTP server on a free port of 127.0.0.1 serving `routes`."""

    def __init__(
        self, routes: dict[str, Route], *, lifetime_s: float = 60.0, max_requests: int = 500
    ) -> None:
        self.routes = routes
        self.requests: list[str] = []  # "path?query" of every request, in order
        self.bodies: list[bytes] = []  # the body of every POST request, in order
        self.max_requests = max_requests
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._served: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # socket timeout of one connection
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # silence stderr
                pass

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.bodies.append(body)
                server._handle(self, body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True

    def __enter__(self) -> LocalServer:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (idempotent); sleeping replies wake up and end."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._timer.cancel()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def count(self, path: str) -> int:
        """Number of requests made for `path` (query ignored)."""
        return sum(1 for r in self.requests if r.split("?", 1)[0] == path)

    def _reply_for(
        self, path: str, query: dict[str, list[str]], body: bytes | None = None
    ) -> Reply:
        route = self.routes.get(path)
        if route is None:
            return Reply(404, b"Not Found")
        if isinstance(route, Reply):
            return route
        if isinstance(route, list):
            with self._lock:
                i = self._served.get(path, 0)
                self._served[path] = i + 1
            return route[min(i, len(route) - 1)]
        return route(path, query) if body is None else route(path, query, body)

    def _handle(self, h: BaseHTTPRequestHandler, body: bytes | None = None) -> None:
        parts = urlsplit(h.path)
        with self._lock:
            self.requests.append(h.path)
            too_many = len(self.requests) > self.max_requests
        reply = (
            Reply(503, b"request budget spent")
            if too_many
            else self._reply_for(parts.path, parse_qs(parts.query, keep_blank_values=True), body)
        )
        if reply.delay_s and self._stop.wait(reply.delay_s):
            h.close_connection = True
            return
        try:
            h.send_response(reply.status)
            for k, v in reply.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(reply.body)))
            if reply.truncate_at is not None:
                h.send_header("Connection", "close")
            h.end_headers()
            if reply.truncate_at is None:
                h.wfile.write(reply.body)
            else:
                h.wfile.write(reply.body[: reply.truncate_at])
                h.wfile.flush()
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            h.close_connection = True


def unused_port() -> int:
    """A port of 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
