"""Decode (issue 11): every raw value is an event or a dead letter with its position and a
reason, never an exception, never silently changed. Hand-written cases, then Hypothesis."""

import json
import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.jsontext import MAX_DEAD_TEXT, MAX_DEPTH, dead_text
from engine.operators.decode import MAX_VALUE_BYTES, Decode
from engine.records import RawBatch


def kafka(*values):
    """A batch as the Kafka source makes it: positions are offsets, tombstones are None."""
    return RawBatch(list(values), "t[0]", offsets=list(range(100, 100 + len(values))))


def lines(*values):
    """A batch as the file source makes it: positions are line numbers."""
    return RawBatch(list(values), "in.jsonl", first_offset=1)


def run(raw):
    events, deads = Decode("src").process(raw)
    return events, [(d.origin, d.error) for d in deads], deads


def nested(depth, inner=b"1"):
    return b"[" * depth + inner + b"]" * depth


def nested_objects(depth):
    return b'{"a":' * depth + b"1" + b"}" * depth


# --- null and tombstones -------------------------------------------------------------------

def test_a_kafka_value_null_is_dead_lettered_and_a_tombstone_skipped():
    events, deads, letters = run(kafka(b'{"a":1}', b"null", None, b' null ', b'{"a":2}'))
    assert events == [{"a": 1}, {"a": 2}]
    assert deads == [("t[0]@101", "expected a JSON object, got null"), ("t[0]@103", "expected a JSON object, got null")]
    assert letters[0].event == "null" and letters[0].step == "src"


def test_a_null_line_in_a_file_is_a_tombstone_as_the_simulator_writes_them():
    assert run(lines(b'{"a":1}', b"null", b'{"a":2}'))[:2] == ([{"a": 1}, {"a": 2}], [])
    events, deads, _ = run(lines(b"null", b"[1]"))  # the slow path skips it too
    assert events == [] and deads == [("in.jsonl:2", "expected a JSON object, got an array")]


@pytest.mark.parametrize("value,kind", [
    (b"[1, 2]", "an array"), (b'"text"', "a string"), (b"42", "a number"), (b"-1.5e300", "a number"),
    (b"true", "a boolean"), (b"12345678901234567890123456789", "a number"),
])
def test_json_that_is_not_an_object_says_what_it_is(value, kind):
    assert run(kafka(value))[1] == [("t[0]@100", f"expected a JSON object, got {kind}")]


# --- malformed text ------------------------------------------------------------------------

@pytest.mark.parametrize("value,reason", [
    (b'{"v": NaN}', "malformed JSON: NaN is not a JSON number (line 1 column 7)"),
    (b'{"v": Infinity}', "malformed JSON: Infinity is not a JSON number"),
    (b'{"v": [1, -Infinity]}', "malformed JSON: -Infinity is not a JSON number"),
    (b'{"v": 1e400}', "malformed JSON: a number beyond the double range"),
    (b'{"v": ' + b"9" * 400 + b"}", "malformed JSON: a number beyond the double range"),
    (b'{"a": ', "malformed JSON: "),
    (b'{"a": 1}{"b": 2}', "malformed JSON: "),
    (b'\xef\xbb\xbf{"a": 1}', "malformed JSON: "),  # a byte order mark
    (b'{"s": "\xff\xfe"}', "malformed JSON: "),     # not UTF-8
    (b'{"s": "\\ud800"}', "malformed JSON: "),       # a lone surrogate: no sink could write it
    (b"", "malformed JSON: "),
])
def test_text_that_is_not_json_is_dead_lettered_with_the_reason(value, reason):
    events, deads, letters = run(kafka(b'{"ok": 1}', value))
    assert events == [{"ok": 1}]
    assert len(deads) == 1 and deads[0][0] == "t[0]@101" and deads[0][1].startswith(reason), deads
    assert letters[0].event == value.decode("utf-8", "replace")


# --- numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    '{"id": 1234567890123456789012345}',                 # 25 digits: orjson alone makes a float of it
    '{"id": -9223372036854775809}',                      # one below int64
    '{"id": 18446744073709551616}',                      # one above uint64
    '{"a": [1, 2, 123456789012345678901234567890]}',     # an array item
    '{"a": {"b": [{"c": -99999999999999999999}]}}',      # deep inside
    '{"id" :  \t 99999999999999999999999}',              # white space after the colon
    '{"n": ' + "7" * 300 + "}",                          # 300 digits: still within a double's range
])
def test_integers_beyond_64_bits_are_exact_on_both_paths(text):
    expected = json.loads(text)
    assert run(kafka(text.encode()))[0] == [expected]                      # a clean batch: fast path
    events, deads, _ = run(kafka(b"{broken", text.encode()))               # one value at a time
    assert events == [expected] and len(deads) == 1
    assert json.dumps(events[0]) == json.dumps(expected)  # ints stay ints, every digit


def test_numbers_that_fit_stay_what_orjson_reads():
    text = b'{"ts_ns": 1709528524584811000, "u": 18446744073709551615, "f": 1e19, "g": 0.1, "n": -5}'
    events = run(kafka(text))[0]
    assert events == [orjson.loads(text)] and type(events[0]["f"]) is float and type(events[0]["u"]) is int


# --- nesting -------------------------------------------------------------------------------

@pytest.mark.parametrize("depth,ok", [(MAX_DEPTH - 1, True), (MAX_DEPTH, False), (254, False), (1000, False),
                                      (1023, False), (5000, False)])
def test_nesting_beyond_the_limit_is_dead_lettered_at_decode(depth, ok):
    for value in (b'{"d":' + nested(depth) + b"}", b'{"d":' + nested_objects(depth) + b"}"):
        events, deads, _ = run(kafka(value))
        if ok:  # the event is the object plus depth levels: MAX_DEPTH in all
            assert len(events) == 1 and deads == []
        else:
            assert events == [] and deads == [("t[0]@100", f"nested deeper than {MAX_DEPTH} levels")]


def test_a_deep_value_among_clean_ones_is_found_and_the_others_kept():
    good = [b'{"i": %d, "x": [[1]]}' % i for i in range(50)]
    events, deads, _ = run(kafka(*good[:20], b'{"d":' + nested(300) + b"}", *good[20:]))
    assert [e["i"] for e in events] == list(range(50)) and deads == [("t[0]@120", "nested deeper than 128 levels")]


def test_a_deep_schema_is_not_shared_and_its_messages_are_dead_letters():
    schema = b'{"type":"struct","doc":"' + b"x" * 300 + b'","deep":' + nested(MAX_DEPTH) + b"}"
    message = b'{"schema":' + schema + b',"payload":{"op":"c"}}'
    decode = Decode("src")
    for _ in range(3):
        events, deads = decode.process(kafka(message, message))
        assert events == [] and [d.error for d in deads] == ["nested deeper than 128 levels"] * 2
    assert decode._decoder._known == []


def test_a_deep_payload_under_a_shared_schema_is_dead_lettered():
    schema = b'{"type":"struct","name":"' + b"n" * 300 + b'"}'
    good = b'{"schema":' + schema + b',"payload":{"op":"c","after":{"id":1}}}'
    deep = b'{"schema":' + schema + b',"payload":{"op":"c","after":' + nested_objects(MAX_DEPTH - 1) + b"}}"  # 2 + 127 levels
    decode = Decode("src")
    decode.process(kafka(good))  # learns the schema
    events, deads = decode.process(kafka(good, deep, good))
    assert len(events) == 2 and [d.error for d in deads] == ["nested deeper than 128 levels"]
    assert events[0]["schema"] is events[1]["schema"]  # still shared


# --- size ----------------------------------------------------------------------------------

def test_a_huge_value_is_dead_lettered_unread_and_its_dead_letter_is_capped():
    huge = b'{"pad": "' + b"x" * (MAX_VALUE_BYTES + 10) + b'"}'
    events, deads, letters = run(kafka(b'{"a": 1}', huge))
    assert events == [{"a": 1}]
    assert deads == [("t[0]@101", f"a value of {len(huge)} bytes, more than the 16 MiB a value may have")]
    text = letters[0].event
    assert text.startswith('{"pad": "xxx') and len(text) < MAX_DEAD_TEXT + 100
    assert text.endswith(f"[cut: {len(huge)} bytes in all, the first {MAX_DEAD_TEXT} kept]")


def test_a_50_mb_garbage_line_costs_a_small_dead_letter():
    garbage = b"\x00garbage" * (50 * 1024 * 1024 // 8)
    events, deads, letters = run(lines(garbage))
    assert events == [] and len(letters) == 1 and len(letters[0].event) < MAX_DEAD_TEXT + 100
    assert f"{len(garbage)} bytes in all" in letters[0].event


def test_garbage_under_the_size_limit_is_capped_too():
    garbage = b"{" + b"\xff" * 200_000
    letter = run(kafka(garbage))[2][0]
    assert letter.error.startswith("malformed JSON") and len(letter.event) < MAX_DEAD_TEXT + 100


def test_string_format_also_bounds_values():
    decode = Decode("src", format="string")
    huge = b"x" * (MAX_VALUE_BYTES + 1)
    events, deads = decode.process(kafka(b"plain", None, huge))
    assert events == [{"value": "plain"}] and [d.origin for d in deads] == ["t[0]@102"]


# --- metadata ------------------------------------------------------------------------------

def test_metadata_goes_on_every_event_on_both_paths():
    meta = [{"offset": i} for i in range(3)]
    clean = RawBatch([b'{"a":1}', b'{"a":2}', b'{"a":3}'], "t[0]", offsets=[0, 1, 2], meta=meta)
    assert [e["_meta"]["offset"] for e in Decode("s").process(clean)[0]] == [0, 1, 2]
    dirty = RawBatch([b'{"a":1}', b"null", b'{"a":3}'], "t[0]", offsets=[0, 1, 2], meta=meta)
    events, deads = Decode("s").process(dirty)
    assert [e["_meta"]["offset"] for e in events] == [0, 2] and [d.origin for d in deads] == ["t[0]@1"]


# --- properties ----------------------------------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-10 ** 60, max_value=10 ** 60)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
                      max_leaves=12)
objects = st.dictionaries(st.text(max_size=4), values, max_size=5)


def _mutations(text: bytes):
    cut = st.integers(min_value=0, max_value=max(len(text), 1))
    return st.one_of(
        st.just(text),
        cut.map(lambda i: text[:i]),                                       # truncated
        st.tuples(cut, st.binary(min_size=1, max_size=4)).map(lambda p: text[:p[0]] + p[1] + text[p[0]:]),  # junk
        st.integers(min_value=1, max_value=1100).map(lambda d: b'{"d":' + nested(d) + b"}"),
        st.integers(min_value=1, max_value=400).map(lambda n: b'{"n":' + b"9" * n + b"}"),
        st.sampled_from([b"null", b"[]", b'"x"', b"1", b'{"v":NaN}', b'{"v":-Infinity}', b"", b" "]),
        st.none(),                                                         # a tombstone
    )


raw_values = objects.map(lambda o: json.dumps(o).encode()).flatmap(_mutations)


def _finite(text: str, kind):
    if math.isinf(float(text)):  # beyond the double range: refused, documented
        raise ValueError(text)
    return kind(text)


def _exact_or_float(text: str):
    """The documented rule: a fraction stays a double when the double is exactly its number,
    else it is that Decimal (docs/connectors.md, Decoding)."""
    from decimal import Decimal

    number = _finite(text, float)
    return number if Decimal(repr(number)) == Decimal(text) else Decimal(text)


def _reference(value: bytes):
    """What decode must make of a value under the documented rules, read by the standard
    library: the exact JSON object, or None (a dead letter)."""
    try:
        parsed = json.loads(value, parse_constant=lambda word: 1 / 0, parse_int=lambda t: _finite(t, int),
                            parse_float=_exact_or_float)
        json.dumps(parsed, ensure_ascii=False, default=str).encode("utf-8")  # a lone surrogate (\ud800) is not UTF-8
    except (ValueError, ZeroDivisionError, RecursionError):
        return None
    return parsed if type(parsed) is dict else None


def _depth(value) -> int:
    """Levels of nesting ({"a": [1]} is 2), without recursion."""
    depth, level = 0, [value]
    while True:
        level = [v for v in level if isinstance(v, (dict, list))]
        if not level:
            return depth
        depth += 1
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_values, min_size=1, max_size=8))
def test_every_value_is_an_exact_event_or_a_dead_letter_with_its_text(batch):
    raw = kafka(*batch)
    events, deads = Decode("src").process(raw)  # never raises
    present = [i for i, v in enumerate(batch) if v is not None]
    assert len(events) + len(deads) == len(present)  # in = out + dead, tombstones aside
    dead_at = {int(d.origin.rsplit("@", 1)[1]) - 100: d for d in deads}
    kept = iter(events)
    for index in present:
        value = batch[index]
        if index in dead_at:
            assert dead_at[index].event == dead_text(value) and dead_at[index].error
            assert dead_at[index].step == "src"
        else:
            event = next(kept)
            assert type(event) is dict and event == _reference(value)  # exactly what the json module reads
            assert json.dumps(event, default=str) == json.dumps(_reference(value), default=str)  # ints stay ints
            assert _depth(event) <= MAX_DEPTH
    for index, letter in dead_at.items():  # a dead letter only for what the rules refuse
        reference = _reference(batch[index])
        assert reference is None or _depth(reference) > MAX_DEPTH, (batch[index][:80], letter.error)


@settings(max_examples=100, deadline=None)
@given(st.lists(objects, min_size=1, max_size=10), st.data())
def test_clean_batches_and_the_same_values_one_by_one_agree(batch, data):
    texts = [json.dumps(o, separators=(",", ":") if data.draw(st.booleans()) else None).encode() for o in batch
             if _reference(json.dumps(o).encode()) is not None] or [b"{}"]
    together = Decode("s").process(kafka(*texts))
    alone = [Decode("s").process(kafka(t)) for t in texts]
    assert together[1] == [] and together[0] == [events[0] for events, _ in alone]


def test_a_batch_mixing_shared_envelopes_and_plain_objects_decodes_each_exactly():
    schema = b'{"type":"struct","name":"' + b"n" * 300 + b'"}'
    envelope = b'{"schema":' + schema + b',"payload":{"op":"c","after":{"id":%d}}}'
    decode = Decode("src")
    decode.process(kafka(envelope % 0))  # the schema is remembered from now on
    batch = [envelope % 1, b'{"plain": [1, {"x": 2}]}', envelope % 2, b'{"schema": 5, "payload": 6}', envelope % 3]
    events, deads = decode.process(kafka(*batch))
    assert deads == [] and events == [json.loads(v) for v in batch]
    assert events[0]["schema"] is events[2]["schema"] is events[4]["schema"]
    big = envelope.replace(b'"id":%d', b'"id":%d,"n":123456789012345678901234') % 4
    deep = envelope.replace(b'"id":%d', b'"id":%d,"d":' + nested(MAX_DEPTH - 2)) % 5
    events, deads = decode.process(kafka(*batch, big, deep))
    assert [d.origin for d in deads] == ["t[0]@106"] and events[-1] == json.loads(big)
    assert events[-1]["payload"]["after"]["n"] == 123456789012345678901234


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(raw_values.filter(lambda v: v is not None), min_size=1, max_size=12), st.booleans())
def test_a_batch_with_bad_values_decodes_as_its_values_do_one_at_a_time(batch, in_file):
    """The dirty-batch path (parse each, check the objects together) against each value alone."""
    def raw(values, first):
        if in_file:
            return RawBatch(list(values), "in.jsonl", first_offset=first)
        return RawBatch(list(values), "t[0]", offsets=list(range(first, first + len(values))))

    events, deads = Decode("src").process(raw(batch, 1))
    alone = [Decode("src").process(raw([value], 1 + i)) for i, value in enumerate(batch)]
    assert events == [e for one, _ in alone for e in one]
    assert [(d.origin, d.error, d.event) for d in deads] == [(d.origin, d.error, d.event) for _, ds in alone for d in ds]


@settings(max_examples=300, deadline=None)
@given(st.integers(-10 ** 30, 10 ** 30), st.integers(0, 25), st.booleans())
def test_every_number_is_read_exactly_and_written_back_with_the_same_value(unscaled, places, in_list):
    """A fraction a double cannot hold (a 20-digit jsonb decimal) is a Decimal, a fraction a
    double holds exactly stays a float: the value written out is the value read in."""
    from decimal import Decimal

    from engine.connectors.jsonl import encode_value

    literal = str(Decimal(unscaled).scaleb(-places)) if places else str(unscaled)
    if "E" in literal:
        literal = format(Decimal(literal), "f")
    value = b'{"n": ' + (b"[" + literal.encode() + b"]" if in_list else literal.encode()) + b"}"
    events, deads = Decode("src").process(kafka(value))
    assert not deads, deads[0].error
    read = events[0]["n"][0] if in_list else events[0]["n"]
    number = Decimal(repr(read)) if isinstance(read, float) else Decimal(read)
    assert number == Decimal(literal)
    assert json.loads(encode_value(read), parse_float=Decimal) == Decimal(literal)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b'{"a":1}', b"null", b'{"b":[1,{"c":null}]}', b" null ", b"{}"]), min_size=1,
                max_size=12))
def test_a_file_batch_of_objects_and_null_lines_decodes_as_its_lines_do_one_at_a_time(lines):
    """The clean path's type test (objects, or objects and a file's null tombstones) against each
    line alone: the same events, no dead letter, each event traced to its own line."""
    events, deads = Decode("src").process(RawBatch(list(lines), "in.jsonl", first_offset=1))
    alone = [Decode("src").process(RawBatch([line], "in.jsonl", first_offset=1 + i)) for i, line in enumerate(lines)]
    assert deads == [] and events == [e for one, _ in alone for e in one]
    rows = [i for i, line in enumerate(lines) if line.strip() != b"null"]
    assert [events.root.raw.position(r) for r in events.rows] == [f"in.jsonl:{1 + r}" for r in rows]
