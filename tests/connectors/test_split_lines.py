"""The file source's split of a batch of lines (engine/connectors/files.py split_lines): its
one-call path for the usual batch (every line an object, no carriage return) against the
line-by-line reference: the same values at the same line numbers, whatever the lines."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.connectors.files import split_lines
from engine.records import RawBatch


def reference(lines, origin, first_line):
    batches, values, start = [], [], first_line
    for number, line in enumerate(lines, first_line):
        value = line.rstrip(b"\r\n")
        if value.strip():
            if not values:
                start = number
            values.append(value)
        elif values:
            batches.append(RawBatch(values, origin, start))
            values = []
    if values:
        batches.append(RawBatch(values, origin, start))
    return batches


_body = st.binary(max_size=12).map(lambda b: b.replace(b"\n", b""))
_line = st.one_of(_body.map(lambda b: b"{" + b), _body, st.sampled_from([b"", b" ", b"\t", b"\r", b"{", b"{\r"]))


@settings(max_examples=500, deadline=None)
@given(st.lists(_line, max_size=12), st.booleans(), st.integers(1, 10 ** 6))
@example([b'{"a":1}', b'{"b":2}'], False, 1)
@example([b'{"a":1}', b"", b'{"b":2}'], True, 7)
@example([b'{"a":1}\r', b'{"b":2}'], True, 1)
def test_the_usual_batch_splits_as_line_by_line(bodies, last_has_newline, first_line):
    lines = [body + b"\n" for body in bodies]
    if lines and not last_has_newline:
        lines[-1] = lines[-1][:-1]
    assert split_lines(lines, "in.jsonl", first_line) == reference(lines, "in.jsonl", first_line)
