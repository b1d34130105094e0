"""Decode's fast paths against its value-by-value path, on adversarial batches: Kafka Connect
envelopes (sharing a remembered schema or not, broken) and plain objects mixed in any order,
numbers beyond 64 bits, deep values."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.connectors.files import LineBatch
from engine.jsontext import MAX_DEPTH
from engine.operators.decode import Decode
from engine.records import RawBatch

SCHEMA = b'{"type":"struct","name":"' + b"n" * 300 + b'"}'
ENVELOPE = b'{"schema":' + SCHEMA + b',"payload":%s}'
OTHER_SCHEMA = b'{"type":"struct","name":"' + b"m" * 300 + b',"d":12345678901234567.5"}'
payloads = st.sampled_from([b'{"op":"c","after":{"id":1}}', b'{"n":123456789012345678901234}', b"null", b"[1,2]",
                            b'{"d":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}", b'{"x":1.25}',
                            b'{"f":0.12345678901234567}', b'{"x":1} ', b'{"x":'])
values = st.one_of(
    payloads.map(lambda p: ENVELOPE % p),
    payloads.map(lambda p: b'{"schema":' + OTHER_SCHEMA + b',"payload":' + p + b"}"),
    payloads,  # plain values, some not objects
    st.sampled_from([b'{"schema": 5, "payload": 6}', b'{"schema":{"a":1},"payload":{"b":2},"x":3}',
                     b' {"schema":' + SCHEMA + b',"payload":{}}', b'{"a":"{\\"schema\\":"}']),
)


def kafka(values, first=100):
    return RawBatch(list(values), "t[0]", offsets=list(range(first, first + len(values))))


def decoder():
    decode = Decode("src")
    decode.process(kafka([ENVELOPE % b"{}"]))  # the schema is remembered from now on
    return decode


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(values, min_size=1, max_size=10), st.sampled_from(["kafka", "file", "lines", "crlf"]))
def test_a_batch_decodes_as_its_values_do_one_at_a_time(batch, source):
    def raw(values, first):
        if source in ("lines", "crlf"):  # a file's lines as read, with their line ends (and the last without)
            end = b"\n" if source == "lines" else b"\r\n"
            return LineBatch([v + end for v in values[:-1]] + [values[-1] + (end if first % 2 else b"")],
                             "in.jsonl", first_offset=first)
        return RawBatch(list(values), "in.jsonl", first_offset=first) if source == "file" else kafka(values, first)

    events, deads = decoder().process(raw(batch, 1))
    alone = [decoder().process(raw([value], 1 + i)) for i, value in enumerate(batch)]
    expected = [e for one, _ in alone for e in one]
    assert events == expected
    assert json.dumps(events, default=str) == json.dumps(expected, default=str)  # ints stay ints
    assert [(d.origin, d.error, d.event) for d in deads] == \
        [(d.origin, d.error, d.event) for _, ds in alone for d in ds]
    assert [events.root.raw.position(r) for r in events.rows] == \
        [one.root.raw.position(one.rows[0]) for one, _ in alone if one]


def test_a_batch_of_envelopes_is_decoded_without_a_copy_of_its_text():
    """Debezium's envelopes carry their schema inline (~1-2 MB per batch): joining the batch's
    values, a block malloc maps afresh, cost page faults at every batch. Only the payloads'
    text may be put together (the number check)."""
    import tracemalloc

    big = b'{"type":"struct","name":"' + b"s" * 20_000 + b'"}'
    batch = [b'{"schema":' + big + b',"payload":{"op":"c","after":{"id":%d}}}' % i for i in range(100)]
    decode = Decode("src")
    decode.process(kafka(batch[:1]))  # the schema is remembered from now on
    tracemalloc.start()
    try:
        events, deads = decode.process(kafka(batch))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not deads and [e["payload"]["after"]["id"] for e in events] == list(range(100))
    assert peak < sum(map(len, batch)) // 4, peak  # the batch's text is 2 MB; its payloads ~3 KB
