"""A small local HTTP server for download tests: 127.0.0.1 only, bounded in requests and time.

Routes map a URL path to a :class:`Reply`, a list of replies (one per request, the last one
repeating) or a function of ``(path, query)`` (or ``(path, query, headers)``) returning a
reply. Replies can fail (any status), drop the connection half-way (``truncate_at``: a
``Content-Length`` larger than what is sent), answer slowly (``delay_s``), drip the body
(``drip_bps`` bytes a second) or send no ``Content-Length`` (``no_length``). ``HEAD`` requests
get the headers of the route's reply without a body. Unknown paths get a 404. Every request is
recorded (``requests``: GET, ``heads``: HEAD), and so is the largest number of requests served
at once (``max_in_flight``). A POST calls a route function with ``(path, query, body)`` (the
request body as bytes, also kept in ``bodies``).

The server stops itself after ``lifetime_s`` seconds or ``max_requests`` requests, and when its
``with`` block ends.
"""

from __future__ import annotations

import inspect
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
    drip_bps: float | None = None  # send the body one byte at a time, this many a second
    no_length: bool = False  # no Content-Length: the body ends when the connection closes


Route = Reply | list[Reply] | Callable[..., Reply]


class LocalServer:
    """Threaded HTTP server on a free port of 127.0.0.1 serving `routes`."""

    def __init__(
        self, routes: dict[str, Route], *, lifetime_s: float = 60.0, max_requests: int = 500
    ) -> None:
        self.routes = routes
        self.requests: list[str] = []  # "path?query" of every GET request, in order
        self.heads: list[str] = []  # "path?query" of every HEAD request
        self.bodies: list[bytes] = []  # the body of every POST request, in order
        self.in_flight = 0
        self.max_in_flight = 0
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

            def do_HEAD(self) -> None:
                server._handle(self, head=True)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.bodies.append(body)
                server._handle(self, body=body)

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
        self,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
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
        if body is not None:  # POST
            return route(path, query, body)
        if len(inspect.signature(route).parameters) >= 3:
            return route(path, query, headers or {})
        return route(path, query)

    def _handle(
        self, h: BaseHTTPRequestHandler, *, head: bool = False, body: bytes | None = None
    ) -> None:
        parts = urlsplit(h.path)
        with self._lock:
            (self.heads if head else self.requests).append(h.path)
            too_many = len(self.requests) + len(self.heads) > self.max_requests
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            headers = {k.lower(): v for k, v in h.headers.items()}
            query = parse_qs(parts.query, keep_blank_values=True)
            reply = (
                Reply(503, b"request budget spent")
                if too_many
                else self._reply_for(parts.path, query, headers, body)
            )
            self._send(h, reply, head=head)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply, *, head: bool) -> None:
        if reply.delay_s and self._stop.wait(reply.delay_s):
            h.close_connection = True
            return
        closing = reply.truncate_at is not None or reply.no_length
        try:
            h.send_response(reply.status)
            for k, v in reply.headers.items():
                h.send_header(k, v)
            if not reply.no_length:
                h.send_header("Content-Length", str(len(reply.body)))
            if closing:
                h.send_header("Connection", "close")
            h.end_headers()
            if head:
                return
            body = reply.body if reply.truncate_at is None else reply.body[: reply.truncate_at]
            if reply.drip_bps:
                for i in range(len(body)):
                    h.wfile.write(body[i : i + 1])
                    h.wfile.flush()
                    if self._stop.wait(1.0 / reply.drip_bps):
                        break
            else:
                h.wfile.write(body)
            if closing:
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
