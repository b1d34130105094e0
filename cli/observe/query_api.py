"""``POST /api/v1/query``: a read-only SQL query on a DuckDB or PostgreSQL sink of the flow,
by the path of ``velocity-flow query`` (cli/query.py: the same sink choice, the same read-only
checks, the same consistency), answered as JSON.

The request is a JSON object ``{"sql": "SELECT ...", "sink": "NAME"}`` (``sink`` may be left out
when the topology has one DuckDB or PostgreSQL sink) sent as ``Content-Type:
application/json``; the answer ``{"sink", "columns", "types", "rows"}`` (values as the JSON
sinks write them), or ``{"error": one line}`` with 400 (a malformed request), 403 (not from
this machine), 404 (no such sink), 408 (the body late), 413 (over 64 KiB), 415 (not JSON) or 422 (the query refused
or failed, the database unreadable).

Only this machine may ask, whatever the server's address (``--http-public`` included): the
client's address must be a loopback one and so must the ``Host`` header (a page of another
site whose name resolves to 127.0.0.1 sends its own name). Requiring ``application/json``
keeps a web page from sending the query from the user's browser (such a request needs a
CORS preflight, which this server never grants).
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any, Callable, Tuple

from cli.observe.address import is_loopback
from engine.connectors.jsonl import encode_value

MAX_BODY = 64 * 1024
Answer = Tuple[int, str, bytes]


def answer_query(view: Any, client: str, host_is_loopback: bool, headers: Any, read: Callable[[int], bytes]
                 ) -> Answer:
    """The answer to one ``POST /api/v1/query`` of ``client`` (its address), body read by ``read``."""
    if not (_loopback_client(client) and host_is_loopback):
        return _error(403, "the query endpoint answers requests from this machine only")
    if headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
        return _error(415, 'send the query as Content-Type: application/json: {"sql": "SELECT ...", "sink": "NAME"}')
    try:
        length = int(headers.get("Content-Length", ""))
    except ValueError:
        length = -1
    if length < 0:  # a negative one would read until the client closes
        return _error(400, "a Content-Length is required")
    if length > MAX_BODY:
        return _error(413, f"the request is over {MAX_BODY // 1024} KiB")
    try:
        request = json.loads(read(length) or b"null")
    except ValueError:
        return _error(400, "the body is not JSON")
    except OSError:  # the body did not come (the server's read timeout)
        return _error(408, f"the body of {length} bytes did not arrive in time")
    if not isinstance(request, dict) or not isinstance(request.get("sql"), str) or \
            not isinstance(request.get("sink", ""), str) or set(request) - {"sql", "sink"}:
        return _error(400, 'the body must be {"sql": "SELECT ...", "sink": "NAME"} (sink optional)')
    from cli.query import QueryRefused, query_sink

    topology = view.topology
    try:
        sink, result = query_sink(topology, request.get("sink"), request["sql"], topology.path or topology.name)
    except QueryRefused as exc:
        return _error(404 if exc.usage else 422, view.redact(str(exc)).replace("--sink", '"sink"'))
    return 200, "application/json", encode_value({"sink": sink, **result})


def _loopback_client(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return is_loopback(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _error(status: int, message: str) -> Answer:
    return status, "application/json", json.dumps({"error": message}).encode("utf-8")
