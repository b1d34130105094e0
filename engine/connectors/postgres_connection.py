"""The PostgreSQL sinks' connection: opened from a DSN and libpq's environment, set up for
the sink, and opened again when the server goes away, within a bounded time.

Connection settings: the ``dsn`` option (a libpq connection string or URI, may be empty) and
whatever it leaves out from libpq's standard environment (``PGHOST``, ``PGPORT``,
``PGDATABASE``, ``PGUSER``, ``PGPASSWORD``, ``PGSSLMODE``, ``PGPASSFILE``, ...): psycopg hands
both to libpq. Messages name the server as ``user@host:port/database``, never with a password
(and never echo the DSN, which may hold one).

``Connection.transaction(work)`` runs ``work(connection)`` in one transaction. When the
connection is lost (the server restarts, a network cut: psycopg's connection is broken, or
PostgreSQL's error class 08 connection exception, 57 operator intervention, 40 transaction
rollback), the transaction did not commit (or its commit was not confirmed): the connection is
opened again, set up again (``prepare``), and ``work`` runs again, with pauses growing from
0.1 s to 2 s, for at most ``reconnect`` seconds; then the flow fails with one line. Any other
error (a constraint, a permission) fails at once. So a batch is written once, or, when only its
commit's confirmation was lost, twice: ``upsert`` and row changes are idempotent, ``append``
is at-least-once.

Several writers of one database (deploy's shares, flows started together) take PostgreSQL
advisory locks (in ``_LOCKS``'s space, seen in ``pg_locks``): the set-up (schema, tables, views)
of one connection at a time, since two ``CREATE TABLE``s of one table at once fail in
PostgreSQL's catalog whatever ``IF NOT EXISTS`` says; and each batch of an upsert or of row
changes under a lock of its tables (``WRITE_LOCK``), so a batch's "older than the row holds"
check sees every other writer's committed rows, and no two writers deadlock on each other's rows.
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Callable, Optional

import psycopg
from psycopg.conninfo import conninfo_to_dict

from engine.connectors.errors import ConnectorError
from engine.connectors.table_sql import quote
from engine.postgres_errors import connection_lost, first_line

_CONNECT_TIMEOUT = 10  # seconds, one attempt
_LOCKS = 0x76666C6F  # 'vflo': the first key of velocity-flow's advisory locks
_SETUP_LOCK = f"SELECT pg_advisory_xact_lock({_LOCKS}, 0)"
WRITE_LOCK = f"SELECT pg_advisory_xact_lock({_LOCKS}, hashtext(%s))"  # held until the batch commits


def write_lock_name(schema: Optional[str], tables) -> str:
    """What ``WRITE_LOCK`` locks for a sink of these tables: the same text in every process."""
    return f"{schema or ''}.{','.join(sorted(tables))}"


def describe(dsn: str) -> str:
    """``user@host:port/database`` of a DSN completed by libpq's environment; no password."""
    try:
        given = conninfo_to_dict(dsn)
    except psycopg.Error:  # its message may quote the DSN, password included
        raise ConnectorError("postgres sink: 'dsn' is not a libpq connection string or URI") from None
    env = os.environ

    def part(key: str, variable: str, default: str) -> str:
        return str(given.get(key) or env.get(variable) or default)

    user = part("user", "PGUSER", _os_user())  # libpq's defaults: the OS user, a database of that name
    host, port = part("host", "PGHOST", "localhost"), part("port", "PGPORT", "5432")
    return f"{user}@{host}:{port}/{part('dbname', 'PGDATABASE', user)}"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


class Connection:
    """One psycopg connection of a sink, set up by ``prepare`` each time it is opened."""

    def __init__(self, dsn: str, schema: Optional[str], label: str, reconnect: float,
                 prepare: Callable[[psycopg.Connection], None]) -> None:
        self.dsn, self.schema, self.label, self.reconnect = dsn, schema, label, reconnect
        self.target = describe(dsn)
        self._prepare = prepare
        self._conn: Optional[psycopg.Connection] = None

    def open(self) -> None:
        """Connect (retrying as a lost connection is) and set the session up."""
        self.transaction(lambda conn: None, "connecting")

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=_CONNECT_TIMEOUT,
                               application_name="velocity-flow")
        try:
            conn.execute("SET TimeZone = 'UTC'")
            with conn.transaction():
                conn.execute(_SETUP_LOCK)  # one set-up at a time in the database (see above)
                if self.schema:
                    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
                    conn.execute(f"SET search_path TO {quote(self.schema)}, public")  # for the session
                self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def transaction(self, work: Callable[[psycopg.Connection], None], what: str) -> None:
        """``work(connection)`` in one transaction, again on a new connection when this one is lost."""
        deadline: Optional[float] = None
        pause = 0.1
        while True:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                with self._conn.transaction():
                    work(self._conn)
                return
            except psycopg.Error as exc:
                if not self._lost(exc):
                    raise ConnectorError(f"{self.label}: {what} failed: {first_line(exc)}") from None
                self.close()
                now = time.monotonic()
                deadline = deadline if deadline is not None else now + self.reconnect
                if now >= deadline:
                    raise ConnectorError(f"{self.label}: {what}: no connection to {self.target} within "
                                         f"{self.reconnect:g}s ({first_line(exc)})") from None
                time.sleep(min(pause, max(deadline - now, 0)))
                pause = min(pause * 2, 2.0)

    def _lost(self, exc: psycopg.Error) -> bool:
        return connection_lost(self._conn, exc)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:  # already gone
                pass
