"""validate remembers the DuckDB views checks it passed (engine/connectors/table_views_cache.py):
the same tables and views again start no DuckDB; anything changed, or refused, is checked again."""

import os
import subprocess
import sys

import pytest
from test_duckdb_views import TOPOLOGY  # views 'ok' and 'bad' ({query}) over a table 'trip'

from engine.connectors import duckdb_view_checks, table_checks
from engine.connectors.table_views_cache import cache_directory
from engine.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = {"trip": {"key": ["id"], "columns": {"id": "int", "status": "str"}}}
GOOD = {"open": "SELECT * FROM trip WHERE status <> 'DONE'", "n": "SELECT count(*) AS n FROM open"}


@pytest.fixture
def cache(monkeypatch, tmp_path):
    """A cache of this test's own; DuckDB's checks counted, none remembered in this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VELOCITY_FLOW_NO_CACHE", raising=False)
    table_checks._bound_views.cache_clear()
    table_checks._ACCEPTED.clear()
    calls = []
    started = duckdb_view_checks.database

    def counted():
        calls.append(1)
        return started()

    monkeypatch.setattr(duckdb_view_checks, "database", counted)
    monkeypatch.setattr(duckdb_view_checks.database, "cache_clear", started.cache_clear, raising=False)
    yield calls
    table_checks._bound_views.cache_clear()
    table_checks._ACCEPTED.clear()


def check(views, tables=TABLES):
    table_checks._bound_views.cache_clear()  # as a new process would
    table_checks._ACCEPTED.clear()
    table_checks.check_duckdb({"path": "db.duckdb", "tables": tables, "views": views})


def remembered():
    directory = cache_directory()
    return sorted(os.listdir(directory)) if directory and os.path.isdir(directory) else []


def test_views_accepted_once_are_not_checked_by_duckdb_again(cache):
    check(GOOD)
    assert cache and len(remembered()) == 1
    cache.clear()
    check(dict(GOOD))
    assert cache == []


def test_a_changed_view_is_checked_again_and_a_wrong_one_still_fails(cache):
    check(GOOD)
    cache.clear()
    with pytest.raises(ConfigError, match="view 'n' cannot be created") as caught:
        check({**GOOD, "n": "SELECT count(nope) AS n FROM open"})
    assert cache and caught.value.path == ("views", "n")
    assert len(remembered()) == 1  # a refusal is not remembered: checked (and refused) again
    cache.clear()
    with pytest.raises(ConfigError, match="view 'n' cannot be created"):
        check({**GOOD, "n": "SELECT count(nope) AS n FROM open"})
    assert cache
    with pytest.raises(ConfigError, match="exactly one SELECT"):
        check({**GOOD, "n": "DROP TABLE trip"})


def test_the_views_order_and_the_tables_are_part_of_what_was_checked(cache):
    check(GOOD)
    with pytest.raises(ConfigError, match="view 'n' cannot be created"):
        check({"n": GOOD["n"], "open": GOOD["open"]})  # 'n' reads 'open', not made yet
    without_status = {"trip": {"key": ["id"], "columns": {"id": "int"}}}
    with pytest.raises(ConfigError, match="view 'open' cannot be created"):
        check(GOOD, without_status)
    retyped = {"trip": {"key": ["id"], "columns": {"id": "int", "status": "int"}}}
    cache.clear()
    check(GOOD, retyped)  # another CREATE TABLE: checked by DuckDB again
    assert cache


def test_the_postgres_sinks_views_are_remembered_too(cache):
    options = {"dsn": "", "tables": TABLES, "views": {"v": "SELECT * FROM trip"}}
    table_checks.check_postgres(options)
    assert cache and len(remembered()) == 1
    cache.clear()
    table_checks._ACCEPTED.clear()  # as a new process would
    table_checks.check_postgres(options)
    assert cache == []
    with pytest.raises(ConfigError, match="exactly one SELECT"):
        table_checks.check_postgres({**options, "views": {"v": "DELETE FROM trip"}})


def test_no_cache_when_turned_off_or_unwritable(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("VELOCITY_FLOW_NO_CACHE", "1")
    for _ in range(2):
        cache.clear()
        check(GOOD)
        assert cache
    assert not os.path.exists(tmp_path / "cache")
    monkeypatch.delenv("VELOCITY_FLOW_NO_CACHE")
    (tmp_path / "cache").write_text("a file where the directory would be")
    for _ in range(2):
        cache.clear()
        check(GOOD)
        assert cache


PROBE = ("import sys; from engine.connectors import views_helper; views_helper._can_fork = lambda: False\n"
         "from cli.main import main; code = main(['validate', sys.argv[1]]); "
         "print('duckdb loaded' if '_duckdb' in sys.modules else 'no duckdb'); sys.exit(code)")  # DuckDB in process


def test_validate_again_loads_no_duckdb(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query="SELECT status FROM ok"), encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONPATH": ROOT}
    env.pop("VELOCITY_FLOW_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", PROBE, str(path)], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=120) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert [run.stdout.splitlines()[-1] for run in runs] == ["duckdb loaded", "no duckdb"]
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query="SELECT state FROM ok"), encoding="utf-8")
    run = subprocess.run([sys.executable, "-c", PROBE, str(path)], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1 and "view 'bad' cannot be created" in run.stdout
    assert run.stdout.splitlines()[-1] == "duckdb loaded"


def test_a_check_accepted_in_this_process_is_not_made_again_even_without_the_cache(cache, monkeypatch):
    """validate checks each environment of a file; they mostly share their sinks' views."""
    monkeypatch.setenv("VELOCITY_FLOW_NO_CACHE", "1")
    table_checks._bound_views.cache_clear()
    table_checks.check_duckdb({"path": "db.duckdb", "tables": TABLES, "views": GOOD})
    assert cache
    cache.clear()
    table_checks._bound_views.cache_clear()
    table_checks.check_duckdb({"path": "db.duckdb", "tables": TABLES, "views": dict(GOOD)})
    assert cache == []
    with pytest.raises(ConfigError, match="view 'n' cannot be created"):  # a refusal: checked each time
        table_checks.check_duckdb({"path": "db.duckdb", "tables": TABLES,
                                   "views": {**GOOD, "n": "SELECT count(nope) AS n FROM open"}})
    with pytest.raises(ConfigError, match="view 'n' cannot be created"):
        table_checks.check_duckdb({"path": "db.duckdb", "tables": TABLES,
                                   "views": {**GOOD, "n": "SELECT count(nope) AS n FROM open"}})
