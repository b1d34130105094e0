"""The HTTP server of ``--http``: a daemon thread of the flow's process, standard library only.

Routes (GET and HEAD): ``/`` the page and ``/static/...`` its files (shipped in the package,
no CDN); ``/metrics``; ``/api/v1/{topology,status,health,dead-letters,graph.svg,schema}``.
POST: ``/api/v1/query``, a read-only SQL query on a sink, from this machine only (query_api.py).
What it serves comes from a *view* (``LocalView`` here, ``cluster.ClusterView`` for ``deploy -p
N``), so the routes are the same in both.
"""

from __future__ import annotations

import errno
import json
import signal
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from cli.observe import documents
from cli.observe.address import HttpOptions, is_loopback
from cli.observe.documents import API
from cli.observe.exposition import CONTENT_TYPE, FlowCollector, exposition, registry
from cli.observe.picture import svg
from cli.observe.query_api import answer_query
from cli.observe.recent import KEEP, RecentDeadLetters
from engine.metrics import MetricsRegistry
from engine.stopping import stop_requested

STATIC = Path(__file__).with_name("static")
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
           "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                                      "frame-ancestors 'none'"}
DEFAULT_DEAD_LETTERS = 20
LINGER_SECONDS, LINGER_BYTES = 2.0, 1 << 20  # per connection, after its answer


class ServeFailed(Exception):
    """The address cannot be served (in use, not this machine's): one line."""


class LocalView:
    """What one process serves: its own registry, state and dead letters."""

    def __init__(self, topology, metrics: MetricsRegistry, process_index=None) -> None:
        self.topology, self.metrics, self.process_index = topology, metrics, process_index
        self.redact: Callable[[str], str] = topology.redact
        self.dead_letters = RecentDeadLetters(self.redact)
        self.state = "starting"
        self.url = ""
        self._svg: Optional[Tuple[str, str]] = None
        self._svg_lock = threading.Lock()
        self._registry = registry(FlowCollector(topology.name, metrics, self.dead_letters, self.redact,
                                                lambda: self.state))

    def metrics_text(self) -> bytes:
        return exposition(self._registry)

    def topology_doc(self) -> dict:
        return {**documents.topology_document(self.topology, self.redact), "layout": self.graph_svg()[1]}

    def status_doc(self) -> dict:
        return documents.status_document(self.topology.name, self.metrics, self.state, self.redact, self.url,
                                         self.process_index)

    def dead_letters_doc(self, limit: int) -> dict:
        return documents.dead_letters_document(self.dead_letters, limit)

    def graph_svg(self) -> Tuple[str, str]:
        with self._svg_lock:  # drawn once per run
            if self._svg is None:
                self._svg = svg(self.topology, self.redact)
            return self._svg


class _Handler(BaseHTTPRequestHandler):
    server_version = "velocity-flow"
    sys_version = ""
    timeout = 30  # seconds a client may take to send a request: a stalled one does not keep its thread for ever

    def log_message(self, format, *args) -> None:  # noqa: A002 - no access log on the flow's stderr
        return

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(head=False)

    def do_POST(self) -> None:  # noqa: N802
        view = self.server.view  # type: ignore[attr-defined]
        try:
            if urlsplit(self.path).path != f"{API}/query":
                status, content_type, body = _json(404, {"error": "POST goes to /api/v1/query only"})
            else:
                status, content_type, body = answer_query(view, self.client_address[0],
                                                          _loopback_host(self.headers.get("Host", "")),
                                                          self.headers, self.rfile.read)
        except Exception as exc:  # noqa: BLE001 - a request never stops the flow
            status, content_type, body = _failed(view, exc)
        self._send(status, content_type, body, head=False)

    def _answer(self, head: bool) -> None:
        view = self.server.view  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query)
        try:
            if self.server.loopback_only and not _loopback_host(self.headers.get("Host", "")):  # type: ignore
                status, content_type, body = _json(403, {"error": "this endpoint answers loopback host names only"})
            else:
                status, content_type, body = self._route(view, path, query)
        except Exception as exc:  # noqa: BLE001 - a request never stops the flow
            status, content_type, body = _failed(view, exc)
        self._send(status, content_type, body, head)

    def _send(self, status: int, content_type: str, body: bytes, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _route(self, view, path: str, query: dict) -> Tuple[int, str, bytes]:
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path[len("/static/"):])
        if path == "/metrics":
            return 200, CONTENT_TYPE, view.metrics_text()
        if path == f"{API}/graph.svg":
            return 200, "image/svg+xml", view.graph_svg()[0].encode("utf-8")
        pages = {"topology": view.topology_doc, "status": view.status_doc, "schema": documents.schema}
        name = path[len(API) + 1:] if path.startswith(API + "/") else None
        if name in pages:
            return _json(200, pages[name]())
        if name == "health":
            health = documents.health_document(view.status_doc())
            return _json(200 if health["ok"] else 503, health)
        if name == "query":
            return _json(405, {"error": 'POST a JSON body {"sql": "SELECT ...", "sink": "NAME"} here'})
        if name == "dead-letters":
            try:
                limit = max(0, min(KEEP, int(query.get("limit", [DEFAULT_DEAD_LETTERS])[0])))
            except ValueError:
                return _json(400, {"error": "limit must be a whole number"})
            return _json(200, view.dead_letters_doc(limit))
        return _json(404, {"error": f"no such page: {path}"[:200]})

    def _static(self, name: str) -> Tuple[int, str, bytes]:
        if name not in FILES:  # only the page's own files: no path from the request reaches the disk
            return _json(404, {"error": "no such file"})
        return 200, FILES[name], (STATIC / name).read_bytes()


def _loopback_host(host: str) -> bool:
    """A Host header naming this machine: a web page of another site that got its name resolved
    to 127.0.0.1 (DNS rebinding) sends its own name and is refused."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return is_loopback(name.strip("[]")) if name else True


def _failed(view, exc: Exception) -> Tuple[int, str, bytes]:
    return 500, "application/json", json.dumps({"error": view.redact(f"{type(exc).__name__}: {exc}")}).encode()


def _json(status: int, document) -> Tuple[int, str, bytes]:
    return status, "application/json", json.dumps(document).encode("utf-8")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # socketserver's 5 made the 6th of clients connecting at once wait 1 s or more

    def shutdown_request(self, request) -> None:
        """Lingering close, as Apache and nginx do: an answer sent before the request was read
        whole (431 to a 200 KB header) is followed by a half-close and the unread rest is drained,
        bounded in bytes and time. Closed at once, the unread bytes made the kernel send a reset,
        which can throw the answer away before the client reads it."""
        try:
            request.shutdown(socket.SHUT_WR)
            left, until = LINGER_BYTES, time.monotonic() + LINGER_SECONDS
            while left > 0 and (wait := until - time.monotonic()) > 0:
                request.settimeout(wait)
                chunk = request.recv(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:  # reset, timed out, or already closed: nothing more to wait for
            pass
        self.close_request(request)


class _Server6(_Server):
    address_family = socket.AF_INET6


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Serving:
    """Serves ``view`` at ``options``'s address from a daemon thread until ``close()``."""

    def __init__(self, options: HttpOptions, view) -> None:
        self.options, self.view = options, view
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self.url = ""

    def start(self) -> str:
        host, port = self.options.host, self.options.port
        try:
            server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
        except OSError as exc:
            where = url_of(host, port)[len("http://"):]
            if exc.errno == errno.EADDRINUSE:
                raise ServeFailed(f"--http {where}: the address is in use (another program listens there); "
                                  "choose another port, or 0 for any free one") from None
            raise ServeFailed(f"--http {where}: cannot serve there ({exc.strerror or exc})") from None
        server.view = self.view  # type: ignore[attr-defined]
        server.loopback_only = not self.options.public  # type: ignore[attr-defined]
        self._server = server
        self.url = self.view.url = url_of(host, server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="velocity-flow-http", daemon=True)
        self._thread.start()
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def close_after(self, seconds: float) -> None:
        """Keep serving the final state ``seconds`` (``--http-linger``; SIGTERM or Ctrl-C end
        it early), then close."""
        if seconds > 0:
            done = threading.Event()
            main = threading.current_thread() is threading.main_thread()
            before = signal.signal(signal.SIGTERM, lambda *_: done.set()) if main else None
            try:
                done.wait(seconds)
            except KeyboardInterrupt:
                pass
            finally:
                if main:
                    signal.signal(signal.SIGTERM, before)
        self.close()


@contextmanager
def observing(view: Optional[LocalView]):
    """The view's state follows the run: running, then finished, stopped or failed."""
    if view is None:
        yield
        return
    view.state = "running"
    try:
        yield
    except BaseException:
        view.state = "failed"
        raise
    view.state = "stopped" if stop_requested() else "finished"
