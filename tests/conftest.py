import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# shared fixtures live in plugin modules, one concept each (as Quix Streams does for its factories)
pytest_plugins = ["tests.services.kafka", "tests.services.postgres", "tests.fixtures.flows"]


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
