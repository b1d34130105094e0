"""The JSON Lines file source and sink, on real files through real Bytewax flows."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector_flows import Encoding, read_all, write_all
from engine.connectors.errors import ConnectorError
from engine.connectors.files import JsonlSink, JsonlSource, LineBatch
from engine.metrics import StepCounters


def values(batch):
    """A batch's values without their line ends: a batch with no blank line is a LineBatch of
    the lines as read (decode reads a line end as white space); the others hold them stripped."""
    return [v.rstrip(b"\r\n") for v in batch.values] if type(batch) is LineBatch else batch.values


def lines_with_positions(batches):
    """(origin:line, value) for every value, using RawBatch.position as dead letters do."""
    return [(b.position(i), v) for b in batches for i, v in enumerate(values(b))]


def write(path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return str(path)


def test_single_file_lines_are_bytes_without_newline_and_numbered_from_one(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"n": 1}\n{"n": 2}\r\n{"n": 3}')
    batches = read_all(JsonlSource(path))
    assert [b.values for b in batches] == [[b'{"n": 1}\n', b'{"n": 2}\r\n', b'{"n": 3}']]  # as read
    assert lines_with_positions(batches) == [
        (f"{path}:1", b'{"n": 1}'), (f"{path}:2", b'{"n": 2}'), (f"{path}:3", b'{"n": 3}')]


def test_blank_lines_are_skipped_and_later_line_numbers_stay_exact(tmp_path):
    path = write(tmp_path / "a.jsonl", 'a\n\n  \nb\nc\n\nd\n\n')
    batches = read_all(JsonlSource(path))
    assert lines_with_positions(batches) == [
        (f"{path}:1", b"a"), (f"{path}:4", b"b"), (f"{path}:5", b"c"), (f"{path}:7", b"d")]


def test_batch_size_bounds_the_lines_read_per_batch(tmp_path):
    path = write(tmp_path / "a.jsonl", "".join(f"{i}\n" for i in range(1, 8)))
    batches = read_all(JsonlSource(path, batch_size=3))
    assert [(b.first_offset, values(b)) for b in batches] == [
        (1, [b"1", b"2", b"3"]), (4, [b"4", b"5", b"6"]), (7, [b"7"])]


def test_directory_reads_files_matching_pattern_in_sorted_order(tmp_path):
    write(tmp_path / "d" / "b.jsonl", "b1\nb2\n")
    write(tmp_path / "d" / "a.jsonl", "a1\n")
    write(tmp_path / "d" / "skip.txt", "no\n")
    directory = str(tmp_path / "d")
    batches = read_all(JsonlSource(directory))
    got = sorted(lines_with_positions(batches))
    a, b = os.path.join(directory, "a.jsonl"), os.path.join(directory, "b.jsonl")
    assert got == [(f"{a}:1", b"a1"), (f"{b}:1", b"b1"), (f"{b}:2", b"b2")]
    assert JsonlSource(directory).list_parts() == [a, b]


def test_directory_with_other_pattern(tmp_path):
    write(tmp_path / "d" / "a.jsonl", "a\n")
    write(tmp_path / "d" / "x.ndjson", "x\n")
    batches = read_all(JsonlSource(str(tmp_path / "d"), pattern="*.ndjson"))
    assert [v for b in batches for v in values(b)] == [b"x"]


def test_glob_path(tmp_path):
    write(tmp_path / "in" / "2024-01.jsonl", "jan\n")
    write(tmp_path / "in" / "2024-02.jsonl", "feb\n")
    write(tmp_path / "in" / "2023-12.jsonl", "dec\n")
    source = JsonlSource(str(tmp_path / "in" / "2024-*.jsonl"))
    assert [os.path.basename(p) for p in source.list_parts()] == ["2024-01.jsonl", "2024-02.jsonl"]
    assert sorted(v for b in read_all(source) for v in values(b)) == [b"feb", b"jan"]


def test_origin_is_the_path_as_given(tmp_path, monkeypatch):
    write(tmp_path / "samples" / "a.jsonl", "x\n")
    monkeypatch.chdir(tmp_path)
    [batch] = read_all(JsonlSource("samples"))
    assert batch.position(0) == os.path.join("samples", "a.jsonl") + ":1"


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConnectorError, match=r"^file source: '.*nope\.jsonl' does not exist$"):
        JsonlSource(str(tmp_path / "nope.jsonl"))


def test_glob_without_match_is_a_clear_error(tmp_path):
    with pytest.raises(ConnectorError, match=r"^file source: no file matches '.*\*\.jsonl'$"):
        JsonlSource(str(tmp_path / "*.jsonl"))


def test_directory_without_match_is_a_clear_error(tmp_path):
    write(tmp_path / "d" / "a.txt", "x\n")
    with pytest.raises(ConnectorError, match=r"no file in '.*d' matches '\*\.jsonl'"):
        JsonlSource(str(tmp_path / "d"))


def test_source_resumes_from_its_snapshot(tmp_path):
    path = write(tmp_path / "a.jsonl", "1\n\n3\n4\n5\n")
    source = JsonlSource(path, batch_size=2)
    part = source.build_part("in", path, None)
    assert [b.values for b in part.next_batch()] == [[b"1"]]
    state = part.snapshot()
    part.close()
    assert state[:2] == (len(b"1\n\n"), 3)  # and the mark of those bytes (test_file_source_replaced.py)
    resumed = source.build_part("in", path, state)
    assert [(b.first_offset, values(b)) for b in resumed.next_batch()] == [(3, [b"3", b"4"])]
    assert [(b.first_offset, values(b)) for b in resumed.next_batch()] == [(5, [b"5"])]
    with pytest.raises(StopIteration):
        resumed.next_batch()
    resumed.close()


def test_source_counts_lines_out(tmp_path):
    path = write(tmp_path / "a.jsonl", "1\n\n2\n")
    counters = StepCounters("src")
    read_all(JsonlSource(path, metrics=counters))
    assert counters.events_out == 2


def test_sink_writes_one_json_line_per_event_in_order(tmp_path):
    path = tmp_path / "out" / "deep" / "x.jsonl"
    counters = StepCounters("sink:x")
    write_all([[{"a": 1}, {"a": 2}], [{"a": 3, "s": "é"}]], JsonlSink(str(path), metrics=counters))
    assert path.read_text(encoding="utf-8") == '{"a":1}\n{"a":2}\n{"a":3,"s":"é"}\n'
    assert (counters.events_in, counters.events_out) == (3, 3)


def test_sink_encodes_decimals_as_exact_numbers_and_times_as_iso(tmp_path):
    path = tmp_path / "x.jsonl"
    event = {"d": Decimal("12.30"), "big": Decimal("12345678901234567890.000000001"),
             "t": dt.datetime(2024, 3, 1, 12, 30, 5, 120000, tzinfo=dt.timezone.utc),
             "day": dt.date(2024, 3, 1), "tags": {"x"}, "nested": {"v": [Decimal("0.1")]}, "n": None}
    write_all([[event]], JsonlSink(str(path)))
    assert path.read_text() == (
        '{"d":12.30,"big":12345678901234567890.000000001,"t":"2024-03-01T12:30:05.120000+00:00",'
        '"day":"2024-03-01","tags":["x"],"nested":{"v":[0.1]},"n":null}\n')
    parsed = json.loads(path.read_text(), parse_float=Decimal)
    assert parsed["big"] == Decimal("12345678901234567890.000000001")


def test_sink_overwrite_replaces_and_append_keeps(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"old":1}\n')
    write_all([[{"a": 1}]], JsonlSink(str(path), mode="append"))
    assert path.read_text() == '{"old":1}\n{"a":1}\n'
    write_all([[{"b": 2}]], JsonlSink(str(path)))
    assert path.read_text() == '{"b":2}\n'


def test_sink_resume_truncates_what_was_written_after_the_snapshot(tmp_path):
    path = tmp_path / "x.jsonl"
    sink = JsonlSink(str(path))
    part = Encoding(sink, sink.build_part("sink", str(path), None))
    part.write_batch([[{"a": 1}]])
    state = part.snapshot()
    part.write_batch([[{"a": 2}]])  # written, then the flow crashes before the next snapshot
    part.close()
    assert state == len(b'{"a":1}\n')
    resumed = Encoding(sink, sink.build_part("sink", str(path), state))
    assert path.read_text() == '{"a":1}\n'
    resumed.write_batch([[{"a": 2}], [{"a": 3}]])  # the replayed batch, then new ones
    resumed.close()
    assert path.read_text() == '{"a":1}\n{"a":2}\n{"a":3}\n'


def test_sink_resume_in_append_mode_also_truncates(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"old":1}\n')
    sink = JsonlSink(str(path), mode="append")
    part = Encoding(sink, sink.build_part("sink", str(path), None))
    state = part.snapshot()
    part.write_batch([[{"a": 1}]])
    part.close()
    sink.build_part("sink", str(path), state).close()
    assert path.read_text() == '{"old":1}\n'


def test_sink_resume_on_a_shorter_file_is_an_error(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text("")
    with pytest.raises(ConnectorError, match="shorter"):
        JsonlSink(str(path)).build_part("sink", str(path), 100)


def test_sink_routes_every_key_to_its_single_partition(tmp_path):
    sink = JsonlSink(str(tmp_path / "x.jsonl"))
    assert sink.list_parts() == [str(tmp_path / "x.jsonl")]
    assert {sink.part_fn(k) for k in ("0", "a", "zzz")} == {0}


def test_file_to_file_flow(tmp_path):
    from engine.connectors.jsonl import encode_batch, encode_event
    import orjson

    src = write(tmp_path / "in.jsonl", '{"a": 1}\n\n{"a": 2}\n')
    flow_out = tmp_path / "out.jsonl"
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import run_main
    from engine.connectors.wiring import output

    flow = Dataflow("copy")
    raw = op.input("in", flow, JsonlSource(src))
    events = op.map("decode", raw, lambda b: [encode_event(orjson.loads(v)) for v in b.values])
    output("out", events, JsonlSink(str(flow_out)))
    run_main(flow)
    assert flow_out.read_bytes() == encode_batch([{"a": 1}, {"a": 2}])


def test_two_workers_read_each_file_once_and_share_one_output_file(tmp_path):
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import cluster_main
    from engine.connectors.jsonl import encode_event
    from engine.connectors.wiring import output

    for name in ("a", "b", "c"):
        write(tmp_path / "in" / f"{name}.jsonl", "".join(f'"{name}{i}"\n' for i in range(50)))
    out = tmp_path / "out.jsonl"
    flow = Dataflow("two_workers")
    raw = op.input("in", flow, JsonlSource(str(tmp_path / "in"), batch_size=7))
    events = op.map("decode", raw, lambda b: [encode_event({"v": v.decode()}) for v in values(b)])
    output("out", events, JsonlSink(str(out)))
    cluster_main(flow, [], 0, worker_count_per_proc=2)
    got = sorted(json.loads(line)["v"] for line in out.read_text().splitlines())
    assert got == sorted(f'"{n}{i}"' for n in "abc" for i in range(50))


def _split_reference(lines, first_line):
    """(values, first line number) of each run of consecutive non-blank lines, by groupby."""
    from itertools import groupby

    numbered = [(number, line.rstrip(b"\r\n")) for number, line in enumerate(lines, first_line)]
    runs = [list(run) for blank, run in groupby(numbered, key=lambda item: not item[1].strip()) if not blank]
    return [([value for _, value in run], run[0][0]) for run in runs]


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.sampled_from([b"{}\n", b"{}\r\n", b"\n", b"\r\n", b" \t\n", b"{}", b" {} \n", b"\x0b\n",
                                       b"\r\r\n", b"{\"a\": 1}\n", b"\x0c\n", b"\t{}\n", b"\t"]), max_size=12))
def test_split_lines_gives_one_batch_per_run_of_non_blank_lines(lines):
    from engine.connectors.files import split_lines

    got = split_lines(lines, "f", 7)
    assert [(values(b), b.first_offset) for b in got] == _split_reference(lines, 7)
    assert all(b.values == lines for b in got if type(b) is LineBatch)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.sampled_from([b"{}\n", b"\n", b"\r\n", b" \t\n", b"{\"a\": 1}\r\n", b"\xc3\xa9\n",
                                       b"x" * 70 + b"\n"]), max_size=30),
       last=st.sampled_from([b"", b"{}", b" "]), batch_size=st.integers(1, 7))
def test_the_resume_offset_is_the_bytes_of_the_lines_read(tmp_path_factory, lines, last, batch_size):
    """The snapshot's offset (the file's tell()) is the sum of the lengths of the lines read."""
    path = tmp_path_factory.mktemp("o") / "a.jsonl"
    path.write_bytes(b"".join(lines) + last)
    everything = lines + ([last] if last else [])
    reader = JsonlSource(str(path), batch_size=batch_size).build_part("in", str(path), None)
    read = 0
    try:
        while True:
            reader.next_batch()
            read = min(read + batch_size, len(everything))
            assert reader.snapshot()[:2] == (sum(map(len, everything[:read])), read + 1)
    except StopIteration:
        pass
    reader.close()
    assert read == len(everything)
