"""The file source, decoding and the file sink on inputs from the world outside the tests'
usual ones: odd bytes and line ends, files changed between a run and its resume, directories
with glob characters in their names, values orjson does not write itself, a sink file deleted
while the flow runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from decimal import Decimal

import bytewax.operators as op
import orjson
import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSource
from connector_flows import read_all
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import notices
from engine.connectors.errors import Unwritable
from engine.connectors.files import JsonlSink, JsonlSource
from engine.connectors.jsonl import encode_event, encode_value
from engine.connectors.wiring import output
from engine.runtime.runner import RunFailed, RunOptions, run_dataflow
from engine.values import INFINITY

TOPOLOGY = """\
version: 1
name: world
sources:
  in: {{file: {{path: "{dir}/{name}", batch_size: {batch}}}}}
sinks:
  out: {{from: in, file: {{path: "{dir}/out.jsonl", mode: append}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl", mode: append}}}}
"""

# (line body, what it must become): an event with the tag "n", a dead letter whose reason starts
# so, or "skip" (blank, a file's null)
KINDS = [
    (b'{"n":@}', "event"),
    (b'{"n":@,"big":123456789012345678901234567890,"f":1234567890.1234567891}', "event"),
    (b'{"n":@,"":1,"\xc3\xa9":"\xe2\x80\xa8","n2":@}', "event"),
    (b' \t{"n":@} ', "event"),
    (b"\xef\xbb\xbf{\"n\":@}", "malformed JSON: UTF-8 byte order mark"),
    (b'{"n":@,"s":"\xff"}', "malformed JSON: str is not valid UTF-8"),
    (b'{"n":@}\x00', "malformed JSON: unexpected content after document"),
    (b'{"n":@,"v":NaN}', "malformed JSON: NaN is not a JSON number"),
    (b'{"n":@,"v":-Infinity}', "malformed JSON: -Infinity is not a JSON number"),
    (b'{"n":@,"v":1e400}', "malformed JSON: a number beyond the double range"),
    (b'{"n":@,"d":' + b"[" * 128 + b"]" * 128 + b"}", "nested deeper than 128 levels"),
    (b'[{"n":@}]', "expected a JSON object, got an array"),
    (b'"n @"', "expected a JSON object, got a string"),
    (b"@", "expected a JSON object, got a number"),
    (b'{"n":@', "malformed JSON: unexpected end of data"),
    (b'{"n":@}\r{"n":@}', "malformed JSON: unexpected content after document"),  # a lone CR ends no line
    (b"null", "skip"),
    (b"", "skip"),
    (b" \t\x0b\x0c", "skip"),
]
ENDS = [b"\n", b"\r\n"]
lines = st.lists(st.tuples(st.integers(0, len(KINDS) - 1), st.sampled_from(ENDS)), min_size=1, max_size=25)


def _file(picked, first_tag: int):
    """The file's bytes and, per 1-based line number, the expected outcome and the line's tag."""
    data, expected = b"", {}
    for number, (kind, end) in enumerate(picked, 1):
        body, outcome = KINDS[kind]
        tag = first_tag + number
        data += body.replace(b"@", str(tag).encode()) + end
        expected[number] = (outcome, tag)
    return data, expected


def _judge(flow_dir, name, expected, offset_lines=0):
    """Every line is an event or a dead letter (one-line reason, its own line number) exactly once."""
    events = [json.loads(line, parse_float=Decimal)
              for line in (flow_dir / "out.jsonl").read_text("utf-8").split("\n") if line]
    deads = [json.loads(line) for line in (flow_dir / "dead.jsonl").read_text("utf-8").split("\n") if line]
    want_events = sorted(tag for outcome, tag in expected.values() if outcome == "event")
    assert sorted(e["n"] for e in events) == want_events
    assert all(e["big"] == 123456789012345678901234567890 and str(e["f"]) == "1234567890.1234567891"
               for e in events if "big" in e)  # exact digits
    got = sorted((int(d["origin"].rsplit(":", 1)[1]), d["error"]) for d in deads)
    want = sorted((n + offset_lines, reason) for n, (reason, _) in expected.items() if reason not in ("event", "skip"))
    assert [n for n, _ in got] == [n for n, _ in want]
    for (_, error), (_, reason) in zip(got, want, strict=True):
        assert error.startswith(reason) and "\n" not in error
    assert all(d["origin"].startswith(str(flow_dir / name)) and d["step"] == "in" for d in deads)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=lines, second=lines, batch=st.integers(1, 4), last_end=st.booleans())
def test_every_line_is_an_event_or_a_dead_letter_once_across_a_resume(flow_factory, first, second, batch, last_end):
    """A run, then more lines appended and a run resumed from the same store: each line once."""
    flow = flow_factory("world")
    name = "in put é [1].jsonl"
    data1, expected1 = _file(first, 0)
    data2, expected2 = _file(second, 1000)
    if not last_end:  # the file ends without a line end: read, nothing read again at the resume
        data2 = data2[: -len(second[-1][1])]
    (flow.dir / name).write_bytes(data1)
    store = RunOptions(recovery_directory=str(flow.dir / "store"))
    flow.run(TOPOLOGY, store, name=name, batch=batch)
    _judge(flow.dir, name, expected1)
    with open(flow.dir / name, "ab") as more:
        more.write(data2)
    flow.run(TOPOLOGY, store, name=name, batch=batch)
    both = {**expected1, **{n + len(first): v for n, v in expected2.items()}}
    _judge(flow.dir, name, both)
    flow.run(TOPOLOGY, store, name=name, batch=batch)  # unchanged: nothing read again
    _judge(flow.dir, name, both)


def test_a_utf16_file_is_dead_letters_with_reasons_not_a_crash(flow):
    (flow.dir / "in.jsonl").write_bytes('{"n": 1}\n{"n": 2}\n'.encode("utf-16"))
    flow.run(TOPOLOGY, name="in.jsonl", batch=10)
    assert (flow.dir / "out.jsonl").read_text() == ""
    deads = [json.loads(line) for line in (flow.dir / "dead.jsonl").read_text("utf-8").split("\n") if line]
    assert [(d["origin"].rsplit(":", 1)[1], d["error"].split(":")[0]) for d in deads] == \
        [("1", "malformed JSON"), ("2", "malformed JSON"), ("3", "malformed JSON")]


def test_a_directory_whose_name_has_glob_characters_reads_its_files(tmp_path):
    directory = tmp_path / "in [1] *é?"
    directory.mkdir()
    (directory / "a.jsonl").write_bytes(b'{"a":1}\n')
    (tmp_path / "in 1").mkdir()  # what '[1]' matched as a pattern
    (tmp_path / "in 1" / "b.jsonl").write_bytes(b'{"b":1}\n')
    source = JsonlSource(str(directory))
    assert source.list_parts() == [str(directory / "a.jsonl")]
    assert [v for b in read_all(source) for v in b.values] == [b'{"a":1}\n']


def test_a_symlinked_file_and_directory_are_read(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.jsonl").write_bytes(b'{"a":1}\n')
    os.symlink(tmp_path / "real", tmp_path / "link")
    os.symlink(tmp_path / "real" / "a.jsonl", tmp_path / "one.jsonl")
    os.symlink(tmp_path / "nowhere.jsonl", tmp_path / "real" / "broken.jsonl")  # skipped: no file
    assert JsonlSource(str(tmp_path / "link")).list_parts() == [str(tmp_path / "link" / "a.jsonl")]
    assert [v for b in read_all(JsonlSource(str(tmp_path / "one.jsonl"))) for v in b.values] == [b'{"a":1}\n']


def _read_some(path, batch_size=2):
    source = JsonlSource(str(path), batch_size=batch_size)
    reader = source.build_part("in", str(path), None)
    reader.next_batch()
    state = reader.snapshot()
    reader.close()
    return source, state


def _noticed(build):
    """``build()``'s result and the notices it wrote."""
    lines: list = []
    before = notices.set_writer(lines.append)
    try:
        return build(), lines
    finally:
        notices.set_writer(before)


def _values(reader):
    values = []
    while True:
        try:
            values += [v for b in reader.next_batch() for v in b.values]
        except StopIteration:
            reader.close()
            return values


def test_a_file_truncated_or_rotated_since_the_snapshot_is_read_again_from_its_start(tmp_path):
    """Stopping instead would stop every restart (a crash loop); reading nothing lost the new file."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}\n{"a":3}\n')
    source, state = _read_some(path)
    path.write_bytes(b'{"b":1}\n')  # rotated: a new, shorter file under the name
    reader, said = _noticed(lambda: source.build_part("in", str(path), state))
    assert _values(reader) == [b'{"b":1}\n']
    assert len(said) == 1 and re.search(r"^file source: '.*a\.jsonl' is shorter \(8 bytes\) than at the last "
                                        r"snapshot \(16 bytes\).*reading it again from its start$", said[0])
    path.write_bytes(b'{"bb":1234567}\n{"b":2}\n')  # replaced: byte 16 is inside a line
    reader, said = _noticed(lambda: source.build_part("in", str(path), state))
    assert _values(reader) == [b'{"bb":1234567}\n', b'{"b":2}\n']  # its first 16 bytes are others: read whole
    assert len(said) == 1 and "is not the file read up to the last snapshot" in said[0]
    # a snapshot of an older version has no mark of those bytes (test_file_source_replaced.py)
    reader, said = _noticed(lambda: source.build_part("in", str(path), state[:2]))
    assert _values(reader) == [b'"b":2}\n']  # read on from byte 16: the rest of a line (a dead letter downstream)
    assert len(said) == 1 and "byte 16 no longer starts line 3" in said[0] and said[0].endswith("reading on from there")


def test_resuming_after_an_unterminated_last_line_reads_nothing_twice(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"a":1}\n{"a":2}')
    source, state = _read_some(path, batch_size=5)
    assert state[:2] == (15, 3)
    reader = source.build_part("in", str(path), state)  # unchanged: nothing more
    with pytest.raises(StopIteration):
        reader.next_batch()
    reader.close()
    path.write_bytes(b'{"a":1}\n{"a":2}1}\n{"a":3}\n')  # the last line continued: its start was read already
    reader, said = _noticed(lambda: source.build_part("in", str(path), state))
    assert _values(reader) == [b'1}\n', b'{"a":3}\n']  # the rest of that line (a dead letter downstream), then on
    assert len(said) == 1 and "its last line, read without a line end, was continued" in said[0]


def test_a_sink_file_deleted_while_the_flow_runs_stops_it_naming_the_sink(tmp_path):
    out = tmp_path / "out.jsonl"

    def delete_at_the_second(batch):
        if batch == ["second"]:
            os.unlink(out)
        return [encode_event({"v": v}) for v in batch]

    flow = Dataflow("deleted")
    stream = op.map("encode", op.input("in", flow, TestingSource([["first"], ["second"], ["third"]])),
                    delete_at_the_second)
    output("sink", stream, JsonlSink(str(out)))
    with pytest.raises(RunFailed) as failed:
        run_dataflow(flow, RunOptions())
    assert "\n" not in failed.value.message
    assert failed.value.message.endswith(f"file sink: '{out}' was deleted while the flow ran")


class Stamp(dt.datetime):
    pass


class Day(dt.date):
    pass


class Ratio(float):
    pass


class Count(int):
    pass


@pytest.mark.parametrize("value, text", [
    (Stamp(2024, 3, 1, 12, 30, tzinfo=dt.timezone.utc), b'"2024-03-01T12:30:00+00:00"'),  # ISO, as a datetime
    (Day(2024, 2, 29), b'"2024-02-29"'),
    (INFINITY, b'"infinity"'),
    (Ratio(1.5), b"1.5"),  # a number, not the text "1.5"
    (Count(2 ** 70), b"1180591620717411303424"),
    ({2 ** 70: 1, -(2 ** 64): 2}, b'{"1180591620717411303424":1,"-18446744073709551616":2}'),
    ({Count(2 ** 65): [Count(-(2 ** 65))]}, b'{"36893488147419103232":[-36893488147419103232]}'),
    (bytearray(b"ab"), b'"ab"'),
    (memoryview(b"ab"), b'"ab"'),
    ({"s": {2 ** 70}, "t": (Decimal("0.10"), 2 ** 70)},
     b'{"s":[1180591620717411303424],"t":[0.10,1180591620717411303424]}'),
])
def test_values_orjson_does_not_write_itself_keep_their_meaning(value, text):
    assert encode_value(value) == text
    assert encode_event({"v": value}) == b'{"v":' + text + b"}\n"


@pytest.mark.parametrize("event, reason", [
    ({"big": 2 ** 70, "s": "\ud800"}, "text holds a lone surrogate"),  # the big integer first, then the surrogate
    ({"big": [2 ** 70], "deep": [[[]]] * 2, "k": {"\udc00": 1}}, "text holds a lone surrogate"),
    ({"big": 2 ** 70, "deep": json.loads("[" * 300 + "]" * 300)}, "nested deeper than 254 levels"),
])
def test_an_event_refused_after_its_big_integers_is_unwritable_with_the_reason(event, reason):
    with pytest.raises(Unwritable, match=reason):
        encode_event(event)


huge = st.integers(min_value=-(2 ** 200), max_value=2 ** 200)
awkward = st.recursive(
    st.one_of(st.none(), st.booleans(), huge, huge.map(Count), st.floats(allow_nan=False, allow_infinity=False),
              st.text(max_size=4), st.decimals(allow_nan=False, allow_infinity=False, places=3),
              st.datetimes(timezones=st.just(dt.timezone.utc)).map(
                  lambda d: Stamp(d.year, d.month, d.day, d.hour, tzinfo=d.tzinfo))),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3) | huge, inner, max_size=3),
    max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=4), awkward, max_size=4))
def test_the_sink_encoder_writes_every_such_event_as_json_lines_it_reads_back(event):
    line = encode_event(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = json.loads(line, parse_float=Decimal)
    assert type(back) is dict and len(back) == len(event)
    assert orjson.loads(encode_value(event)) is not None
