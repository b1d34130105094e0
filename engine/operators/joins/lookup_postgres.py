"""``lookup`` reading a PostgreSQL table (``lookup: {postgres: DSN, ...}``, docs/joins.md).

The table is typically the Fast Storage another flow's ``postgres`` sink writes. Connection
settings as for that sink: the DSN (a libpq connection string or URI, may be empty) and what it
leaves out from libpq's environment (``PGHOST``, ``PGPASSWORD``, ...); messages quote neither the
DSN nor a password. ``validate`` opens no connection (a DSN that is given is only parsed, as
the sink's is); psycopg is imported when the lookup first reads, in the flow.

One connection per process, kept open between batches, whose transactions are read-only
(``default_transaction_read_only``): each query is a transaction of its own, PostgreSQL refuses
any write, and readers see only batches the writer committed, each whole.

When the connection is lost (a server restart, a network cut: psycopg's connection is broken,
or PostgreSQL's error class 08, 57 or 40), the batch waits: the connection is opened again, with
pauses growing from 0.1 s to 2 s, for at most ``reconnect``; a restart within that time costs
no event. Past it the query raises (the error boundary dead-letters the batch's events with the
reason) and the database counts as down: while it stays down, a query tries one connection at
most once a second and fails at once otherwise, so batches are dead-lettered without waiting
(``velocity-flow replay`` sends them again). Any other error (no such table or column, a key of
another type than the column, a permission) raises at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from engine.errors import ConfigError
from engine.infinite_dates import DATE_INFINITY, DATE_MINUS_INFINITY
from engine.postgres_errors import connection_lost, first_line
from engine.sql_names import quote
from engine.values import INFINITY, MINUS_INFINITY

if TYPE_CHECKING:
    import psycopg

_CONNECT_TIMEOUT = 10  # seconds, one attempt
_PROBE_EVERY = 1.0  # seconds between connection attempts while the database is down


class PostgresLookupError(Exception):
    """A lookup's query that failed; its text is the dead letters' reason."""


def check_dsn(dsn: str) -> None:
    """A DSN that is given reads as one (parsed by psycopg, without connecting)."""
    if not dsn:
        return  # libpq's environment says it all
    from psycopg import Error
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(dsn)
    except Error:  # its message may quote the DSN, password included
        raise ConfigError("'postgres' is not a libpq connection string or URI", ("postgres",),
                          hint="e.g. postgresql://user@host:5432/database, or host=... dbname=...; "
                               "PGHOST, PGPASSWORD, ... fill in the rest") from None


class PostgresTable:
    """The rows of one table by key, read with one query per call."""

    def __init__(self, step_id: str, dsn: str, schema: Optional[str], table: str, columns: List[str],
                 reconnect: float, clock=time.monotonic, sleep=time.sleep) -> None:
        check_dsn(dsn)
        self.dsn, self.reconnect, self.label = dsn, reconnect, f"lookup '{step_id}'"
        self.clock, self.sleep = clock, sleep
        where = f"{quote(schema)}.{quote(table)}" if schema else quote(table)
        names = ", ".join(quote(c) for c in columns)
        self.sql = f"SELECT {names} FROM {where} WHERE {quote(columns[0])} = ANY(%s)"
        self._conn: Optional[psycopg.Connection] = None
        self._down: Optional[str] = None  # why the database counts as down, or None
        self._next_probe = 0.0

    @staticmethod
    def columns() -> None:
        """Not known before the flow runs (``validate`` connects to nothing): the fields are ``any``."""
        return None

    def read(self, keys: list) -> Dict[Any, tuple]:
        """The rows of ``keys`` (key -> the other columns); a key without a row is left out."""
        import psycopg as pg

        if self._down is not None:
            if self.clock() < self._next_probe:
                raise PostgresLookupError(self._down)
            self._next_probe = self.clock() + _PROBE_EVERY
            return self._attempt(keys, pg, deadline=None)  # one try: up again, or still down
        deadline = self.clock() + self.reconnect
        return self._attempt(keys, pg, deadline)

    def _attempt(self, keys: list, pg: Any, deadline: Optional[float]) -> Dict[Any, tuple]:
        pause = 0.1
        while True:
            try:
                if self._conn is None:
                    self._conn = self._connect(pg)
                rows = self._conn.execute(self.sql, [keys]).fetchall()
                self._down = None
                return {row[0]: tuple(row[1:]) for row in rows}
            except pg.Error as exc:
                if not self._lost(exc):
                    raise PostgresLookupError(f"{self.label}: {first_line(exc)}") from None
                self.close()
                now = self.clock()
                if deadline is None or now >= deadline:
                    self._down = (f"{self.label}: no connection to PostgreSQL within {self.reconnect:g}s "
                                  f"({first_line(exc)})")
                    self._next_probe = now + _PROBE_EVERY
                    raise PostgresLookupError(self._down) from None
                self.sleep(min(pause, max(deadline - now, 0)))
                pause = min(pause * 2, 2.0)

    def _connect(self, pg: Any) -> psycopg.Connection:
        options = (f"-c default_transaction_read_only=on -c TimeZone=UTC "
                   f"-c statement_timeout={max(int(self.reconnect * 1000), 1000)}")
        conn = pg.connect(self.dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT,
                               application_name="velocity-flow lookup", options=options)
        _load_infinities(conn)
        return conn

    def _lost(self, exc: Any) -> bool:
        return connection_lost(self._conn, exc)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - already gone
                pass


def _load_infinities(conn: Any) -> None:
    """PostgreSQL's 'infinity' / '-infinity' timestamps and dates as the engine's (engine.values,
    engine.infinite_dates), not an error."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    for name, base, plus, minus in (("timestamptz", TimestamptzLoader, INFINITY, MINUS_INFINITY),
                                    ("timestamp", TimestampLoader, INFINITY, MINUS_INFINITY),
                                    ("date", DateLoader, DATE_INFINITY, DATE_MINUS_INFINITY)):
        class Infinite(base):  # type: ignore[misc, valid-type]
            words = {b"infinity": plus, b"-infinity": minus}  # (a class attribute: bound now, not at load)

            def load(self, data: Any) -> Any:
                found = self.words.get(bytes(data))
                return found if found is not None else super().load(data)

        conn.adapters.register_loader(name, Infinite)
