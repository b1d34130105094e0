"""A run-time failure is one line naming the sink or source, however long, when standard error
is a pipe (not a terminal: rich would otherwise wrap at 80 columns), and nothing else is
printed around it (Rust's panic banner and the blank line after it are dropped)."""

import os
import subprocess
import sys

LONG = "/".join(["a-directory-with-a-rather-long-name"] * 6)

TOPOLOGY = """\
version: 1
name: broken
sources:
  in: {{file: {{path: {source}}}}}
steps:
  - id: keep
    filter: "a > 0"
sinks:
  a_sink_whose_name_is_long_enough_to_matter: {{from: keep, file: {{path: {sink}}}}}
"""


def _run(tmp_path, source: str, sink: str) -> subprocess.CompletedProcess:
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "flow.yaml").write_text(TOPOLOGY.format(source=source, sink=sink))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "VELOCITY_FLOW_DEBUG")}
    return subprocess.run([sys.executable, "-m", "cli", "run", "flow.yaml"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)


def test_a_broken_destination_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("not a directory\n")
    sink = f"a-file/{LONG}/out.jsonl"  # its parent is a file
    result = _run(tmp_path, "in.jsonl", sink)
    assert result.returncode == 3, result.stderr
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, repr(result.stderr)
    assert result.stderr.startswith("error: sink 'a_sink_whose_name_is_long_enough_to_matter': ")
    assert f"'{sink}'" in result.stderr and len(result.stderr) > 200


def test_a_missing_input_is_one_line(tmp_path):
    source = f"/nonexistent/{LONG}/in.jsonl"
    result = _run(tmp_path, source, "out.jsonl")
    assert result.returncode == 3, result.stderr
    assert result.stderr == f"error: file source: '{source}' does not exist\n"


def test_every_one_line_error_of_the_cli_starts_with_error(tmp_path, monkeypatch, capsys):
    """One prefix, `error: `, the one the docs show: before, a plugin, an unknown --env, an
    internal error and -i/-a printed `velocity-flow: ` or `velocity-flow run: error: `."""
    from cli import commands
    from cli.main import main

    flow = tmp_path / "flow.yaml"
    flow.write_text(TOPOLOGY.format(source="in.jsonl", sink="out.jsonl"))

    def said(*argv):
        code = main(list(argv))
        return code, capsys.readouterr().err

    assert said("run", "-i", "0", str(flow)) == (2, "error: -i/--process-id (BYTEWAX_PROCESS_ID) needs -a/--addresses "
                                                    "(BYTEWAX_ADDRESSES): every process's host:port\n")
    code, err = said("graph", "-e", "nope", str(flow))
    assert code == 2 and err.startswith("error: ") and "nope" in err and err.count("\n") == 1, err
    with monkeypatch.context() as patched:
        patched.setenv("VELOCITY_FLOW_PLUGINS", "no_such_plugin_module")
        code, err = said("validate", str(flow))
    assert code == 2 and err.startswith("error: ") and "no_such_plugin_module" in err and err.count("\n") == 1, err

    def broken(args, out, err):
        raise RuntimeError("boom")

    monkeypatch.delenv("VELOCITY_FLOW_DEBUG", raising=False)
    monkeypatch.setitem(commands.HANDLERS, "validate", broken)
    code, err = said("validate", str(flow))
    assert code == 4 and err.startswith("error: internal error: RuntimeError: boom\n  this is a bug"), err


def test_the_cli_writes_its_error_prefix_once():
    """Every command's one-line error comes from cli.exits.error_line, the one place it is written."""
    import pathlib
    import re

    written = re.compile(r"""["'](\[red\])?error:|["']velocity-flow( \w+)?: (error|\{)""")
    root = pathlib.Path(__file__).resolve().parents[2]
    places = [f"{path}:{number}" for path in sorted((root / "cli").rglob("*.py")) if path.name != "exits.py"
              for number, line in enumerate(path.read_text().splitlines(), 1) if written.search(line)]
    assert places == []
