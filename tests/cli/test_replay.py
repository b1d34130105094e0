"""velocity-flow replay DEAD_LETTER_FILE --into TOPOLOGY: dead letters re-injected after a fix."""

from __future__ import annotations

import json

import pytest

from cli.main import main

FLOW = """\
version: 1
name: replayed
sources: {{orders: {{file: {{path: "{dir}/in.jsonl"{format}}}}}}}
steps:
  - id: typed
    cast: {{fields: {{n: {cast}}}}}
  - id: checked
    filter: "n >= 0"
sinks:
  out: {{from: checked, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def _write(directory, name, cast="int", format=""):
    path = directory / name
    path.write_text(FLOW.format(dir=directory, cast=cast, format=format))
    return str(path)


def _lines(path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def failed(tmp_path):
    """A run in which a cast to int dead-letters 3 of 10 events ("2.5", "5.5", "8.5")."""
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": i, "n": f"{i}.5" if i in (2, 5, 8) else str(i)})
                                               + "\n" for i in range(10)))
    assert main(["run", _write(tmp_path, "flow.yaml"), "-q"]) == 0
    assert len(_lines(tmp_path / "out.jsonl")) == 7
    (tmp_path / "dead.jsonl").rename(tmp_path / "failed.jsonl")
    return tmp_path


def test_replay_after_fixing_the_cast_passes_into_the_sink(failed, capsys):
    fixed = _write(failed, "fixed.yaml", cast='"decimal(10,2)"')
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed, "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["replayed"], report["passed"], report["dead_again"], report["not_replayed"]) == (3, 3, 0, [])
    out = (failed / "out.jsonl").read_text().splitlines()
    assert len(out) == 10  # appended to the 7 of the first run, not overwritten
    assert out[7:] == ['{"id":2,"n":2.50}', '{"id":5,"n":5.50}', '{"id":8,"n":8.50}']
    assert _lines(failed / "dead.jsonl") == []  # 0 dead again


def test_one_still_failing_exits_1_and_is_dead_again_with_its_new_reason(failed, capsys):
    lines = (failed / "failed.jsonl").read_text().splitlines()
    broken = json.loads(lines[1])
    broken["event"]["n"] = "five"  # the fix does not mend this one
    lines[1] = json.dumps(broken)
    (failed / "failed.jsonl").write_text("\n".join(lines) + "\n")
    fixed = _write(failed, "fixed.yaml", cast="float")
    (failed / "dead.jsonl").write_text('{"step": "earlier"}\n')  # mode overwrite: a replay appends all the same
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed]) == 1
    out, err = capsys.readouterr()
    assert "now pass (reached a sink) │     2" in out and "dead again                │     1" in out
    assert "cannot cast field 'n' value 'five' to float" in out
    earlier, *dead = _lines(failed / "dead.jsonl")
    assert earlier == {"step": "earlier"} and len(dead) == 1
    assert dead[0]["step"] == "typed" and "'five' to float" in dead[0]["error"]
    assert dead[0]["origin"].endswith("in.jsonl:6") and dead[0]["event"] == {"id": 5, "n": "five"}
    assert "1 dead letter(s) written again" in err


def test_dry_run_writes_nothing(failed, capsys):
    fixed = _write(failed, "fixed.yaml", cast="float")
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed, "--dry-run", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] == 3
    assert len(_lines(failed / "out.jsonl")) == 7


def test_a_malformed_line_replayed_after_switching_the_source_to_string(tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('{"id": 1, "n": "1"}\n7 degrees\n{"id": 2, "n": "x"}\n')
    assert main(["run", _write(tmp_path, "flow.yaml"), "-q"]) == 0
    (tmp_path / "dead.jsonl").rename(tmp_path / "failed.jsonl")
    failed = _lines(tmp_path / "failed.jsonl")
    assert sorted(d["step"] for d in failed) == ["orders", "typed"] and "7 degrees" in [d["event"] for d in failed]
    # the line was never JSON: read the source as text, take the number out of it
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(FLOW.format(dir=tmp_path, cast="int", format=", format: string")
                     .replace("  - id: typed\n", "  - id: number\n    map: {fields: {n: \"split(value, ' ')[0]\"}}\n"
                              "  - id: typed\n"))
    assert main(["validate", str(fixed)]) == 0
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "failed.jsonl"), "--into", str(fixed), "--step", "orders",
                 "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["selected"], report["replayed"], report["passed"], report["dead_again"]) == (1, 1, 1, 0)
    assert _lines(tmp_path / "out.jsonl")[-1]["n"] == 7  # after {"id": 1, "n": 1} of the first run
    assert main(["replay", str(tmp_path / "failed.jsonl"), "--into", str(fixed), "--step", "ordrs"]) == 2
    assert "did you mean 'orders'?" in capsys.readouterr().err


def test_the_step_filter_and_an_origin_no_source_reads(failed, capsys):
    records = _lines(failed / "failed.jsonl")
    records.append({**records[0], "step": "elsewhere", "origin": "/nowhere/else.jsonl:3"})
    (failed / "failed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    fixed = _write(failed, "fixed.yaml", cast="float")
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed, "--step", "typed", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == 3
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed, "--step", "elsewhere", "--dry-run"]) == 1
    assert "no source of the topology reads its origin /nowhere/else.jsonl:3" in capsys.readouterr().err
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed, "--step", "elsewhere", "--dry-run",
                 "--source", "orders", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] == 1
    assert main(["replay", str(failed / "failed.jsonl"), "--into", fixed, "--source", "ordrs"]) == 2
    assert main(["replay", str(failed / "nothing.jsonl"), "--into", fixed]) == 2


def test_a_broken_destination_exits_3(failed, capsys):
    fixed = failed / "fixed.yaml"
    fixed.write_text(FLOW.format(dir=failed, cast="float", format="")
                     .replace(f'"{failed}/out.jsonl"', f'"{failed}/in.jsonl/out.jsonl"'))
    assert main(["replay", str(failed / "failed.jsonl"), "--into", str(fixed)]) == 3
    assert "sink 'out'" in capsys.readouterr().err


def test_sinks_the_event_reached_before_it_failed_are_not_written_again(failed, capsys):
    fixed = failed / "fixed.yaml"
    fixed.write_text(FLOW.format(dir=failed, cast="float", format="").replace(
        "sinks:\n", f'sinks:\n  raw: {{from: orders, file: {{path: "{failed}/raw.jsonl", mode: append}}}}\n'))
    (failed / "raw.jsonl").write_text("")
    assert main(["replay", str(failed / "failed.jsonl"), "--into", str(fixed), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["passed"] == 3
    assert len(_lines(failed / "out.jsonl")) == 10  # after the failing step: written
    assert _lines(failed / "raw.jsonl") == []  # before it: it had the events already


def test_origins_map_to_sources(tmp_path):
    from engine.binding import validate_text
    from engine.compiler.replay import Letter, source_of

    (tmp_path / "d").mkdir()
    result = validate_text("t.yaml", f"""\
version: 1
name: origins
sources:
  files: {{file: {{path: "{tmp_path}/d"}}}}
  one: {{file: {{path: "{tmp_path}/one.jsonl"}}}}
  orders: {{kafka: {{brokers: "localhost:1", topics: [orders, returns]}}}}
  matched: {{kafka: {{brokers: "localhost:1", pattern: "audit\\\\..*"}}}}
steps:
  - id: all
    union: [files, one, orders, matched]
sinks: {{out: {{from: all, stdout: {{}}}}}}
""", env={})
    assert result.ok, [d.message for d in result.diagnostics]

    def source(origin, step="all"):
        return source_of(result.topology, Letter(1, {"step": step, "origin": origin, "event": {}}))[0]

    assert source(f"{tmp_path}/d/a.jsonl:3") == "files" and source(f"{tmp_path}/one.jsonl:1") == "one"
    assert source("returns[2]@17") == "orders" and source("audit.x[0]@1") == "matched"
    assert source("other[0]@1") is None and source(None) is None and source(f"{tmp_path}/d/a.txt:1") is None
    assert source(None, step="one") == "one"  # a decode dead letter: its step is the source


def test_replay_into_an_environment_of_the_topology(failed, capsys):
    fixed = failed / "fixed.yaml"
    fixed.write_text(FLOW.format(dir=failed, cast="float", format="")
                     + f'environments:\n  other:\n    sinks: {{out: {{file: {{path: "{failed}/other.jsonl"}}}}}}\n')
    assert main(["replay", str(failed / "failed.jsonl"), "--into", str(fixed), "--env", "other"]) == 0
    assert [e["id"] for e in _lines(failed / "other.jsonl")] == [2, 5, 8]
    assert len(_lines(failed / "out.jsonl")) == 7


KEYED = """\
version: 1
name: windowed
sources: {{readings: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps:
  - id: typed
    cast: {{fields: {{at: timestamp, temp: float}}}}
  - id: per-minute
    aggregate: {{key: sensor, window: {{tumbling: 1m, event_time: at{lateness}}}, compute: {{n: count()}}}}
sinks:
  out: {{from: per-minute, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_event_a_keyed_step_refused_has_its_origin_and_is_replayed(tmp_path, capsys, workers):
    """A late event is refused by the aggregate's state: its dead letter carries the line as the
    source read it (before the cast) and where it was, so it replays once the lateness is fixed."""
    (tmp_path / "in.jsonl").write_text(
        '{"sensor": "a", "temp": "1", "at": "2026-11-02T06:05:00Z"}\n'
        '{"sensor": "a", "temp": "2", "at": "2026-11-02T06:00:30Z"}\n')
    flow = tmp_path / "flow.yaml"
    flow.write_text(KEYED.format(dir=tmp_path, lateness=""))
    assert main(["run", str(flow), "-q", "-w", workers]) == 0
    (dead,) = _lines(tmp_path / "dead.jsonl")
    assert dead["step"] == "per-minute" and "late event" in dead["error"]
    assert dead["origin"] == f"{tmp_path}/in.jsonl:2"
    assert dead["event"] == {"sensor": "a", "temp": "2", "at": "2026-11-02T06:00:30Z"}  # as read, not cast
    (tmp_path / "dead.jsonl").rename(tmp_path / "failed.jsonl")
    flow.write_text(KEYED.format(dir=tmp_path, lateness=", allowed_lateness: 10m"))
    assert main(["replay", str(tmp_path / "failed.jsonl"), "--into", str(flow), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the aggregate's result cannot be traced back to the letter: it reached the sink unattributed
    assert (report["replayed"], report["dead_again"], report["not_replayed"]) == (1, 0, [])
    assert (report["passed"], report["dropped"], report["reached_unattributed"]) == (0, 1, 1)
    assert _lines(tmp_path / "out.jsonl")[-1] == {"sensor": "a", "window_start": "2026-11-02T06:00:00+00:00",
                                                 "window_end": "2026-11-02T06:01:00+00:00", "n": 1, "_key": "a"}


def test_a_shares_dead_letters_replay_into_that_shares_files(failed, capsys):
    """deploy -p N in shares writes a file per share (out.share-1-of-2.jsonl): a share's dead
    letters go back into its own files, and still failing ones into its own dead-letter file."""
    (failed / "failed.jsonl").rename(failed / "dead.share-1-of-2.jsonl")
    fixed = _write(failed, "fixed.yaml", cast='"decimal(10,2)"')
    lines = (failed / "dead.share-1-of-2.jsonl").read_text().splitlines()
    broken = json.loads(lines[0])
    broken["event"]["n"] = "not a number"
    (failed / "dead.share-1-of-2.jsonl").write_text("\n".join([json.dumps(broken), *lines[1:]]) + "\n")
    assert main(["replay", str(failed / "dead.share-1-of-2.jsonl"), "--into", fixed]) == 1
    assert [e["id"] for e in _lines(failed / "out.share-1-of-2.jsonl")] == [5, 8]
    assert len(_lines(failed / "out.jsonl")) == 7  # the first run's, untouched
    again = _lines(failed / "dead.share-1-of-2.jsonl")
    assert len(again) == 4 and again[-1]["event"]["n"] == "not a number"  # appended to the file replayed
    assert not (failed / "dead.jsonl").exists()
