"""The file source hands out a batch with no blank line as its lines read (``LineBatch``, line
ends kept); decoded, it gives exactly what the same lines without their line ends give:
events, dead letters (reason, text, line), source events, counts."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors.files import LineBatch, split_lines
from engine.operators.boundary import raw_values
from engine.operators.decode import Decode
from engine.records import RawBatch
from tests.connectors.test_files import _split_reference

SCHEMA = b'{"type":"struct","name":"' + b"n" * 300 + b'"}'
bodies = st.sampled_from([
    b'{"a":1}', b'{"a": "x", "b": [1, {"c": null}]}', b"null", b" null ", b"{}", b"[1]", b'"text"', b"1",
    b'{"n":123456789012345678901234}', b'{"f":0.12345678901234567}', b'{"a":', b"\xef\xbb\xbf{}", b'{"s":"\xff"}',
    b'{"a":1}\r{"b":2}', b"{\"a\":1}\r", b" {} ", b"\t{}", b'{"v":NaN}', b'{"a":1}{"b":2}', b"x" * 70,
    b'{"schema":' + SCHEMA + b',"payload":{"id":1}}', b'{"d":' + b"[" * 130 + b"]" * 130 + b"}", b"\xc3\xa9"])
ends = st.sampled_from([b"\n", b"\r\n", b"\r\r\n", b" \n"])
blank = st.sampled_from([b"\n", b"\r\n", b" \t\n", b"\x0b\n", b"\x0c\n", b"\r\r\n"])
line = st.one_of(st.tuples(bodies, ends).map(b"".join), blank)
files = st.tuples(st.lists(line, max_size=12), st.sampled_from([b"", b"{}", b"null", b'{"a":'])).map(
    lambda parts: parts[0] + ([parts[1]] if parts[1] else []))


def decoded(batches, decode):
    out = []
    for raw in batches:
        events, deads = decode.process(raw)
        sources = [events.root.decode(events.root.raw, row) for row in events.rows]
        positions = [events.root.raw.position(row) for row in events.rows]
        out.append((len(raw.values), json.dumps(events, default=repr), json.dumps(sources, default=repr), positions,
                    [(d.origin, d.error, d.event) for d in deads]))
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files, st.sampled_from(["json", "string"]))
def test_lines_with_their_line_ends_decode_as_without(lines, format):
    got = split_lines(lines, "in.jsonl", 7)
    assert [([v.rstrip(b"\r\n") for v in b.values], b.first_offset) for b in got] == _split_reference(lines, 7)
    assert all(b.values == lines for b in got if type(b) is LineBatch)
    reference = [RawBatch(values, "in.jsonl", first) for values, first in _split_reference(lines, 7)]
    assert decoded(got, Decode("src", format=format)) == decoded(reference, Decode("src", format=format))


@given(st.lists(st.tuples(bodies, ends).map(b"".join), min_size=1, max_size=5))
def test_a_line_alone_is_the_line_without_its_line_end(lines):
    batch = split_lines(lines, "in.jsonl", 3)[0]
    assert type(batch) is LineBatch
    pieces = [(one.values, one.first_offset, type(one), text, origin) for one, text, origin in raw_values(batch)]
    assert [(values, first, kind, origin) for values, first, kind, _, origin in pieces] == \
        [([value.rstrip(b"\r\n")], 3 + i, RawBatch, f"in.jsonl:{3 + i}") for i, value in enumerate(lines)]
    # the text a dead letter carries when decode fails twice (a bug): the line, not its line end
    assert [text for *_, text, _ in pieces] == [v.rstrip(b"\r\n").decode("utf-8", "replace") for v in lines]
    assert repr(batch).startswith("LineBatch(values=[")
