"""Mutation fuzzing of every shipped topology (issue 13, acceptance).

Each shipped file (``topologies/**/*.yaml``) is mutated a few dozen ways, seeded so every run
sees the same mutants: lines deleted, duplicated, swapped, re-indented; scalars replaced by
lists, maps, numbers, huge strings or ``null``; the text truncated; ``:``, ``-``, ``{``...
inserted; keys renamed; values emptied. On every mutant ``velocity-flow validate`` (through
``cli.main.main``) must exit 0, 1 or 2 within 5 s, never 4, and print no traceback or raw Python
exception name; ``--format json`` prints JSON. Every mutant that validates is drawn (``graph``,
Mermaid and DOT: exit 0) and, when it reads only files, runs (``run -q``) on a tiny generated
workload without exit 4 or a raw exception name.

Failures caused by code owned elsewhere are listed in ``KNOWN`` (mutant id -> what happens);
their owners remove entries as they fix them. A listed case that passes is reported as a
warning so the entry can go.
"""

from __future__ import annotations

import builtins
import contextlib
import glob
import io
import json
import os
import random
import re
import shutil
import signal
import time
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPOLOGIES = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "topologies", "**", "*.yaml"),
                                                                   recursive=True)
                    if not p.endswith(".test.yaml"))  # test files (docs/testing.md) are no topologies
MUTANTS_PER_FILE = 60  # ~350 in all: the Velocity flows are one file each since environments
SEED = 13
VALIDATE_SECONDS = 5
RUN_SECONDS = 20

# Builtin exception names that must never reach a user; OSError and its family describe the
# environment (a missing input, a full disk) and are legitimate in run errors.
_RAW = sorted(name for name, obj in vars(builtins).items()
              if isinstance(obj, type) and issubclass(obj, BaseException) and not issubclass(obj, OSError)
              and name not in ("KeyboardInterrupt", "SystemExit", "GeneratorExit", "BaseException", "Exception"))
RAW_EXCEPTION = re.compile(r"\b(Traceback|" + "|".join(_RAW) + r")\b")

# Mutant id -> what goes wrong (owner's code, not this test's). Empty it as they are fixed.
KNOWN: dict = {
}

_SCALARS = ["[1, 2]", "{a: 1}", "12345", "-1", "0", "null", "~", '""', "''", "true", "1e999", "0x10", "[]", "{}",
            "x" * 5000, "[[[[[[]]]]]]", "{a: {b: {c: [1, {d: 2}]}}}", "'${VF_NOT_SET_ANYWHERE}'", "*nope",
            "!!binary aGk=", "!custom [1]", "2026-01-01", "'a''b'", "\"\\u0000\"", "-", ":", "? x",
            "999999999999999999999999999999999999", "nan", "'1 +'", "'((((((((('"]
# Hostile values: deep nesting, huge numbers, regex bombs, YAML anchors, tags.
_HOSTILE = ['"' + "(" * 120 + "1" + ")" * 120 + '"', '"' + "not " * 1000 + 'true"', '"' + "9" * 5000 + '"',
            "\"from_epoch(99999999999999999)\"", "\"matches(status, null)\"", "\"1e999 > 1\"",
            "\"matches('" + "a" * 40 + "!', '^(a+)+$')\"", '"' + " and ".join(["a > 1"] * 150) + '"',
            '"' + " + ".join(["1"] * 150) + '"', '"' + ".".join(["a"] * 120) + '"', "[" * 1000 + "]" * 1000,
            "&x [*x]", "!!python/object:os.system [ls]", "!!set {a, b}", "!!timestamp 2026-01-01", "<<: *nope",
            "\"${VF_OUT}' or 'a' == 'a\"", "\"\\u202e\\u0000\"", "'[/] [conceal]'", "\"\\x1b[31m\"", "/dev/zero",
            "/etc/passwd", "file:///etc/hostname"]
_INSERTS = [":", "-", "{", "}", "[", "]", "'", '"', "&a ", "*a", "!", "%", "#", "|", ">", "? ", ", ", "\t", "\\", "@"]
_KEY_LINE = re.compile(r"^(\s*)(-\s+)?[\w\-]+:")


def _blocks() -> list:
    """Every ``key: ...`` line of every shipped topology with the lines nested under it: options,
    connectors and steps that the ``graft`` mutation moves into other places and other files
    (an option of one component inside another is how 'views' beside a single 'table' got by)."""
    found = []
    for path in TOPOLOGIES:
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            lines = handle.read().split("\n")
        for k, line in enumerate(lines):
            m = _KEY_LINE.match(line)
            if m and not m.group(2):
                depth, end = len(m.group(1)), k + 1
                while end < len(lines) and (not lines[end].strip() or
                                            len(lines[end]) - len(lines[end].lstrip()) > depth):
                    end += 1
                found.append([text[depth:] for text in lines[k:end]])
    return found


_BLOCKS = _blocks()


def _mutate(text: str, rng: random.Random) -> tuple:
    """One mutant of ``text`` and a short description of the mutation."""
    lines = text.split("\n")
    n = len(lines)
    i = rng.randrange(n)
    kind = rng.choice(["delete", "duplicate", "swap", "indent", "scalar", "scalar", "scalar", "truncate",
                       "insert", "rename", "empty", "char", "cut", "hostile", "hostile", "graft", "graft"])
    if kind == "graft":  # a key and what is nested under it, from any shipped file, beside another key
        targets = [k for k, line in enumerate(lines) if _KEY_LINE.match(line)] or [0]
        i = rng.choice(targets)
        m = _KEY_LINE.match(lines[i]) or _KEY_LINE.match("x:")
        indent = " " * (len(m.group(1)) + len(m.group(2) or ""))
        block = rng.choice(_BLOCKS)
        lines[i + 1:i + 1] = [indent + text if text else text for text in block]
        return "\n".join(lines), f"graft {block[0].strip()[:40]!r} after line {i + 1}"
    if kind == "delete":
        del lines[i]
        return "\n".join(lines), f"delete line {i + 1}"
    if kind == "duplicate":
        lines.insert(i, lines[i])
        return "\n".join(lines), f"duplicate line {i + 1}"
    if kind == "swap":
        j = min(i + 1, n - 1)
        lines[i], lines[j] = lines[j], lines[i]
        return "\n".join(lines), f"swap lines {i + 1} and {j + 1}"
    if kind == "indent":
        delta = rng.choice([-4, -2, -1, 1, 2, 3])
        line = lines[i]
        lines[i] = line[-delta:] if delta < 0 and line[:-delta].isspace() else (" " * max(delta, 0)) + line
        return "\n".join(lines), f"indent line {i + 1} by {delta}"
    if kind in ("scalar", "empty", "rename", "hostile"):
        candidates = [k for k, line in enumerate(lines) if re.match(r"^\s*-?\s*[\w\-]+:", line)]
        quoted = [k for k in candidates if re.search(r':\s*"', lines[k])]  # expressions, mostly
        if kind == "hostile" and quoted:
            candidates = quoted
        if candidates:
            i = rng.choice(candidates)
            m = re.match(r"^(\s*-?\s*)([\w\-]+)(:)(.*)$", lines[i])
            head, key, colon, rest = m.groups()
            if kind == "rename":
                new = rng.choice([key + "x", key.upper(), key[:-1] or "k", "", "'" + key + " '", "id", "from"])
                lines[i] = head + new + colon + rest
                return "\n".join(lines), f"rename key {key!r} on line {i + 1} to {new!r}"
            value = {"empty": "", "hostile": None}.get(kind, "") if kind != "scalar" else rng.choice(_SCALARS)
            value = rng.choice(_HOSTILE) if kind == "hostile" else value
            lines[i] = head + key + colon + " " + value
            return "\n".join(lines), f"{kind} value of {key!r} on line {i + 1} -> {value[:40]!r}"
    if kind == "truncate":
        cut = rng.randrange(len(text))
        return text[:cut], f"truncate at {cut}"
    if kind == "insert" or kind in ("scalar", "empty", "rename", "hostile"):
        pos = rng.randrange(len(text) + 1)
        ins = rng.choice(_INSERTS)
        return text[:pos] + ins + text[pos:], f"insert {ins!r} at {pos}"
    if kind == "char":
        pos = rng.randrange(len(text))
        ch = rng.choice("()'\"+-*/%<>=!.,0123456789azAZ_ $\n")
        return text[:pos] + ch + text[pos + 1:], f"replace char at {pos} by {ch!r}"
    pos = rng.randrange(len(text))
    length = rng.randint(1, 40)
    return text[:pos] + text[pos + length:], f"cut {length} chars at {pos}"


def mutants(path: str):
    """(mutant id, description, text) for ``path``, seeded and deduplicated."""
    with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
        original = handle.read()
    rng = random.Random(f"{SEED}:{path}")
    seen = {original}
    found = []
    attempts = 0
    while len(found) < MUTANTS_PER_FILE and attempts < MUTANTS_PER_FILE * 5:
        attempts += 1
        text, what = _mutate(original, rng)
        if rng.random() < 0.3:  # a second mutation now and then
            text, second = _mutate(text, rng)
            what += "; " + second
        if text in seen:
            continue
        seen.add(text)
        found.append((f"{path}#{len(found)}", what, text))
    return found


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


def _cli(argv, seconds):
    """(exit code, stdout + stderr, seconds) of ``velocity-flow argv`` in this process."""
    from cli.main import main

    out, err = io.StringIO(), io.StringIO()
    previous_term = signal.getsignal(signal.SIGTERM)
    previous_alarm = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except _Timeout:
        code = "timeout"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous_term)
    return code, out.getvalue() + err.getvalue(), time.monotonic() - start


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny TMS workload, and the domain events the shipped domain topologies make of it."""
    from engine.simulation.tms import generate

    base = tmp_path_factory.mktemp("fuzz-inputs")
    tms, out = str(base / "tms"), str(base / "out")
    generate(tms, orders=3, seed=1)
    env = {"VF_TMS": tms, "VF_OUT": out, "VF_SAMPLES": os.path.join(ROOT, "samples")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with contextlib.chdir(base):
            for name in ("pickup_domain", "trip_domain", "transport_order_domain"):
                code, text, _ = _cli(["run", "-q", os.path.join(ROOT, "topologies", "velocity", f"{name}.yaml")],
                                     RUN_SECONDS)
                assert code == 0, text
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"tms": tms, "domain": os.path.join(out, "domain")}


def _file_sources_only(path: str) -> bool:
    from engine.binding import validate_file

    result = validate_file(path)
    return result.topology is not None and all(s.kind == "file" for s in result.topology.sources.values())


def _problem(code, text, seconds, limit) -> str:
    if code == "timeout" or seconds > limit:
        return f"took more than {limit} s"
    if code not in (0, 1, 2, 3):
        return f"exit {code}"
    if RAW_EXCEPTION.search(text):
        return f"raw exception name: {RAW_EXCEPTION.search(text).group(0)}"
    return ""


def _json_problem(path: str, code) -> str:
    """``validate --format json`` prints JSON only, with the same exit code as text."""
    json_code, printed, seconds = _cli(["validate", "--format", "json", path], VALIDATE_SECONDS)
    if json_code != code:
        return f"--format json: exit {json_code}, text: exit {code}"
    try:
        json.loads(printed)
    except ValueError:
        return f"--format json printed no JSON: {printed[:200]!r}"
    return ""


ran = {"validated": 0, "valid": 0, "ran": 0, "skipped_kafka": 0}


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_mutants_validate_and_run_cleanly(topology, inputs, tmp_path, monkeypatch):
    # relative paths of a mutant (a sink path turned into '((((1))))') land in the temp dir, never in
    # the checkout; 'schemas/...' paths are found in the bundled schemas from any directory
    monkeypatch.setenv("VF_TMS", inputs["tms"])
    monkeypatch.setenv("VF_SAMPLES", os.path.join(ROOT, "samples"))
    monkeypatch.setenv("VF_DOMAIN_PREFIX", "fuzz")
    failures, fixed = [], []
    checkout = set(os.listdir(ROOT))
    for number, (ident, what, text) in enumerate(mutants(topology)):
        work = tmp_path / str(number)
        out = work / "out"
        shutil.copytree(inputs["domain"], out / "domain")
        monkeypatch.setenv("VF_OUT", str(out))
        path = str(work / os.path.basename(topology))
        monkeypatch.chdir(work)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        code, output, seconds = _cli(["validate", path], VALIDATE_SECONDS)
        ran["validated"] += 1
        problem = _problem(code, output, seconds, VALIDATE_SECONDS)
        if not problem and code == 3:
            problem = "validate exit 3"
        if not problem:
            problem = _json_problem(path, code)
        stage = "validate"
        if not problem and code == 0:
            ran["valid"] += 1
            for fmt in ("mermaid", "dot"):
                graph_code, output, seconds = _cli(["graph", "--format", fmt, path], VALIDATE_SECONDS)
                problem = problem or _problem(graph_code, output, seconds, VALIDATE_SECONDS)
                if not problem and graph_code != 0:
                    problem = f"graph --format {fmt}: exit {graph_code}"
                stage = "graph"
            if not problem and _file_sources_only(path):
                stage = "run"
                code, output, seconds = _cli(["run", "-q", path], RUN_SECONDS)
                ran["ran"] += 1
                problem = _problem(code, output, seconds, RUN_SECONDS)
            else:
                ran["skipped_kafka"] += 1
        if problem and ident not in KNOWN:
            failures.append(f"{ident} [{what}] {stage}: {problem}\n{output.strip()[-800:]}")
        elif not problem and ident in KNOWN:
            fixed.append(ident)
    if fixed:
        warnings.warn(f"KNOWN cases that now pass, remove them from KNOWN: {fixed}", stacklevel=1)
    print(f"{topology}: {ran}")
    assert set(os.listdir(ROOT)) - checkout == set(), "a mutant wrote into the checkout"
    assert not failures, "\n\n".join(failures)


def test_the_fuzzer_is_deterministic_and_varied():
    first = mutants(TOPOLOGIES[0])
    assert first == mutants(TOPOLOGIES[0])
    assert len({what.split()[0] for _, what, _ in first}) >= 6
    assert len(TOPOLOGIES) * MUTANTS_PER_FILE >= 300
