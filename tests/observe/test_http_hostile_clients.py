"""``run --http`` against hostile clients: slow or partial requests, huge headers, garbage request
lines, many at once. The endpoint keeps answering, /metrics stays valid Prometheus text with the
exact counts, nothing served leaks a value from the environment, and a client that stalls does
not keep its thread (and, for a query, its half-sent body) for ever."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.observe import server as http_server
from cli.observe.address import HttpOptions
from tests.observe.scrape import address, api, get, metrics, sample
from tests.observe.test_http_files import BAD, SECRET, TOTAL, _finished, _run, _write_flow


def _connect(base: str) -> socket.socket:
    where = urlsplit(base)
    return socket.create_connection((where.hostname, where.port), timeout=10)


def _exchange(base: str, raw: bytes, pause: float = 0.0) -> bytes:
    """What the server answers to ``raw`` (half-closed after ``pause`` seconds), up to 64 KiB."""
    with _connect(base) as conn:
        conn.sendall(raw)
        time.sleep(pause)
        conn.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)[:65536]


@pytest.fixture(scope="module")
def lingering(tmp_path_factory):
    """A finished flow still serving its end state (``--http-linger``)."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    status_file = tmp_path / "status.json"
    flow = _run(str(_write_flow(tmp_path)), "--http", "127.0.0.1:0", "--http-linger", "120",
                "--status-file", str(status_file))
    try:
        base = address(status_file)
        _finished(base)
        yield base
    finally:
        flow.send_signal(signal.SIGTERM)
        out, err = flow.communicate(timeout=60)
    assert flow.returncode == 0, err
    assert SECRET not in out + err


def _counts_are_exact(base: str) -> None:
    scraped = metrics(base)  # prometheus_client's parser: a malformed exposition raises
    assert sample(scraped, "velocity_flow_step_events_in_total", step="typed") == TOTAL
    assert sample(scraped, "velocity_flow_step_dead_letters_total", step="typed") == BAD
    assert api(base, "status", "status")["steps"]["typed"] == {"in": TOTAL, "out": TOTAL - BAD, "dead": BAD}


def test_slow_partial_and_oversized_requests_do_not_stop_the_others(lingering):
    base = lingering
    stalled = []
    try:
        for n in range(60):  # slowloris: request lines and headers never finished, bodies never sent
            conn = _connect(base)
            conn.sendall([b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ",
                          b"POST /api/v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 60000\r\n\r\n{\"sql\": \"SEL",
                          b"GE"][n % 3])
            stalled.append(conn)
        started = time.monotonic()
        _counts_are_exact(base)
        assert time.monotonic() - started < 5
        huge = _exchange(base, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        assert huge.startswith(b"HTTP/1.") and b" 200 " not in huge.split(b"\r\n")[0]
        long_line = _exchange(base, b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")
        assert long_line.startswith(b"HTTP/1.") and b" 414 " in long_line.split(b"\r\n")[0]
        with_minus = _exchange(base, b"POST /api/v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                     b"application/json\r\nContent-Length: -1\r\n\r\n{}")
        assert b" 400 " in with_minus.split(b"\r\n")[0]  # not a read until the client closes

        answers, waits = [], []

        def scrape():
            began = time.monotonic()
            answers.append(get(f"{base}/metrics")[0])
            waits.append(time.monotonic() - began)

        threads = [threading.Thread(target=scrape) for _ in range(40)]  # many clients at once
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert answers == [200] * 40
        assert max(waits) < 0.9, sorted(waits)  # none left to a SYN retried after 1 s (a full listen backlog)
    finally:
        for conn in stalled:
            conn.close()
    _counts_are_exact(base)



@pytest.mark.parametrize("raw", [b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
                                 b"GET /" + b"a" * 300_000 + b" HTTP/1.1\r\n\r\n"],
                         ids=["huge-header", "huge-request-line"])
def test_a_client_still_sending_when_refused_reads_the_answer(lingering, raw):
    """The server answers before reading the whole request; closed at once, the unread rest
    made the kernel reset the connection, and a client half-closing later lost the answer."""
    answer = _exchange(lingering, raw, pause=0.3)
    assert answer.startswith(b"HTTP/1.") and answer.split(b"\r\n")[0].split()[1] in (b"414", b"431"), answer[:200]


def test_a_refused_client_that_never_half_closes_is_let_go(lingering):
    """The drain after an answer is bounded: a client that keeps its side open does not keep a thread."""
    with _connect(lingering) as conn:
        conn.sendall(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n")
        began, chunks = time.monotonic(), []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
        assert time.monotonic() - began < http_server.LINGER_SECONDS + 5
    assert b" 414 " in b"".join(chunks).split(b"\r\n")[0]


METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get", "G\x00T", "", "CONNECT"])
PATHS = st.one_of(st.sampled_from(["/", "/metrics", "/api/v1/status", "/api/v1/query", "/api/v1/dead-letters?limit=-5",
                                   "/api/v1/dead-letters?limit=1e9", "/static/../../etc/passwd", "//metrics", "*",
                                   "/api/v1/%2e%2e/status", "http://evil.example/metrics"]),
                  st.text(st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=60))
VERSIONS = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/0.9", "HTTP/1.1.1", "", "HTTP/x"])
HEADERS = st.lists(st.sampled_from(["Host: 127.0.0.1", "Host: evil.example", "Host:", "Content-Length: 5",
                                    "Content-Length: x", "Content-Type: application/json", "Transfer-Encoding: chunked",
                                    "Expect: 100-continue", "Connection: keep-alive", ": empty", "no colon"]),
                   max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(METHODS, PATHS, VERSIONS, HEADERS, st.binary(max_size=40))
def test_any_request_line_gets_an_answer_or_a_close_never_a_secret(lingering, method, path, version, headers, body):
    raw = f"{method} {path} {version}\r\n{''.join(h + chr(13) + chr(10) for h in headers)}\r\n"
    answer = _exchange(lingering, raw.encode("utf-8", "surrogateescape") + body)
    # (a line http.server reads as HTTP/0.9, or cannot read, is answered in HTTP/0.9's form: a body alone)
    assert SECRET.encode() not in answer and b"Traceback" not in answer
    assert b" 500 " not in answer.split(b"\r\n")[0] and b"Error code: 500" not in answer, answer[:300]


class _Stub:
    """A view that answers nothing but a query: enough for the server's own rules."""

    url = ""

    def __init__(self) -> None:
        self.topology = type("T", (), {"path": "t.yaml", "name": "t", "sinks": {}, "dead_letter": None})()
        self.redact = str


def test_a_stalled_client_is_let_go_and_a_half_sent_query_body_is_a_408(monkeypatch):
    assert 0 < http_server._Handler.timeout <= 60  # http.server's default is None: a thread kept for ever
    monkeypatch.setattr(http_server._Handler, "timeout", 0.5)
    serving = http_server.Serving(HttpOptions("127.0.0.1", 0), _Stub())
    base = serving.start()
    try:
        with _connect(base) as conn:
            conn.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the headers never end
            conn.settimeout(5)
            started = time.monotonic()
            assert conn.recv(1000) == b""  # closed by the server
            assert time.monotonic() - started < 4
        with _connect(base) as conn:
            conn.sendall(b"POST /api/v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 500\r\n\r\n{\"sql\": ")
            conn.settimeout(5)
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):  # headers and body may come apart
                part = conn.recv(10000)
                if not part:
                    break
                answer += part
        status, _, rest = answer.partition(b"\r\n")
        assert b" 408 " in status, answer
        assert json.loads(rest.split(b"\r\n\r\n", 1)[1]) == {"error": "the body of 500 bytes did not arrive in time"}
    finally:
        serving.close()
