"""Shares at the command line (docs/deploy.md, Shares) on inputs off the beaten path: a run
without --share given a deployment's root, a recovery directory that is a file, deploy --plan
on a root deploy would refuse, replay of files whose names look like a share's, and paths from
the environment in what a share prints."""

from __future__ import annotations

import io
import json
import os

import pytest

from cli.main import main
from engine.shares import Share, claim

KAFKA_FLOW = """\
version: 1
name: s
sources:
  orders: {kafka: {brokers: "127.0.0.1:1", topic: orders}}
steps:
  - id: active
    filter: "status != 'DRAFT'"
sinks:
  out: {from: active, file: {path: out/o.jsonl}}
"""

FILE_FLOW = """\
version: 1
name: f
sources: {{orders: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps:
  - id: typed
    cast: {{fields: {{n: {cast}}}}}
sinks:
  out: {{from: typed, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


@pytest.fixture
def flow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(KAFKA_FLOW)
    return str(tmp_path / "s.yaml")


def _deployed(root, count):
    for index in range(count):
        claim(os.path.join(root, Share(index, count).directory), Share(index, count))
    return str(root)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names)


def test_a_run_without_a_share_into_a_deployments_root_exits_3_and_makes_no_store_there(flow, tmp_path, capsys):
    root = _deployed(tmp_path / "root", 2)
    before = _tree(root)
    assert main(["run", "-q", "-r", root, flow]) == 3
    err = capsys.readouterr().err
    assert "holds the stores of a deployment in 2 shares" in err and "deploy it with -p 2" in err
    assert _tree(root) == before  # no part-0.sqlite3 beside the shares' stores
    assert main(["deploy", "--plan", "-p", "2", "-r", root, flow]) == 0  # which deploy -p 2 still takes


@pytest.mark.parametrize("extra", [[], ["--share", "1/2"]])
def test_a_recovery_directory_that_is_a_file_is_one_line_and_exit_3(flow, tmp_path, capsys, extra):
    (tmp_path / "afile").write_text("x")
    assert main(["run", "-q", "-r", str(tmp_path / "afile"), *extra, flow]) == 3
    err = capsys.readouterr().err
    assert "recovery directory" in err and "not a directory" in err and "internal error" not in err
    assert main(["deploy", "-p", "2", "-r", str(tmp_path / "afile"), flow]) == 3
    assert "not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("processes", ["2", "3"])
def test_deploy_plan_says_what_deploy_would_refuse(flow, tmp_path, capsys, processes):
    root = _deployed(tmp_path / "root", 2)
    expected = 0 if processes == "2" else 3
    assert main(["deploy", "--plan", "-p", processes, "-r", root, flow]) == expected
    planned = capsys.readouterr()
    assert f"with {processes} independent shares" in planned.out
    if expected:  # (else deploy would start the processes)
        assert main(["deploy", "-p", processes, "-r", root, flow]) == expected
        line = next(x for x in capsys.readouterr().err.splitlines() if "error:" in x)
        assert line in planned.err.splitlines()  # the plan shows the line deploy stops at
    else:
        assert "error" not in planned.err


def test_a_root_of_two_numbers_of_shares_advises_no_deploy_that_refuses_it_again(flow, tmp_path, capsys):
    root = _deployed(tmp_path / "root", 2)
    _deployed(root, 3)
    for processes in ("1", "2", "3"):
        assert main(["deploy", "-p", processes, "-r", root, flow]) == 3
        err = capsys.readouterr().err
        assert "the stores of 2 shares and the stores of 3 shares" in err and "-p " not in err


def _file_flow(tmp_path, dead, cast="int"):
    path = tmp_path / f"flow-{cast.strip(chr(34))}.yaml"
    path.write_text(FILE_FLOW.format(dir=tmp_path, dead=dead, cast=cast))
    return str(path)


@pytest.fixture
def failed(tmp_path):
    """A run whose dead-letter file's own name looks like a share's: 2 of 5 events dead."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"n": f"{i}.5" if i % 2 else str(i)}) + "\n"
                                               for i in range(5)))
    dead = tmp_path / "dead.share-0-of-2.jsonl"
    assert main(["run", "-q", _file_flow(tmp_path, dead)]) == 0
    assert len(dead.read_text().splitlines()) == 2
    return tmp_path


def test_replaying_the_flows_own_dead_letter_file_writes_the_flows_files_whatever_its_name(failed):
    fixed = _file_flow(failed, failed / "dead.share-0-of-2.jsonl", cast="float")
    written = len((failed / "out.jsonl").read_text().splitlines())
    assert main(["replay", str(failed / "dead.share-0-of-2.jsonl"), "--into", fixed]) == 0
    assert len((failed / "out.jsonl").read_text().splitlines()) == written + 2  # not out.share-0-of-2.jsonl
    assert sorted(p.name for p in failed.glob("*.jsonl")) == ["dead.share-0-of-2.jsonl", "in.jsonl", "out.jsonl"]


@pytest.mark.parametrize("name", ["dead.share-5-of-2.jsonl", "dead.share-0-of-0.jsonl"])
def test_replaying_a_file_named_as_no_share_is_no_internal_error(failed, capsys, name):
    (failed / "dead.share-0-of-2.jsonl").rename(failed / name)
    fixed = _file_flow(failed, failed / "dead.jsonl", cast="float")
    written = len((failed / "out.jsonl").read_text().splitlines())
    assert main(["replay", str(failed / name), "--into", fixed]) == 0, capsys.readouterr().err
    assert len((failed / "out.jsonl").read_text().splitlines()) == written + 2


def test_what_a_share_prints_of_its_files_hides_a_path_from_the_environment(tmp_path):
    from rich.console import Console

    from cli.running import run_topology
    from engine.binding import validate_text
    from engine.runtime.runner import RunOptions

    secret = tmp_path / "secret-place"
    (tmp_path / "in.jsonl").write_text('{"n": "1.5"}\n{"n": "2"}\n')
    text = FILE_FLOW.format(dir=tmp_path, dead="${DEAD}", cast="int")
    result = validate_text("f.yaml", text, env={"DEAD": str(secret / "dead.jsonl")})
    assert result.ok, [d.message for d in result.diagnostics]
    out, err = io.StringIO(), io.StringIO()
    share = Share(1, 2)
    assert run_topology(result.topology, RunOptions(share=share), Console(file=out, width=300),
                        Console(file=err, width=300)) == 0
    assert (secret / "dead.share-1-of-2.jsonl").exists()  # the share wrote its own file
    line = next(x for x in err.getvalue().splitlines() if "dead-lettered to" in x)
    assert str(secret) not in line and "${DEAD}" in line and share.directory in line


def test_a_file_sink_error_in_a_share_names_the_sinks_path_which_redaction_hides(tmp_path):
    from engine import run_context
    from engine.connectors.errors import ConnectorError
    from engine.connectors.files import JsonlSink
    from engine.topology.interpolate import redact

    (tmp_path / "blocked").write_text("a file where the sink's directory would be")
    path = str(tmp_path / "blocked" / "out.jsonl")
    sink = JsonlSink(path, mode="append")
    run_context.begin(None, 1.0, Share(1, 2))
    try:
        with pytest.raises(ConnectorError) as failed:
            sink.build_part("out", sink.list_parts()[0], None)
    finally:
        run_context.end()
    message = str(failed.value)
    assert "share 1/2" in message
    assert str(tmp_path) not in redact(message, {path: "${OUT}"})
