"""Live read-only queries on a DuckDB sink's database while a flow writes it.

DuckDB lets one process open a database file for writing, and no other process open it at
all while it does. So the flow serves the queries itself: each DuckDB sink partition, once its
database is open, listens on a Unix socket (``socket_path``: ``velocity-flow-<uid>/<hash of
the database's real path>.sock`` in the temporary directory, a directory only its user can
enter), and ``query(path, sql)`` (``velocity-flow query``) sends one statement there and reads
back its columns and rows. When no flow serves the file, ``query`` opens it read-only itself
(DuckDB then refuses a flow that starts to write it until the query is done).

Consistency: a query runs on a cursor of its own over the sink's database (DuckDB's MVCC),
inside a transaction that is rolled back: it sees the database as of the last batch committed
when it started, every table at that same batch, never part of a batch, and later batches not
at all. It neither waits for the writer nor makes the writer wait (a long query keeps its
snapshot). Read-only: exactly one SELECT statement (also ``WITH``, ``FROM``-first, ``VALUES``,
``SHOW``, ``DESCRIBE``, ``SUMMARIZE``), as DuckDB's parser reads it, calling no function that
changes the database (``EFFECTS``), reading no file (external access disabled); anything else
is refused. A served query is stopped after ``QUERY_SECONDS`` and refused over ``MAX_RESULT``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from decimal import Decimal
from typing import Any, Dict, List, Optional

import duckdb

from engine.connectors.duckdb_view_checks import read_only_problem  # validate's view check too
from engine.connectors.errors import QueryError
from engine.connectors.jsonl import encode_value

__all__ = ["QueryError", "query", "read_only_problem", "roll_back", "run_read_only", "serve", "socket_path"]

_MAX_REQUEST = 1 << 20  # bytes of SQL a query may send
_TIMEOUT = 30.0
QUERY_SECONDS = 25.0  # a served query is stopped after it: before its asker (_TIMEOUT) and the flow's stop give up
MAX_RESULT = 64 << 20  # bytes of JSON rows a served query may answer: the flow's memory is not the query's
_CHUNK = 2048
_SETTLE = 3.0  # seconds a query waits for a flow that is starting or stopping


def socket_path(database: str) -> str:
    """Where the flow writing ``database`` serves queries: the same for every process of a user."""
    digest = hashlib.sha256(os.path.realpath(database).encode("utf-8")).hexdigest()[:24]
    return os.path.join(tempfile.gettempdir(), f"velocity-flow-{os.getuid()}", f"{digest}.sock")


def run_read_only(con: "duckdb.DuckDBPyConnection", sql: str, max_bytes: Optional[int] = None) -> Dict[str, Any]:
    """``{"columns", "types", "rows"}`` of a read-only query, in a transaction rolled back after;
    with ``max_bytes``, refused once its rows are over that many bytes of JSON."""
    problem = read_only_problem(sql, con)
    if problem:
        raise QueryError(problem)
    con.execute("BEGIN TRANSACTION")
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or ()]
        types = [str(d[1]) for d in cursor.description or ()]
        rows = cursor.fetchall() if max_bytes is None else _fetch_bounded(cursor, max_bytes)
    except BaseException as exc:
        roll_back(con)
        if isinstance(exc, duckdb.Error):
            raise QueryError(str(exc).strip().splitlines()[0]) from None
        raise
    con.execute("ROLLBACK")
    return {"columns": columns, "types": types, "rows": [list(r) for r in rows]}


def roll_back(con: "duckdb.DuckDBPyConnection") -> None:
    """ROLLBACK after a failure, which the caller then reports: a ROLLBACK failing too (a fatal
    error invalidated the database) must not replace the error that says what went wrong."""
    try:
        con.execute("ROLLBACK")
    except duckdb.Error:
        pass


def _fetch_bounded(cursor: "duckdb.DuckDBPyConnection", max_bytes: int) -> List[tuple]:
    rows: List[tuple] = []
    size = 0
    while chunk := cursor.fetchmany(_CHUNK):
        size += len(encode_value(chunk))
        if size > max_bytes:
            raise QueryError(f"the result is over {max_bytes >> 20} MiB (at row {len(rows) + len(chunk)}): "
                             "add a LIMIT, or query the file once the flow has stopped")
        rows.extend(chunk)
    return rows


class QueryServer:
    """Answers queries on a database the calling sink writes, one at a time, from a thread."""

    def __init__(self, database: str, con: "duckdb.DuckDBPyConnection") -> None:
        self.address = socket_path(database)
        self._stop = threading.Event()
        directory = os.path.dirname(self.address)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if os.stat(directory).st_uid != os.getuid():
            raise OSError(f"{directory} belongs to another user")
        if os.path.exists(self.address):  # left by a killed flow: DuckDB's lock says no other writer runs
            os.unlink(self.address)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(self.address)
        os.chmod(self.address, 0o600)
        self._socket.listen(8)
        self._socket.settimeout(0.2)
        # A connection of its own to the same database, made here in the writer's thread (DuckDB's
        # rule: one connection per thread, each made by cursor()) and used by the server's only.
        self._cursor = con.cursor()
        self._cursor.execute("SET TimeZone = 'UTC'")
        # a query reads the database only: no files, URLs or extensions (as views). The setting is
        # the database's, the writer's too, which registers its batches and needs nothing outside.
        self._cursor.execute("SET enable_external_access = false")
        self._thread = threading.Thread(target=self._serve, name="velocity-flow duckdb queries", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._socket.accept()
            except socket.timeout:
                continue
            except OSError:  # closed
                return
            with client:
                try:
                    self._answer(client)
                except Exception:  # noqa: BLE001 - the client went away, or sent no query: serve the next one
                    pass

    def _answer(self, client: socket.socket) -> None:
        client.settimeout(_TIMEOUT)
        request = _read_line(client)
        late = threading.Event()  # a query never keeps the flow's cpu and memory longer than the asker waits
        timer = threading.Timer(QUERY_SECONDS, self._interrupt, (late,))
        timer.start()
        try:
            sql = json.loads(request)["sql"]
            reply: Dict[str, Any] = run_read_only(self._cursor, sql, MAX_RESULT)
        except QueryError as exc:
            reply = {"error": f"the query ran over {QUERY_SECONDS:g} s and was stopped: ask for less (a WHERE, a LIMIT)"
                     if late.is_set() else str(exc)}
        except Exception as exc:  # noqa: BLE001 - any failure is the client's answer, never the flow's
            reply = {"error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"}
        finally:
            timer.cancel()
        client.sendall(encode_value(reply) + b"\n")

    def _interrupt(self, late: threading.Event) -> None:
        late.set()
        self._cursor.interrupt()

    def close(self) -> None:
        """No new queries (the socket's name goes first), the current one answered, then closed."""
        try:
            os.unlink(self.address)
        except OSError:
            pass
        self._stop.set()
        self._thread.join(timeout=_TIMEOUT)
        self._socket.close()
        self._cursor.close()


def serve(database: str, con: "duckdb.DuckDBPyConnection") -> Optional[QueryServer]:
    """A server for ``database``, or None when no socket can be made (queries then say the file is in use)."""
    try:
        return QueryServer(database, con)
    except OSError:
        return None


def _read_line(conn: socket.socket) -> bytes:
    chunks: List[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or size > _MAX_REQUEST:
            break
    return b"".join(chunks)


def query(database: str, sql: str, timeout: float = _TIMEOUT) -> Dict[str, Any]:
    """The result of one read-only query on ``database``: through the flow writing it, or
    read-only from the file when none does. ``QueryError`` with one line otherwise.

    A flow that stops while it is asked (its socket closing, its file still locked for a
    moment) is asked again, or its file read, for up to ``_SETTLE`` seconds."""
    problem = read_only_problem(sql)
    if problem:
        raise QueryError(problem)
    address = socket_path(database)
    settle = time.monotonic() + _SETTLE
    while True:
        try:
            if os.path.exists(address):
                return _ask(address, database, sql, timeout)
            return _query_file(database, sql)
        except _Passing as exc:
            if time.monotonic() >= settle:
                raise QueryError(str(exc)) from None
            time.sleep(0.05)


class _Passing(Exception):
    """A flow starting or stopping: worth asking again in a moment."""


def _ask(address: str, database: str, sql: str, timeout: float) -> Dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(address)
            conn.sendall(json.dumps({"sql": sql}).encode("utf-8") + b"\n")
            conn.shutdown(socket.SHUT_WR)
            reply = json.loads(_read_all(conn), parse_float=Decimal)
    except (ConnectionRefusedError, FileNotFoundError):  # nobody listens: left by a killed flow
        return _query_file(database, sql)
    except ConnectionError as exc:  # reset: the flow is stopping
        raise _Passing(f"the flow writing the database stopped answering ({exc})") from None
    except (OSError, ValueError) as exc:
        raise QueryError(f"the flow writing the database did not answer: {exc}") from None
    if "error" in reply:
        raise QueryError(reply["error"])
    return reply


def _read_all(conn: socket.socket) -> bytes:
    chunks: List[bytes] = []
    while True:
        chunk = conn.recv(1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _query_file(database: str, sql: str) -> Dict[str, Any]:
    if not os.path.exists(database):
        raise QueryError(f"no database at {database} (has the flow written it yet?)")
    try:
        con = duckdb.connect(database, read_only=True, config={"enable_external_access": False})
    except duckdb.Error as exc:  # a lock: a flow starting or stopping, or a writer that does not serve
        raise _Passing(f"cannot open {database}: {str(exc).strip().splitlines()[0]}") from None
    try:
        con.execute("SET TimeZone = 'UTC'")
        result = run_read_only(con, sql)
    finally:
        con.close()
    return json.loads(encode_value(result), parse_float=Decimal)  # the same values as a served answer
