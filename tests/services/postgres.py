"""pytest fixtures for a real PostgreSQL server started by ``scripts/postgres``.

Registered as a plugin in the root ``tests/conftest.py`` (``pytest_plugins``), like
``tests.services.kafka``:

``postgres_server`` (session scope): the server this session runs, started with
``scripts/postgres start --port 0`` (a free port) and a state directory under pytest's
temporary directory, stopped and purged when the session ends (and, through ``--watch-pid``,
when pytest is killed without its teardown). ``.dsn`` is its DSN
(``postgresql://postgres@127.0.0.1:<port>/tms``, trust authentication on loopback);
``.restart(pause=0)`` stops it (fast shutdown) and starts it again on the same port, for
tests of connections that must survive a restart.

``postgres_dsn`` (module scope): the DSN of a database of its own for each test module, a
copy of the server's ``tms`` database (the TMS schema, no rows: ``CREATE DATABASE ... TEMPLATE
tms``), dropped after the module: modules that load the TMS database or stream it with
Debezium do not see each other's rows, and the server starts once per session.

``postgres_schema`` (function scope): a fresh schema name ``t_<12 hex>`` in that database (not
created: the code under test creates it), dropped with everything in it after the test.

Under CI (``CI=true``) a server that cannot be started FAILS the tests that need it;
elsewhere a machine without PostgreSQL (``psql``, or scripts/postgres's missing-tool exit 2)
skips them with the reason. Any other start-up failure fails: it is a bug, not a missing tool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

from tests.services.ci import unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "postgres")
MISSING_TOOL_EXIT = 2  # scripts/postgres's exit code for "PostgreSQL not installed"
START_TIMEOUT = 180.0


def run_script(script: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def start_service(what: str, script: str, state_dir: str, args: list, timeout: float) -> str:
    """``script start`` with a state directory, watched by this process; its last stdout line."""
    try:
        proc = run_script(script, "start", "--state-dir", state_dir, "--watch-pid", str(os.getpid()),
                          *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        run_script(script, "stop", "--state-dir", state_dir, timeout=90)
        unavailable(what, f"start did not finish within {timeout:.0f}s", missing_tool=False)
    if proc.returncode != 0:
        unavailable(what, f"{os.path.relpath(script, ROOT)} start failed (exit "
                    f"{proc.returncode}): {proc.stderr.strip()[-3000:]}",
                    missing_tool=proc.returncode == MISSING_TOOL_EXIT)
    return proc.stdout.strip().splitlines()[-1]


class PostgresServer:
    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.dsn = start_service("PostgreSQL", SCRIPT, state_dir, ["--port", "0"], START_TIMEOUT)
        self.port = int(self.dsn.rsplit(":", 1)[1].split("/")[0])

    def stop(self) -> None:
        proc = run_script(SCRIPT, "stop", "--state-dir", self.state_dir, timeout=120)
        assert proc.returncode == 0, proc.stderr

    def start(self) -> None:
        dsn = start_service("PostgreSQL", SCRIPT, self.state_dir, ["--port", str(self.port)], START_TIMEOUT)
        assert dsn == self.dsn, (dsn, self.dsn)

    def restart(self, pause: float = 0.0) -> None:
        self.stop()
        time.sleep(pause)
        self.start()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    if not shutil.which("psql"):
        unavailable("PostgreSQL", "`psql` not found", missing_tool=True)
    started = time.monotonic()
    server = PostgresServer(str(tmp_path_factory.mktemp("postgres")))
    sys.stderr.write(f"\n[postgres] {server.dsn} started in {time.monotonic() - started:.1f}s\n")
    try:
        yield server
    finally:
        run_script(SCRIPT, "stop", "--state-dir", server.state_dir, "--purge", timeout=120)


@pytest.fixture(scope="module")
def postgres_dsn(postgres_server):
    import psycopg

    name = "tms_" + uuid.uuid4().hex[:12]
    admin = postgres_server.dsn.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE tms')
    yield postgres_server.dsn.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.OperationalError:  # the server is gone (a test stopped it): nothing to drop
        pass


@pytest.fixture
def postgres_schema(postgres_dsn):
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
