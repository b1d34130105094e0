"""pytest fixtures for a real Apache Kafka broker started by ``scripts/kafka``.

Use them from any test directory by registering this module as a plugin in the root
``tests/conftest.py``::

    pytest_plugins = ["tests.services.kafka"]

``kafka_bootstrap`` (session scope): the broker's ``host:port``.  Reuses
``VELOCITY_KAFKA_BOOTSTRAP`` when it is set (a broker you started yourself, e.g. with
``scripts/kafka start``); otherwise runs ``scripts/kafka start --port 0`` with a state
directory of its own under pytest's temporary directory and stops that broker when the session
ends (and, through ``--watch-pid``, also when pytest is killed without running its teardown).  Under CI (``CI=true``) a broker that cannot be started FAILS the tests that need it;
elsewhere a machine without ``java`` or ``mvn`` skips them with the reason (any other start-up
failure still fails: it is a bug, not a missing tool).

``kafka_topic`` (function scope): a factory ``kafka_topic(prefix="t", partitions=1,
config=None) -> name`` (``kafka_topic(4)`` also works) creating uniquely named topics
``<prefix>-<12 hex>`` through the Admin API and waiting until every partition has a leader;
every topic it created is deleted after the test.

``kafka_admin`` (session scope): a ``confluent_kafka.admin.AdminClient`` on the broker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.services.ci import unavailable

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "kafka")
# First start may have to download Kafka with Maven (scripts/kafka bounds that by 600 s).
START_TIMEOUT = float(os.environ.get("VELOCITY_KAFKA_FIXTURE_TIMEOUT") or 900)
MISSING_TOOL_EXIT = 2  # scripts/kafka's exit code for "java/mvn not installed" (→ skip outside CI)


def _run_script(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def kafka_state_dir(tmp_path_factory):
    """State directory of the broker this session starts (None when reusing one)."""
    if os.environ.get("VELOCITY_KAFKA_BOOTSTRAP"):
        return None
    return str(tmp_path_factory.mktemp("kafka-broker"))


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_state_dir):
    given = os.environ.get("VELOCITY_KAFKA_BOOTSTRAP")
    if given:
        yield given.strip()
        return
    started_at = time.monotonic()
    try:
        # --watch-pid: the broker also goes away if this pytest process is killed outright.
        started = _run_script("start", "--state-dir", kafka_state_dir, "--port", "0",
                              "--watch-pid", str(os.getpid()), timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        _run_script("stop", "--state-dir", kafka_state_dir, timeout=60)
        unavailable("Kafka broker", f"scripts/kafka start did not finish within {START_TIMEOUT:.0f}s",
                    missing_tool=False)
    if started.returncode != 0:
        unavailable("Kafka broker", f"scripts/kafka start failed (exit {started.returncode}): "
                    f"{started.stderr.strip()[-3000:]}", missing_tool=started.returncode == MISSING_TOOL_EXIT)
    bootstrap = started.stdout.strip().splitlines()[-1]
    sys.stderr.write(f"\n[kafka] broker {bootstrap} started in "
                     f"{time.monotonic() - started_at:.1f}s (state {kafka_state_dir})\n")
    try:
        yield bootstrap
    finally:
        _run_script("stop", "--state-dir", kafka_state_dir, "--timeout", "30", timeout=90)


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def kafka_topic(kafka_admin):
    from confluent_kafka.admin import NewTopic

    created: list[str] = []

    def create(prefix: str | int = "t", partitions: int = 1, config: dict | None = None) -> str:
        if isinstance(prefix, int):  # kafka_topic(4) == kafka_topic("t", partitions=4)
            prefix, partitions = "t", prefix
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        futures = kafka_admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1, config=config or {})],
            operation_timeout=30, request_timeout=30)
        futures[name].result(timeout=60)
        created.append(name)
        _wait_for_leaders(kafka_admin, name, partitions)
        return name

    yield create
    if created:
        futures = kafka_admin.delete_topics(created, operation_timeout=30, request_timeout=30)
        for future in futures.values():
            try:
                future.result(timeout=60)
            except Exception:  # noqa: BLE001 - cleanup must not mask the test's own outcome
                pass


def _wait_for_leaders(admin, topic: str, partitions: int, timeout: float = 30.0) -> None:
    """Block until every partition of ``topic`` has a leader (clients can use it at once)."""
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(topic=topic, timeout=10).topics.get(topic)
        if (meta is not None and meta.error is None and len(meta.partitions) == partitions
                and all(p.leader >= 0 for p in meta.partitions.values())):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic}: partitions without a leader after {timeout}s")
        time.sleep(0.1)
