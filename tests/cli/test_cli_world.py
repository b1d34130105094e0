"""The CLI as a user outside the authors' paths drives it: output to a reader that leaves
(``| head -1``), output files that cannot be written, cluster options that cannot go together,
garbage in the environment variables the docs name, DSN passwords in error lines, and Ctrl-C
during the demo. Every refusal is one line with the documented exit code, never a traceback."""

import os
import subprocess
import sys

import pytest

from cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "topologies", "examples", "transport_orders.yaml")
FLOW = """\
version: 1
name: world
sources:
  in: {file: {path: in.jsonl}}
sinks:
  out: {from: in, file: {path: out.jsonl}}
"""


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYTEWAX_", "VELOCITY_FLOW_"))}
    env.pop("COLUMNS", None)
    return {**env, **extra}


def _piped_to_a_reader_that_leaves(args, cwd):
    """``velocity-flow ARGS | true``: the reader is gone before the first write (the pipe is
    closed at once, so every write fails: EPIPE, whatever the size of the output)."""
    command = [sys.executable, "-m", "cli", *args]
    writer = subprocess.Popen(command, cwd=cwd, env=_env(PYTHONPATH=ROOT), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    assert writer.stdout is not None and writer.stderr is not None
    writer.stdout.close()
    err = writer.stderr.read().decode()
    return writer.wait(timeout=120), err


@pytest.mark.parametrize("args, code", [(["schema"], 0), (["graph", EXAMPLE, "--format", "dot"], 0),
                                        (["validate", "--format", "json", EXAMPLE, EXAMPLE, EXAMPLE], 0),
                                        (["test", os.path.join(ROOT, "topologies", "examples")], 0)])
def test_a_reader_that_leaves_early_keeps_the_exit_code_and_prints_no_error(args, code, tmp_path):
    returned, err = _piped_to_a_reader_that_leaves(args, tmp_path)
    assert returned == code, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "internal error" not in err, err


def test_an_invalid_file_piped_to_head_still_exits_1(tmp_path):
    (tmp_path / "bad.yaml").write_text("version: 1\nname: x\nsources: {}\nsinks: {}\nfliter: 1\n")
    returned, err = _piped_to_a_reader_that_leaves(["validate", "bad.yaml", "bad.yaml", "bad.yaml"], tmp_path)
    assert returned == 1 and "Traceback" not in err


@pytest.mark.parametrize("where", ["missing/dir/out.mmd", "."])
def test_graph_to_a_file_that_cannot_be_written_is_one_line_exit_3(where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", EXAMPLE, "-o", where]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {where}: ") and err.count("\n") == 1, err


@pytest.mark.parametrize("where", ["missing/status.json", "."])
def test_a_status_file_that_cannot_be_written_is_one_line_exit_3(where, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    assert main(["run", "-q", "flow.yaml", "--status-file", where]) == 3
    err = capsys.readouterr().err
    assert err.startswith(f"error: --status-file {where}: cannot write it: ") and err.count("\n") == 1, err
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary file left behind


@pytest.mark.parametrize("args, says", [
    (["-i", "3"], "needs -a/--addresses"),
    (["-a", "127.0.0.1:5;127.0.0.1:6"], "needs -i/--process-id"),
    (["-a", "127.0.0.1:5;127.0.0.1:6", "-i", "2"], "is not an index of the 2 address(es)"),
    (["-a", "127.0.0.1:99999", "-i", "0"], "'127.0.0.1:99999' is not host:port"),
    (["-a", "foo", "-i", "0"], "'foo' is not host:port"),
    (["-a", ";", "-i", "0"], "'' is not host:port"),
])
def test_cluster_options_that_cannot_work_are_usage_errors_before_bytewax_waits(args, says, capsys):
    # before these were checked: exit 3 with Bytewax's Rust error, or a run waiting forever for a
    # process that cannot exist (and deaf to SIGTERM meanwhile)
    assert main(["run", "-q", EXAMPLE, *args]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1, err


def test_a_negative_process_id_is_a_usage_error(capsys):
    assert main(["run", "-q", EXAMPLE, "-i", "-5", "-a", "127.0.0.1:5"]) == 2  # before: exit 3, OverflowError
    assert "must be between 0 and" in capsys.readouterr().err


@pytest.mark.parametrize("variable, value, option", [
    ("BYTEWAX_WORKERS_PER_PROCESS", "abc", "--workers"), ("BYTEWAX_SNAPSHOT_INTERVAL", "-5", "--snapshot-interval"),
    ("BYTEWAX_PROCESS_ID", "x", "--process-id"), ("VELOCITY_FLOW_SHARE", "zz", "--share")])
def test_garbage_in_a_documented_variable_names_the_variable(variable, value, option, monkeypatch, capsys):
    monkeypatch.setenv(variable, value)
    assert main(["run", "-q", EXAMPLE]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert option in err and f"environment variable {variable}" in err, err


def test_a_value_given_on_the_command_line_is_not_blamed_on_the_environment(capsys):
    assert main(["run", "-q", EXAMPLE, "-w", "abc"]) == 2
    assert "environment" not in capsys.readouterr().err


def test_an_empty_variable_counts_as_unset(monkeypatch, tmp_path, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    for variable in ("BYTEWAX_SNAPSHOT_INTERVAL", "BYTEWAX_WORKERS_PER_PROCESS", "BYTEWAX_PROCESS_ID"):
        monkeypatch.setenv(variable, "")
    assert main(["run", "-q", "flow.yaml"]) == 0, capsys.readouterr().err
    assert (tmp_path / "out.jsonl").read_text() == '{"a":1}\n'


@pytest.mark.parametrize("args", [["--snapshot-after", "-3"], ["--rate", "-1"], ["--rate", "nan"], ["--rate", "inf"]])
def test_impossible_generate_numbers_are_usage_errors(args, tmp_path, capsys):
    assert main(["generate", "tms", "--orders", "1", "--out", str(tmp_path / "g"), *args]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err and args[0] in err
    assert not (tmp_path / "g").exists()


def test_generate_into_an_impossible_directory_is_one_line_exit_3(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert main(["generate", "tms", "--orders", "1", "--out", str(tmp_path / "a-file" / "g")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write ") and err.count("\n") == 1, err


@pytest.mark.parametrize("dsn", ["garbage://S3cretPW", "postgresql://u:S3cretPW@127.0.0.1:1/tms",
                                 "host=127.0.0.1 port=1 user=u password=S3cretPW dbname=tms"])
def test_generate_postgres_never_prints_the_password(dsn, capsys):
    code = main(["generate", "tms", "--orders", "1", "--postgres", dsn])
    out, err = capsys.readouterr()
    assert code in (2, 3) and "S3cretPW" not in out + err and err.count("\n") == 1, err
    assert out == ""  # no stray line of the progress display on stdout


def test_ctrl_c_during_a_demo_stage_stops_the_demo(monkeypatch, tmp_path, capsys):
    from cli import demo
    from engine.stopping import clear_stop, request_stop

    stages = []

    def stage(path, env, err):  # as a Ctrl-C during the stage's run: it ends early, "cleanly"
        stages.append(path)
        request_stop(keep_state=False)
        return 0, (1, 1, 0)

    monkeypatch.setattr(demo, "_run_stage", stage)
    monkeypatch.setattr("engine.simulation.generate", lambda *a, **k: _Summary())
    try:
        code = main(["demo", "-q", "--out", str(tmp_path)])
    finally:
        clear_stop()
    assert code == 130 and len(stages) == 1  # before: every stage ran on a truncated input, exit 0
    assert "interrupted" in capsys.readouterr().err


class _Summary:
    transactions = 1
    change_events = {"t": 1}
