"""One run path: ``run`` and ``deploy`` validate the file once and hand the topology to
cli.running.run_topology; the cli package has no import circle."""

import ast
import io
import json
import pathlib
from contextlib import redirect_stderr, redirect_stdout

import pytest

import cli.commands
import cli.running
import engine.binding.validation
from cli.main import main

CLI_DIR = pathlib.Path(cli.commands.__file__).resolve().parent

TOPOLOGY = """\
version: 1
name: once
sources:
  orders: {file: {path: in.jsonl}}
steps:
  - id: heavy
    filter: "weight > 100"
sinks:
  out: {from: heavy, file: {path: out.jsonl}}
"""


@pytest.fixture
def file_topology(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": n, "weight": n * 60}) + "\n" for n in range(4)),
                                       encoding="utf-8")
    path = tmp_path / "once.yaml"
    path.write_text(TOPOLOGY, encoding="utf-8")
    return path


@pytest.fixture
def validations(monkeypatch):
    """Counts every validate_file call, whichever name a cli module reaches it by."""
    calls = []
    real = engine.binding.validation.validate_file

    def counting(path, *args, **kwargs):
        calls.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(engine.binding.validation, "validate_file", counting)
    monkeypatch.setattr(cli.commands, "validate_file", counting)
    return calls


def cli_run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _written(tmp_path):
    return [json.loads(line)["id"] for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]


def test_deploy_validates_the_file_once_and_runs_it(file_topology, validations, tmp_path):
    code, _, err = cli_run("deploy", "-q", str(file_topology), "-r", str(tmp_path / "recovery"))
    assert code == 0, err
    assert validations == [str(file_topology)]
    assert _written(tmp_path) == [2, 3]


def test_deploy_hands_run_topology_the_topology_it_validated(file_topology, validations, monkeypatch, tmp_path):
    seen = []

    def fake_run(topology, options, out, err, quiet=False, status_file=None, http=None):
        seen.append((topology.name, options.recovery_directory, quiet))
        return 0

    import cli.deploy
    monkeypatch.setattr(cli.deploy, "run_topology", fake_run)
    assert cli_run("deploy", str(file_topology))[0] == 0
    assert seen == [("once", str(pathlib.Path(".velocity", "recovery", "once")), False)]
    assert len(validations) == 1


def test_run_validates_the_file_once(file_topology, validations, tmp_path):
    code, _, err = cli_run("run", "-q", str(file_topology))
    assert code == 0, err
    assert validations == [str(file_topology)]
    assert _written(tmp_path) == [2, 3]


def test_an_invalid_file_is_not_run(file_topology, monkeypatch):
    file_topology.write_text(TOPOLOGY.replace("filter:", "fliter:"), encoding="utf-8")
    monkeypatch.setattr(cli.running, "run_topology", lambda *a, **k: pytest.fail("ran an invalid topology"))
    for command in ("run", "deploy"):
        assert cli_run(command, "-q", str(file_topology))[0] == 1


def _cli_imports(path: pathlib.Path):
    """The cli modules a file imports, at module level or inside functions."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.name}: relative import")
    return {name.split(".")[1] for name in names if name.startswith("cli.")} & MODULES


MODULES = {path.stem for path in CLI_DIR.glob("*.py")}


def test_no_import_circle_among_cli_modules():
    graph = {name: _cli_imports(CLI_DIR / f"{name}.py") - {name} for name in MODULES}
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            circle = trail[trail.index(name):] + [name]
            raise AssertionError("import circle: " + " -> ".join(circle))
        state[name] = "open"
        for target in sorted(graph[name]):
            visit(target, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])
    assert "running" in graph["commands"] and "running" in graph["deploy"]
