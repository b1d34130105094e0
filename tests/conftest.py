import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# shared fixtures live in plugin modules, one concept each (as Quix Streams does for its factories)
pytest_plugins = ["tests.services.kafka", "tests.services.postgres", "tests.fixtures.flows", "tests.fixtures.checkout"]


# Fixtures that start a service (a broker, a PostgreSQL server) for the session: the tests using them
# run in one pytest-xdist worker, so the session starts each service once, and the other worker runs
# the rest meanwhile (the service tests mostly wait on brokers and processes).
_SERVICE_FIXTURES = {"kafka_bootstrap", "kafka_admin", "kafka_topic", "postgres_server", "postgres_dsn"}


def pytest_configure(config):
    """The repository's modules compiled to bytecode once, by the controller: ~90 tests start
    ``python -m cli`` or a bench, and with PYTHONDONTWRITEBYTECODE set (as on this machine) each
    would compile every module it imports from source again (``validate`` of the domain
    topology: 0.22 s of CPU, 0.12 s with the bytecode)."""
    import compileall

    if not hasattr(config, "workerinput"):  # (compileall writes even under PYTHONDONTWRITEBYTECODE)
        for package in ("engine", "cli", "bench"):
            compileall.compile_dir(os.path.join(ROOT, package), quiet=2)


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: two workers at most; more would mostly start more services."""
    return max(1, min(2, len(os.sched_getaffinity(0))))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("services"))


@pytest.fixture(scope="session", autouse=True)
def _session_cache_directory(tmp_path_factory):
    """What the engine caches (validate's passed views checks, engine/connectors/table_views_cache.py)
    goes to the session's scratch space, for its subprocesses too, not to the user's ~/.cache."""
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(autouse=True)
def _no_run_context_after_a_test():
    """A test that begins a run (engine.run_context.begin) without ending it would leave the run's
    memo on for the next tests of its worker: a Kafka source there would list partitions from
    metadata asked before its topics were made."""
    yield
    from engine import run_context

    run_context.end()
