"""Hostile topology files: alias bombs, deep nesting, tags and misshapen sections get a
located error (exit 1) quickly, never a hang, a memory blow-up or an internal error (exit 4)."""

import os
import subprocess
import sys
import textwrap

import pytest

from cli.main import main
from engine.topology.loader import load_text
from engine.topology.yaml_passes import MAX_ALIAS_NODES, MAX_DEPTH

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def alias_bomb(size: int) -> str:
    """A "billion laughs" file of exactly ``size`` bytes: each anchor repeats the one before 9 times."""
    text = 'version: 1\nname: bomb\na: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    previous = "a"
    for name in "bcdefghijklmnop":
        line = f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
        if len(text) + len(line) > size - 2:
            break
        text, previous = text + line, name
    text += "#" + "x" * (size - len(text) - 2) + "\n"
    assert len(text) == size
    return text


_MEASURE = """
import resource, subprocess, sys
code = subprocess.run([sys.executable, "-m", "cli", "validate", sys.argv[1]],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30).returncode
usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU time: other work on the box does not move it
print(code, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)
"""


@pytest.mark.parametrize("size", [586, 702])
def test_alias_bomb_is_refused_fast_and_small(tmp_path, size):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb(size))
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60).stdout.split()
    code, elapsed, max_rss_kb = int(out[0]), float(out[1]), int(out[2])
    assert code == 1
    assert elapsed < 2.0
    assert max_rss_kb < 200 * 1024


def test_alias_bomb_error_is_located():
    doc = load_text("b.yaml", alias_bomb(586), env={})
    assert doc.data is None
    [problem] = doc.problems
    assert (problem.line, problem.column) == (7, 8)
    assert problem.message == f"aliases repeat more than {MAX_ALIAS_NODES:,} values in all ('*d')"
    assert "anchors (&name)" in problem.hint


def test_ordinary_aliases_still_work():
    doc = load_text("a.yaml", "base: &b {path: x.jsonl, mode: append}\none: *b\ntwo: {<<: *b, mode: overwrite}\n", env={})
    assert not doc.problems
    assert doc.data["one"] == {"path": "x.jsonl", "mode": "append"}
    assert doc.data["two"]["mode"] == "overwrite"


@pytest.mark.parametrize("text, line, column", [
    ("version: 1\nname: t\nx: " + "[" * 1000 + "]" * 1000 + "\n", 3, 4 + MAX_DEPTH - 1),
    ("version: 1\nname: t\nx:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(1000)) + "  " * 1001 + "v\n",
     MAX_DEPTH + 3, 2 * MAX_DEPTH + 1),
])
def test_deep_nesting_is_refused(text, line, column):
    [problem] = load_text("d.yaml", text, env={}).problems
    assert problem.message == f"nesting deeper than {MAX_DEPTH} levels"
    assert (problem.line, problem.column) == (line, column)


def test_custom_tag_is_refused():
    [problem] = load_text("t.yaml", "version: 1\nname: t\nx: !foo [1]\n", env={}).problems
    assert (problem.line, problem.column, problem.message) == (3, 4, "YAML tag '!foo' is not supported")


def test_core_tags_are_refused_too():
    [problem] = load_text("t.yaml", "a: 1\nb: !!str 5\n", env={}).problems
    assert (problem.line, problem.column, problem.message) == (2, 4, "YAML tag 'tag:yaml.org,2002:str' is not supported")
    assert "quote a value" in problem.hint


HEAD = "version: 1\nname: t\n"
SOURCE = "sources:\n  orders: {file: {path: in.jsonl}}\n"
SINK = "sinks:\n  out: {from: f, file: {path: out.jsonl}}\n"

MISSHAPEN = {
    "sources as a list": (HEAD + "sources:\n  - orders: {file: {path: in.jsonl}}\n"
                          "sinks:\n  out: {from: orders, file: {path: out.jsonl}}\n", "4:3"),
    "connector as a list": (HEAD + "sources:\n  orders:\n    file: [1, 2]\n"
                            "sinks:\n  out: {from: orders, file: {path: out.jsonl}}\n", "5:11"),
    "step without id, then step without from": (
        HEAD + SOURCE + "  other: {file: {path: in2.jsonl}}\nsteps:\n  - filter: \"kind == 'a'\"\n"
        "  - id: f\n    filter: \"kind == 'b'\"\n" + SINK, "7:5"),
    "from empty": (HEAD + SOURCE + "steps:\n  - id: f\n    from:\n    filter: \"kind == 'a'\"\n" + SINK, "8:5"),
    "from 6": (HEAD + SOURCE + "steps:\n  - id: f\n    from: 6\n    filter: \"kind == 'a'\"\n" + SINK, "7:11"),
    "from [6]": (HEAD + SOURCE + "steps:\n  - id: f\n    from: [6]\n    filter: \"kind == 'a'\"\n" + SINK, "7:11"),
    "sink from 6": (HEAD + SOURCE + "sinks:\n  out: {from: 6, file: {path: out.jsonl}}\n", "6:15"),
    "steps as a mapping": (HEAD + SOURCE + "steps:\n  f: {filter: \"kind == 'a'\"}\n" + SINK, "6:3"),
    "sinks as a list": (HEAD + SOURCE + "sinks:\n  - {from: orders, file: {path: out.jsonl}}\n", "6:3"),
    "topics as a list": (HEAD + SOURCE + "topics: [a]\n"
                         "sinks:\n  out: {from: orders, file: {path: out.jsonl}}\n", "5:9"),
    "dead_letter connector as a list": (HEAD + SOURCE + "dead_letter: {file: [x]}\n"
                                        "sinks:\n  out: {from: orders, file: {path: out.jsonl}}\n", "5:21"),
    "alias bomb": (alias_bomb(702), "7:8"),
    "deep": (HEAD + "x: " + "[" * 1000 + "]" * 1000 + "\n", "3:67"),
    "tag": (HEAD + "x: !foo [1]\n", "3:4"),
}


@pytest.mark.parametrize("name", list(MISSHAPEN))
def test_misshapen_file_is_exit_1_with_location(tmp_path, capsys, name):
    text, where = MISSHAPEN[name]
    path = tmp_path / "t.yaml"
    path.write_text(text)
    code = main(["validate", str(path)])
    out = capsys.readouterr()
    assert code == 1, out
    assert f"{path}:{where}: error:" in out.out
    assert "internal error" not in out.out + out.err
    code = main(["validate", "--format", "json", str(path)])
    assert code == 1
    assert capsys.readouterr().out.lstrip().startswith("[")


def test_whole_variable_in_a_number_field_is_typed():
    doc = load_text("t.yaml", textwrap.dedent("""\
        a: ${BATCH:-500}
        b: ${RATIO:-0.5}
        c: ${TAIL:-true}
        d: "${QUOTED:-500}"
        """), env={})
    assert doc.data == {"a": 500, "b": 0.5, "c": True, "d": "500"}


def test_a_topology_path_that_is_not_a_regular_file_is_refused_without_reading_it(tmp_path):
    import subprocess
    import sys

    for path in ("/dev/zero", str(tmp_path)):
        done = subprocess.run([sys.executable, "-m", "cli", "validate", path], capture_output=True, text=True,
                              timeout=20)
        assert done.returncode == 1 and "not a regular file" in done.stdout + done.stderr, done
    huge = tmp_path / "huge.yaml"
    huge.write_text("# " + "x" * (5 * 1024 * 1024) + "\n")
    done = subprocess.run([sys.executable, "-m", "cli", "validate", str(huge)], capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 1 and "larger than 4 MiB" in done.stdout + done.stderr
