"""engine/code_cache.py: generated code read back across processes is the code compile() gives;
what cannot be read is compiled again; nothing holding a value from the environment is kept;
the cache can be off, unwritable or full without an error."""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import code_cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache of this test's own, and no code remembered by this process."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("VELOCITY_FLOW_NO_CACHE", raising=False)
    monkeypatch.setattr(code_cache, "_KNOWN", {})
    monkeypatch.setattr(code_cache, "_PRIVATE", set())
    monkeypatch.setattr(code_cache, "_pruned", False)
    return tmp_path / "velocity-flow" / "code"


def _files(cache) -> list:
    return [path for path in cache.rglob("*") if path.is_file()]


def _compiles(monkeypatch) -> list:
    """The sources compile() is called with from now on, in engine/code_cache.py."""
    made = []

    def counting(source, filename, mode):
        made.append(source)
        return compile(source, filename, mode)

    monkeypatch.setitem(code_cache.__dict__, "compile", counting)
    return made


def test_a_code_object_is_read_back_by_the_next_process(cache, monkeypatch):
    source = "def f(x):\n    return [x * 2, 'two', None]\n"
    first = code_cache.compiled(source, "<test>", "exec")
    assert len(_files(cache)) == 1
    monkeypatch.setattr(code_cache, "_KNOWN", {})  # the next process
    made = _compiles(monkeypatch)
    again = code_cache.compiled(source, "<test>", "exec")
    assert made == [] and again == first and again.co_filename == "<test>"
    scope: dict = {}
    exec(again, scope)
    assert scope["f"](21) == [42, "two", None]


def test_source_name_and_mode_each_make_another_entry(cache):
    code_cache.compiled("1 + 1", "<a>", "eval")
    code_cache.compiled("1 + 1", "<b>", "eval")
    code_cache.compiled("1 + 1", "<a>", "exec")
    code_cache.compiled("1 + 2", "<a>", "eval")
    assert len(_files(cache)) == 4


@pytest.mark.parametrize("content", [b"", b"not marshal", marshal.dumps("a text, not code"), marshal.dumps(
    compile("2", "<another name>", "eval"))])
def test_what_cannot_be_read_as_that_code_is_compiled_again_and_replaced(cache, monkeypatch, content):
    code_cache.compiled("40 + 2", "<test>", "eval")
    (entry,) = _files(cache)
    entry.write_bytes(content)
    monkeypatch.setattr(code_cache, "_KNOWN", {})
    made = _compiles(monkeypatch)
    assert eval(code_cache.compiled("40 + 2", "<test>", "eval")) == 42  # noqa: S307 - the test's own code
    assert made == ["40 + 2"]
    assert marshal.loads(entry.read_bytes()).co_filename == "<test>"


def test_source_that_does_not_compile_raises_and_is_not_kept(cache):
    with pytest.raises(SyntaxError):
        code_cache.compiled("lambda e: (", "<expression>", "eval")
    assert _files(cache) == []


def test_source_holding_a_value_from_the_environment_is_never_written(cache):
    code_cache.private(["s3cr'et\\pw"])
    code_cache.compiled(repr("s3cr'et\\pw") + " == 'x'", "<expression>", "eval")  # as a literal: repr's escapes
    code_cache.compiled("e.get('password') == 's3cr'", "<expression>", "eval")  # only part of it: kept
    assert len(_files(cache)) == 1
    assert all(b"s3cr'et" not in path.read_bytes() for path in _files(cache))


def test_a_topology_s_environment_values_are_private(cache, tmp_path, monkeypatch):
    from engine.topology.loader import load_file

    topology = tmp_path / "t.yaml"
    topology.write_text("name: t\nsteps:\n  - filter: \"user == '${USERNAME_OF_TEST}'\"\n")
    monkeypatch.setenv("USERNAME_OF_TEST", "alice-the-admin")
    load_file(str(topology))
    assert "alice-the-admin" in code_cache._PRIVATE


def test_off_unwritable_or_full_the_code_is_the_same(cache, monkeypatch):
    monkeypatch.setenv("VELOCITY_FLOW_NO_CACHE", "1")
    assert eval(code_cache.compiled("6 * 7", "<t>", "eval")) == 42  # noqa: S307
    assert not cache.exists()
    monkeypatch.delenv("VELOCITY_FLOW_NO_CACHE")
    cache.parent.mkdir(parents=True)
    cache.write_text("a file where the directory would be")  # nothing can be written under it
    assert eval(code_cache.compiled("6 * 8", "<t>", "eval")) == 48  # noqa: S307


def test_past_its_limit_the_older_half_is_removed(cache, monkeypatch):
    monkeypatch.setattr(code_cache, "KEEP", 4)
    for n in range(5):
        code_cache.compiled(f"{n}", "<t>", "eval")
    assert len(_files(cache)) == 5  # pruned only at a process's first write
    monkeypatch.setattr(code_cache, "_pruned", False)
    code_cache.compiled("99", "<t>", "eval")
    assert len(_files(cache)) == 5 - 5 // 2 + 1


expressions = st.recursive(
    st.one_of(st.integers(-10 ** 30, 10 ** 30), st.text(max_size=8), st.none(), st.booleans(),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner, inner),
                            st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=12,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(value=expressions)
def test_any_literal_read_back_evaluates_as_compiled(cache, monkeypatch, value):
    source = f"lambda e: ({value!r}, e)"
    fresh = eval(compile(source, "<expression>", "eval"))  # noqa: S307 - a repr of generated data
    code_cache.compiled(source, "<expression>", "eval")
    monkeypatch.setattr(code_cache, "_KNOWN", {})
    kept = eval(code_cache.compiled(source, "<expression>", "eval"))  # noqa: S307
    assert kept(1) == fresh(1)


def test_a_flow_started_again_compiles_nothing(tmp_path):
    """Two processes running the domain flow's YAML tests on the same cache: the second compiles
    no generated source (every function read back) and its tests pass as the first's."""
    script = textwrap.dedent("""
        import atexit, runpy, sys
        from engine import code_cache
        made = []
        def counting(source, *args):
            made.append(source)
            return compile(source, *args)
        code_cache.compile = counting
        atexit.register(lambda: sys.stderr.write(f"\\ncompiled {len(made)}\\n"))
        sys.argv = ["velocity-flow", "test", "topologies/velocity/transport_order_domain.test.yaml"]
        runpy.run_module("cli", run_name="__main__")
    """)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    env.pop("VELOCITY_FLOW_NO_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300) for _ in range(2)]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stdout[-2000:] + runs[1].stderr[-2000:]
    first, second = (int(run.stderr.rsplit("compiled ", 1)[1].split()[0]) for run in runs)
    assert first > 10 and second == 0
    assert runs[0].stdout.count("passed") == runs[1].stdout.count("passed") > 0


def _rewrite_module(tmp_path, body: str):
    """A module of its own holding a rewrite kept by ``kept_rewrite``, and the calls it got."""
    import importlib.util

    path = tmp_path / "a_rewrite.py"
    path.write_text(textwrap.dedent(body))
    spec = importlib.util.spec_from_file_location("a_rewrite", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


REWRITE = """
    from engine.code_cache import kept_rewrite
    calls = []

    @kept_rewrite
    def upper(text):
        calls.append(text)
        return None if text == "none" else text.upper()
    """


def test_a_rewrite_is_read_back_by_the_next_process_until_its_module_changes(cache, tmp_path):
    module, _ = _rewrite_module(tmp_path, REWRITE)
    assert (module.upper("abc"), module.upper("none"), module.upper("abc")) == ("ABC", None, "ABC")
    assert module.calls == ["abc", "none"]
    again, _ = _rewrite_module(tmp_path, REWRITE)  # the next process: its own memo, the same cache
    assert (again.upper("abc"), again.upper("none")) == ("ABC", None) and again.calls == []
    code_cache._module_stamp.cache_clear()  # (a process reads its modules' stamps once)
    edited, _ = _rewrite_module(tmp_path, textwrap.dedent(REWRITE).replace("text.upper()", "text.upper() + '!'"))
    assert edited.upper("abc") == "ABC!" and edited.calls == ["abc"]  # an edited module: another entry


def test_a_compiled_rewrite_without_a_code_object_is_kept_by_its_modules_file(cache, tmp_path):
    """The compiled core's functions (mypyc: builtins, no ``__code__``) are named by their module's file."""
    module, _ = _rewrite_module(tmp_path, REWRITE)
    sys.modules["a_rewrite"] = module
    calls = []

    class Compiled:  # what a mypyc function shows: a module and a name, no code object
        def __init__(self):
            self.__module__, self.__qualname__ = "a_rewrite", "upper"

        def __call__(self, text):
            calls.append(text)
            return text.upper()

    try:
        assert not hasattr(Compiled(), "__code__")
        assert code_cache.kept_rewrite(Compiled())("abc") == "ABC" and calls == ["abc"]
        assert code_cache.kept_rewrite(Compiled())("abc") == "ABC" and calls == ["abc"]  # read back
    finally:
        del sys.modules["a_rewrite"]


def test_a_rewrite_of_text_holding_a_private_value_is_not_written(cache, tmp_path):
    module, _ = _rewrite_module(tmp_path, REWRITE)
    code_cache.private(["hunter22"])
    before = len(_files(cache))
    assert module.upper("pw = 'hunter22'") == "PW = 'HUNTER22'"
    assert len(_files(cache)) == before


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(reads=st.lists(st.sampled_from(["e.get('a')", "e['a']", "e.get('b')", "(e.get('a') or 1)", "e['c']"]),
                      min_size=1, max_size=6))
def test_a_kept_field_read_rewrite_is_the_rewrite(cache, monkeypatch, reads):
    """reuse_reads through the cache (written, then read back by a fresh memo) gives what the
    rewrite itself gives, for sources with repeated reads."""
    from engine.expressions import reuse

    source = "(" + " + ".join(f"str({read})" for read in reads) + ")"
    fresh = reuse._rewritten.__wrapped__(source)
    written = code_cache.kept_rewrite(reuse._rewritten.__wrapped__)
    assert written(source) == fresh
    read_back = code_cache.kept_rewrite(reuse._rewritten.__wrapped__)  # a fresh memo over the same cache
    assert read_back(source) == fresh


def test_a_directory_others_may_write_in_is_not_used(cache, monkeypatch):
    """Code read from the cache runs: one that another user could have written is never read."""
    code_cache.compiled("1 + 41", "<t>", "eval")
    (entry,) = _files(cache)
    entry.write_bytes(marshal.dumps(compile("666", "<t>", "eval")))  # as someone else would plant it
    for directory in (entry.parent, cache):
        directory.chmod(0o777)
    code_cache._directory.cache_clear()
    monkeypatch.setattr(code_cache, "_KNOWN", {})
    try:
        assert eval(code_cache.compiled("1 + 41", "<t>", "eval")) == 42  # noqa: S307
        assert eval(marshal.loads(entry.read_bytes())) == 666  # noqa: S307 - not replaced either
    finally:
        entry.parent.chmod(0o700)
        code_cache._directory.cache_clear()


def test_threads_writing_the_same_entries_leave_whole_ones(cache, monkeypatch):
    """Bytewax's workers are threads of one process: each may write the same entry at once."""
    import threading

    sources = [f"lambda e: e.get({n!r}) or {'x' * n!r}" for n in range(40)]

    def work():
        for source in sources:
            code_cache.compiled(source, "<expression>", "eval")
            monkeypatch.setattr(code_cache, "_KNOWN", {})  # (each call reads or writes the file)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = _files(cache)
    assert len(entries) == len(sources)
    assert all(marshal.loads(entry.read_bytes()).co_filename == "<expression>" for entry in entries)
