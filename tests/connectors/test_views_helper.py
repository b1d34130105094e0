"""validate checks DuckDB views in a forked helper process (engine/connectors/views_helper.py)
when it can pay: every verdict and message is the one the check makes in process; a helper
whose check raised is made good in process; one that dies or hangs is a clear error in bounded
time, never a hang or a traceback; no helper outlives its validate."""

import os
import signal
import subprocess
import sys
import threading

import pytest
from test_duckdb_views import ACCEPTED, READERS, REFUSED
from test_duckdb_views import TOPOLOGY  # views 'ok' and 'bad' ({query}, line 14) over a table 'trip'

from engine.connectors import duckdb_view_checks, table_checks, views_helper
from engine.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TABLES = {"trip": {"key": ["id"], "columns": {"id": "int", "status": "str"}}}
VIEWS = [  # each set of views checked with and without the helper
    {"ok": "SELECT * FROM trip", "n": "SELECT count(*) AS n FROM ok"},
    {"ok": "SELECT * FROM trip", "bad": "SELECT nme FROM trip"},
    {"bad": "SELECT * FROM later", "later": "SELECT 1 AS a"},
    {"a": "SELECT 1; SELECT 2"},
    {"a": "SELEC 1", "b": 5},
    {"a": "   ", "b": "SELEC 1"},
    {"a": "SELECT 1 AS x", 7: None, "c": "DROP TABLE trip"},
    {1: "SELECT nothing FROM trip"},
    {"a": "SELECT * FROM read_text('/etc/hostname')"},
    {"a": "INSTALL httpfs", "b": "SELECT * FROM nowhere"},
    {"é": "SELECT 'ünï' AS \"ç\" FROM trip WHERE status = 'x'"},
]


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """No views cache, nothing remembered in this process: every check made. A file with views."""
    monkeypatch.setenv("VELOCITY_FLOW_NO_CACHE", "1")
    monkeypatch.setattr(views_helper, "_can_fork", _can_fork_here)
    path = tmp_path / "t.yaml"
    path.write_text("sinks: {s: {duckdb: {views: {v: SELECT 1}}}}\n")
    yield [str(path)]
    table_checks._bound_views.cache_clear()
    table_checks._ACCEPTED.clear()


def _no_duckdb_threads():
    """Close this process's view-checking DuckDB, whose worker threads a forked child would lack
    (it then waited for them for ever: the CI run's 30 s hang). validate never forks with one
    open (_can_fork counts the threads), so a test that forks after checking in process closes it."""
    if duckdb_view_checks.database.cache_info().currsize:
        duckdb_view_checks.database().close()
        duckdb_view_checks.database.cache_clear()


def _can_fork_here():
    """_can_fork without its load and core tests (the helper's behaviour is tested, not when it pays)."""
    _no_duckdb_threads()
    return True


def outcome(check, options):
    table_checks._bound_views.cache_clear()
    table_checks._ACCEPTED.clear()
    try:
        check(options)
    except ConfigError as exc:
        return exc.message, exc.path, exc.hint, exc.offset
    return None


def outcomes(more=()):
    found = []
    for views in [*VIEWS, *more]:
        found.append(outcome(table_checks.check_duckdb, {"path": "db.duckdb", "tables": TABLES, "views": views}))
        found.append(outcome(table_checks.check_postgres, {"dsn": "", "tables": TABLES, "views": views}))
    return found


def test_the_helper_gives_the_verdicts_and_messages_of_the_check_in_process(fresh):
    here = outcomes()
    assert sum(1 for o in here if o) >= 12 and here[0] is None  # refusals of both kinds, and passes
    with views_helper.helping(fresh):
        assert views_helper.started()
        helped = outcomes()
    assert helped == here


def test_the_views_tests_queries_get_the_same_outcomes_through_the_helper(fresh, tmp_path):
    """The queries test_duckdb_views.py refuses and accepts, each as a view between two others."""
    queries = [q.format(tmp=tmp_path, secret=tmp_path / "secret.txt") for q in REFUSED + ACCEPTED + READERS]
    more = [{"a": "SELECT id FROM trip", "q": query, "z": "SELECT * FROM a"} for query in queries]
    here = outcomes(more)
    assert sum(1 for o in here if o) >= 2 * len(REFUSED) + len(READERS)  # by both sinks, readers by duckdb
    with views_helper.helping(fresh):
        assert outcomes(more) == here


def test_checks_handed_ahead_give_the_same_answers_when_asked(fresh):
    here = outcomes()
    with views_helper.helping(fresh):
        for views in VIEWS:
            for kind, options in (("duckdb", {"path": "db.duckdb", "tables": TABLES, "views": views}),
                                  ("postgres", {"dsn": "", "tables": TABLES, "views": views})):
                table_checks.prefetch(kind, options)
        for broken in ({"views": {"v": "SELECT 1"}}, {"tables": 5, "views": {"v": "SELECT 1"}},
                       {"tables": {"t": {"key": ["nope"], "columns": {"id": "int"}}}, "views": {"v": "x"}}):
            table_checks.prefetch("duckdb", broken)  # refused by the checks on their own: nothing handed
        helped = outcomes()
    assert helped == here


def test_a_check_that_raises_in_the_helper_is_made_in_process(fresh, monkeypatch):
    def broken(payload):
        raise RuntimeError("no DuckDB here")

    monkeypatch.setattr(duckdb_view_checks, "ANSWERS", {"select": broken, "bind": broken})
    here = outcomes()
    with views_helper.helping(fresh):
        assert outcomes() == here


@pytest.mark.parametrize("fate, message", [
    ("die", "its helper process was ended by signal 9 (SIGKILL)"),
    ("exit", "its helper process exited with code 3"),
    ("hang", "its helper process gave no answer in 0.5 s (stopped)"),
])
def test_a_helper_that_dies_or_hangs_is_a_clear_error_in_bounded_time(fresh, monkeypatch, fate, message):
    def answer(payload):
        if fate == "die":
            os.kill(os.getpid(), 9)
        if fate == "exit":
            os._exit(3)
        threading.Event().wait()

    monkeypatch.setattr(duckdb_view_checks, "ANSWERS", {"select": answer, "bind": answer})
    monkeypatch.setattr(views_helper, "TIMEOUT", 0.5)
    with views_helper.helping(fresh):
        pid = views_helper._run.helper.pid
        with pytest.raises(views_helper.ViewsHelperError) as caught:
            outcome(table_checks.check_duckdb, {"path": "db.duckdb", "tables": TABLES, "views": VIEWS[0]})
    assert str(caught.value) == f"the DuckDB views check stopped: {message}"
    with pytest.raises(ChildProcessError):  # reaped: no zombie left behind
        os.waitpid(pid, os.WNOHANG)


def test_a_helper_ended_by_ctrl_c_is_an_interruption(fresh, monkeypatch):
    monkeypatch.setattr(duckdb_view_checks, "ANSWERS", {"select": lambda p: os.kill(os.getpid(), signal.SIGINT)})
    with views_helper.helping(fresh), pytest.raises(KeyboardInterrupt):
        views_helper.ask("select", ["SELECT 1"])


def test_no_helper_outlives_its_validate_even_one_never_asked(fresh):
    with views_helper.helping(fresh):
        pid = views_helper._run.helper.pid
    assert not views_helper.started()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_main_starts_the_helper_early_and_validate_takes_it_over(fresh, tmp_path):
    first = views_helper.start(fresh)
    first.finish()  # never taken over: its starter ends it
    with pytest.raises(ChildProcessError):
        os.waitpid(first.helper.pid, os.WNOHANG)
    early = views_helper.start(fresh)
    with views_helper.helping(fresh, early):
        assert views_helper._run is early and early.helper.ended is None
    assert early.finished and early.helper.ended is not None
    early.finish()  # twice (main's finally after helping's): nothing more
    later = views_helper.start(fresh)
    other = tmp_path / "other.yaml"
    other.write_text("views: {}\n")
    with views_helper.helping([str(other)], later):  # other files: a helper of their own
        assert views_helper._run.helper.pid not in (early.helper.pid, later.helper.pid)
    for pid in (early.helper.pid, later.helper.pid):
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_main_ends_a_helper_it_started_when_validate_never_ran(fresh, monkeypatch):
    from cli import main as cli_main

    started = []
    real = views_helper.start
    monkeypatch.setattr(views_helper, "start", lambda paths: started.append(real(paths)) or started[-1])
    monkeypatch.setenv("VELOCITY_FLOW_PLUGINS", "no_such_plugin_module_anywhere")
    assert cli_main.main(["validate", *fresh]) == 2  # the plugin fails: validate never runs
    assert len(started) == 1 and started[0].helper is not None and started[0].finished
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0].helper.pid, os.WNOHANG)


def test_the_helper_starts_only_where_it_can_pay(monkeypatch, tmp_path):
    with_views, without = tmp_path / "v.yaml", tmp_path / "n.yaml"
    with_views.write_text("sinks: {s: {duckdb: {views: {v: SELECT 1}}}}\n")
    without.write_text("sinks: {s: {stdout: {}}}\n")
    texts = views_helper._texts_with_views
    assert texts([str(without), str(with_views), str(tmp_path / "missing.yaml"), str(tmp_path)]) == \
        [with_views.read_bytes()]
    assert texts([str(without)]) == []
    can_fork = views_helper._can_fork
    assert views_helper._running() >= 1  # this process at least
    monkeypatch.setattr(os, "listdir", lambda path: ["1"] if path == "/proc/self/task" else [])
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(views_helper, "_running", lambda: 1)
    assert can_fork()
    monkeypatch.setattr(views_helper, "_running", lambda: 2)  # the other core busy: the helper would wait for it
    assert not can_fork()
    monkeypatch.setattr(views_helper, "_running", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {1})  # one core: the helper would only wait for it
    assert not can_fork()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(os, "listdir", lambda path: ["1", "2"])  # a thread: forking could deadlock the child
    assert not can_fork()


def test_an_open_view_checking_duckdb_keeps_validate_from_forking_the_helper(monkeypatch):
    """The real guard behind _can_fork_here: DuckDB's worker threads are threads _can_fork counts."""
    _no_duckdb_threads()
    before = len(os.listdir("/proc/self/task"))
    monkeypatch.setattr(views_helper, "_running", lambda: 0)
    try:
        duckdb_view_checks.warm_up()
        if len(os.sched_getaffinity(0)) > 1:  # one core: DuckDB starts no worker (and _can_fork refuses anyway)
            assert len(os.listdir("/proc/self/task")) > before
        assert not views_helper._can_fork()
    finally:
        _no_duckdb_threads()


def test_a_helper_started_for_nothing_is_noted_and_not_started_again_until_duckdb_is_asked(fresh, monkeypatch,
                                                                                            tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VELOCITY_FLOW_NO_CACHE")
    started = []
    for asked in (False, False, True, False, False):
        with views_helper.helping(fresh):
            started.append(views_helper.started())
            if asked:  # as a check the views cache had forgotten would
                assert (views_helper.ask("select", ["SELECT 1"]) is None) != started[-1]
    assert started == [True, False, False, True, False]
    monkeypatch.setenv("VELOCITY_FLOW_NO_CACHE", "1")  # nothing noted: a helper each time
    with views_helper.helping(fresh):
        assert views_helper.started()


PROBE = ("import sys, os; from engine.connectors import views_helper, duckdb_view_checks\n"
         "views_helper._running = lambda: 1  # as on an idle machine\n{patch}\n"
         "from cli.main import main; code = main(['validate', sys.argv[1]]); "
         "print('helper' if '_duckdb' not in sys.modules else 'in process'); sys.exit(code)")


def validate(tmp_path, query, patch="pass"):
    path = tmp_path / "t.yaml"
    path.write_text(TOPOLOGY.format(tmp=tmp_path, query=query), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": ROOT, "VELOCITY_FLOW_NO_CACHE": "1"}
    return subprocess.run([sys.executable, "-c", PROBE.format(patch=patch), str(path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the helper needs a second core")
def test_validate_reports_a_refused_view_at_its_line_through_the_helper(tmp_path):
    run = validate(tmp_path, "SELECT nme FROM trip")
    assert run.returncode == 1, run.stderr
    assert "t.yaml:14:14: error: view 'bad' cannot be created: Binder Error: " in run.stdout
    assert run.stdout.splitlines()[-1] == "helper"
    patched = validate(tmp_path, "SELECT nme FROM trip", "views_helper._can_fork = lambda: False")
    assert patched.stdout.splitlines()[:-1] == run.stdout.splitlines()[:-1]
    assert patched.stdout.splitlines()[-1] == "in process"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the helper needs a second core")
def test_validate_with_a_dying_helper_ends_with_one_line_not_a_traceback(tmp_path):
    run = validate(tmp_path, "SELECT 1", "duckdb_view_checks.ANSWERS = {'bind': lambda p: os._exit(1), "
                                         "'select': lambda p: os._exit(1)}")
    assert run.returncode == 4
    assert run.stderr.startswith("error: internal error: ViewsHelperError: the DuckDB views check "
                                 "stopped: its helper process exited with code 1\n")
    assert "Traceback" not in run.stderr
