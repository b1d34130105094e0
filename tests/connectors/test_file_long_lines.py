"""A file line longer than a value may be (``MAX_VALUE_BYTES``: a corrupt file, one with no line
end, a binary file) is never held whole: the file source hands it out as a ``CutLine`` (its first
bytes and its length), the decode step dead-letters it with its length and line number, and the
flow reads on from the next line; the resume offset and line numbers stay exact."""

from __future__ import annotations

import json
import pickle
import tracemalloc
from itertools import count

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors import files
from engine.connectors.files import CutLine, JsonlSource
from engine.jsontext import MAX_DEAD_TEXT, MAX_VALUE_BYTES
from engine.operators import decode as decode_module
from engine.operators.decode import Decode
from engine.runtime.runner import RunOptions
from tests.connectors.test_files_world import TOPOLOGY

MIB = 1024 * 1024
LONG = 40 * MIB + 10  # the length of the line _write_long writes
HEAD = (b'{"pad":"' + b"x" * MAX_DEAD_TEXT)[:MAX_DEAD_TEXT]  # its first bytes, as a dead letter keeps them


def _write_long(path, before: bytes, after: bytes) -> None:
    """``before``, a line of 40 MiB (a JSON object), ``after``: written a MiB at a time."""
    with open(path, "wb") as out:
        out.write(before + b'{"pad":"')
        for _ in range(40):
            out.write(b"x" * MIB)
        out.write(b'"}' + after)


def _reader(path, batch_size=1000, state=None):
    return JsonlSource(str(path), batch_size=batch_size).build_part("in", str(path), state)


def _batches(reader, calls=None):
    """The batches of ``calls`` calls of the reader, or of all until the end (then it is closed)."""
    out = []
    try:
        for _ in count() if calls is None else range(calls):
            out += reader.next_batch()
    except StopIteration:
        reader.close()
    return out


def _decoded(batches, format="json"):
    """(events, [(origin, reason, text)]) of the batches through the decode step."""
    step = Decode("in", format=format)
    events, deads = [], []
    for raw in batches:
        oks, dead = step.process(raw)
        events += oks
        deads += [(d.origin, d.error, d.event) for d in dead]
    return events, deads


@pytest.fixture
def small_limit(monkeypatch):
    """Values of at most 100 bytes, read 16 bytes at a time: long lines without big files."""
    monkeypatch.setattr(files, "MAX_VALUE_BYTES", 100)
    monkeypatch.setattr(decode_module, "MAX_VALUE_BYTES", 100)
    monkeypatch.setattr(files, "BLOCK", 16)
    return 100


def test_a_40_mib_line_is_a_dead_letter_with_its_length_and_is_never_held_whole(tmp_path):
    path = tmp_path / "in.jsonl"
    _write_long(path, b'{"n":1}\n', b'\r\n{"n":3}\n')
    tracemalloc.start()
    try:
        batches = _batches(_reader(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * MIB  # the line's first 16 MiB at most, until it is known too long
    cut = [v for b in batches for v in b.values if type(v) is CutLine]
    assert [(len(v), bytes(v)) for v in cut] == [(LONG, HEAD)]
    events, deads = _decoded(batches)
    assert events == [{"n": 1}, {"n": 3}]
    [(origin, reason, text)] = deads
    assert origin == f"{path}:2"
    assert reason == f"a value of {LONG} bytes, more than the 16 MiB a value may have"
    assert text == HEAD.decode() + f"... [cut: {LONG} bytes in all, the first 65536 kept]"


def test_a_long_last_line_without_a_line_end(tmp_path, small_limit):
    path = tmp_path / "in.jsonl"
    line = b"y" * (MAX_DEAD_TEXT + 5000)
    path.write_bytes(b'{"n":1}\n' + line)
    reader = _reader(path)
    batches = _batches(reader)
    [cut] = [v for b in batches for v in b.values if type(v) is CutLine]
    assert (len(cut), bytes(cut)) == (len(line), line[:MAX_DEAD_TEXT])
    assert reader.snapshot()[:2] == (8 + len(line), 3)
    events, [(origin, reason, _)] = _decoded(batches, "string")
    assert events == [{"value": '{"n":1}'}] and origin == f"{path}:2"
    assert reason.startswith(f"a value of {len(line)} bytes, more than")


def test_a_long_line_across_a_batch_boundary(tmp_path, small_limit):
    path = tmp_path / "in.jsonl"
    line = b"z" * (MAX_DEAD_TEXT + 1)
    path.write_bytes(b'{"n":1}\n{"n":2}\n' + line + b'\n{"n":4}\n\n{"n":6}\n')
    batches = _batches(_reader(path, batch_size=2))
    assert [[len(v) if type(v) is CutLine else v.rstrip(b"\r\n") for v in b.values] for b in batches] == \
        [[b'{"n":1}', b'{"n":2}'], [len(line), b'{"n":4}'], [b'{"n":6}']]
    assert [b.first_offset for b in batches] == [1, 3, 6]
    events, deads = _decoded(batches)
    assert events == [{"n": 1}, {"n": 2}, {"n": 4}, {"n": 6}]
    assert [(origin, reason.split(",")[0]) for origin, reason, _ in deads] == \
        [(f"{path}:3", f"a value of {len(line)} bytes")]


def test_a_snapshot_after_a_long_line_resumes_at_the_next_line(tmp_path, small_limit):
    path = tmp_path / "in.jsonl"
    line = b"w" * (MAX_DEAD_TEXT + 7)
    path.write_bytes(b'{"n":1}\n' + line + b'\r\n{"n":3}\n{"n":4}')
    reader = _reader(path, batch_size=2)
    first = _batches(reader, 1)
    assert [type(v) for b in first for v in b.values] == [bytes, CutLine]
    state = reader.snapshot()
    reader.close()
    assert state[:2] == (8 + len(line) + 2, 3)
    rest = _batches(_reader(path, batch_size=2, state=state))
    assert [(b.first_offset, b.values) for b in rest] == [(3, [b'{"n":3}\n', b'{"n":4}'])]


def test_a_cut_line_is_a_dead_letter_even_when_its_first_bytes_parse(small_limit):
    """orjson reads no bytes subclass, so the batch's fast path refuses a CutLine; its first
    bytes may well be an object followed by white space."""
    cut = CutLine(b'{"a":1}' + b" " * 50, 5000)
    assert pickle.loads(pickle.dumps(cut)) == cut and len(pickle.loads(pickle.dumps(cut))) == 5000
    for values in ([b'{"n":1}\n', cut, b'{"n":3}\n'], [cut], [cut, b"\n"]):
        for format in ("json", "string", "bytes"):
            batch = files.split_lines(values, "in.jsonl", 1)
            events, deads = _decoded(batch, format)
            assert len(events) == len([v for v in values if v.strip()]) - 1
            assert [(origin, reason.split(",")[0]) for origin, reason, _ in deads] == \
                [(f"in.jsonl:{values.index(cut) + 1}", "a value of 5000 bytes")]
    blank_looking = CutLine(b" " * 20, 300)  # its first bytes are white space: the rest may not be
    assert [(b.values, b.first_offset) for b in files.split_lines([blank_looking], "in.jsonl", 1)] == \
        [([blank_looking], 1)]


# A file of lines some longer than the limit (runs of a few characters, so long lines cost
# little), blank lines, \n or \r\n line ends, a last line with or without its line end
chars = st.sampled_from([b"x", b" ", b"\t", b"{", b"\xc3\xa9", b"\xff"])
bodies = st.lists(st.tuples(chars, st.integers(0, 90)), max_size=3).map(lambda runs: b"".join(c * n for c, n in runs))
lines = st.lists(st.tuples(bodies, st.sampled_from([b"\n", b"\r\n"])), max_size=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=lines, last_end=st.booleans(), limit=st.integers(1, 120), block=st.integers(1, 130),
       batch_size=st.integers(1, 5), resumes=st.lists(st.booleans(), max_size=40))
def test_values_and_dead_letters_are_the_lines_once_with_their_numbers(tmp_path_factory, lines, last_end, limit, block,
                                                                      batch_size, resumes):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, "MAX_VALUE_BYTES", limit)
        patch.setattr(decode_module, "MAX_VALUE_BYTES", limit)
        patch.setattr(files, "BLOCK", block)
        data = b"".join(body + end for body, end in lines)
        if lines and not last_end:
            data = data[:-len(lines[-1][1])]
        path = tmp_path_factory.mktemp("f") / "in.jsonl"
        path.write_bytes(data)
        got_events, got_deads, cuts = [], [], []
        reader = _reader(path, batch_size)
        resumes = iter(resumes)
        while True:
            try:
                batches = reader.next_batch()
            except StopIteration:
                reader.close()
                break
            cuts += [v for b in batches for v in b.values if type(v) is CutLine]
            assert all(len(bytes(v)) <= limit + 2 for b in batches for v in b.values if type(v) is not CutLine)
            for raw in batches:
                events, deads = Decode("in", format="string").process(raw)
                got_events += [(e["value"], raw.position(row)) for e, row in zip(events, events.rows, strict=True)]
                got_deads += [(d.origin, d.error.split(",")[0], d.event) for d in deads]
            if next(resumes, False):  # a restart from the snapshot
                state = reader.snapshot()
                reader.close()
                reader = _reader(path, batch_size, state)
    want_events, want_deads = [], []
    for number, line in enumerate(data.split(b"\n") if data else [], 1):
        if number == len(data.split(b"\n")) and not line:
            break  # the file ended with a line end
        body = line.removesuffix(b"\r")
        if len(body) > limit:
            want_deads.append((f"{path}:{number}", f"a value of {len(body)} bytes", body.decode("utf-8", "replace")))
        elif body.strip():
            want_events.append((body.decode("utf-8", "replace"), f"{path}:{number}"))
    assert (got_events, got_deads) == (want_events, want_deads)
    assert [len(v) for v in cuts] == [int(reason.split()[3]) for _, reason, _ in want_deads]  # each cut, none other


def test_a_flow_reads_on_past_a_40_mib_line_and_its_restart_reads_nothing_again(flow):
    _write_long(flow.dir / "in.jsonl", b'{"n":1}\n{"n":2}\n', b'\n{"n":4}\n')
    store = RunOptions(recovery_directory=str(flow.dir / "store"))
    tracemalloc.start()
    try:
        flow.run(TOPOLOGY, store, name="in.jsonl", batch=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 30 * MIB  # the whole line would be 40 MiB, and a copy of it more
    flow.run(TOPOLOGY, store, name="in.jsonl", batch=2)  # restarted: nothing read again
    with open(flow.dir / "in.jsonl", "ab") as more:
        more.write(b'{"n":5}\n')
    outcome = flow.run(TOPOLOGY, store, name="in.jsonl", batch=2)
    assert [e["n"] for e in outcome.rows("out")] == [1, 2, 4, 5]
    [dead] = outcome.dead
    assert (dead["origin"], dead["step"]) == (f"{flow.dir}/in.jsonl:3", "in")
    assert dead["error"] == f"a value of {LONG} bytes, more than the 16 MiB a value may have"
    assert dead["event"] == HEAD.decode() + f"... [cut: {LONG} bytes in all, the first 65536 kept]"
    assert len(json.dumps(dead)) < MAX_DEAD_TEXT + 1000 and MAX_VALUE_BYTES == 16 * MIB
