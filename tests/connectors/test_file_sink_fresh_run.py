"""A file sink and the dead-letter file in ``overwrite`` mode start empty on a fresh run even
when the run writes nothing to them; a resumed run (recovery store) keeps what its snapshot
covers, and ``append`` keeps everything."""

from engine.runtime.runner import RunOptions

TOPOLOGY = """\
version: 1
name: fresh
sources:
  in: {{file: {{path: {dir}/in.jsonl}}}}
steps:
  - id: keep
    filter: "a > {limit}"
sinks:
  out: {{from: keep, file: {{path: {dir}/out.jsonl, mode: {mode}}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl, mode: {mode}}}}}
"""


def _old(flow):
    (flow.dir / "out.jsonl").write_text('{"old": 1}\n')
    (flow.dir / "dead.jsonl").write_text('{"old": "dead"}\n')


def test_fresh_run_that_writes_nothing_empties_both_files(flow):
    flow.write("in.jsonl", [{"a": 1}, {"a": 2}])
    _old(flow)
    outcome = flow.run(TOPOLOGY, limit=5, mode="overwrite")
    assert outcome.text("out") == "" and outcome.text("dead_letter") == ""


def test_append_keeps_the_previous_content(flow):
    flow.write("in.jsonl", [{"a": 1}])
    _old(flow)
    outcome = flow.run(TOPOLOGY, limit=5, mode="append")
    assert outcome.rows("out") == [{"old": 1}] and outcome.dead == [{"old": "dead"}]


def test_resumed_run_keeps_what_the_snapshot_covers(flow):
    store = str(flow.dir / "recovery")
    flow.write("in.jsonl", [{"a": 1}, {"a": 9}, "not json"])
    first = flow.run(TOPOLOGY, RunOptions(recovery_directory=store), limit=5, mode="overwrite")
    assert first.rows("out") == [{"a": 9}] and len(first.dead) == 1
    # The same store: the source resumes at its end, nothing new arrives, nothing is emptied.
    again = flow.run(TOPOLOGY, RunOptions(recovery_directory=store), limit=5, mode="overwrite")
    assert again.rows("out") == [{"a": 9}] and len(again.dead) == 1
    # A fresh store: a fresh run, overwrite starts both files anew.
    fresh = flow.run(TOPOLOGY, RunOptions(recovery_directory=str(flow.dir / "other")), limit=50, mode="overwrite")
    assert fresh.rows("out") == [] and len(fresh.dead) == 1


def test_a_sink_file_shorter_than_its_snapshot_says_what_to_do(tmp_path):
    """Deleted or cut outside the flow: the run stops at every start with one line, which says how
    to go on (restore the file, or start afresh with a new recovery directory)."""
    import pytest

    from engine.connectors.errors import ConnectorError
    from engine.connectors.files import JsonlSink

    path = tmp_path / "out.jsonl"
    path.write_bytes(b"{}\n")
    with pytest.raises(ConnectorError, match=r"shorter \(3 bytes\) than at the last snapshot \(30 bytes\).*"
                                             r"restore it, or start afresh with a new recovery directory \(-r\)"):
        JsonlSink(str(path)).build_part("s", str(path), 30)
