"""What the world hands the Kafka sink's encoder, checked against librdkafka itself (a real
``Producer``, no broker needed: it refuses a message at ``produce``): whatever the encoder lets
through, ``produce`` takes; what it refuses is a dead letter, never an exception in the sink
(which stopped the flow, and again after every restart on the same input) or a crash of the
process (a header name with a lone surrogate was a segmentation fault in confluent-kafka).
And the key and headers are the text the expression language gives (``str(x)``)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from confluent_kafka import KafkaException, Producer
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compiler.sinks import _encoding
from engine.connectors.errors import Unwritable
from engine.connectors.kafka_sink import KafkaSink
from engine.operators.boundary import guard
from engine.values import to_str

LIMITS = (1000, 5000, 1_000_000)  # librdkafka takes 1000 and up
_producers: dict = {}


def _producer(limit: int) -> Producer:
    if limit not in _producers:  # nothing is ever sent: the size check is at produce()
        _producers[limit] = Producer({"bootstrap.servers": "127.0.0.1:1", "message.max.bytes": limit,
                                      "log_level": 0, "message.timeout.ms": 1000})
    return _producers[limit]


def _takes(limit: int, message) -> bool:
    topic, key, value, headers = message
    producer = _producer(limit)
    try:
        if headers is None:
            producer.produce(topic, value, key)
        else:
            producer.produce(topic, value, key, headers=headers)
    except KafkaException as exc:
        assert exc.args[0].name() == "MSG_SIZE_TOO_LARGE"
        return False
    finally:
        producer.purge()
    return True


def _sink(limit: int) -> KafkaSink:
    sink = KafkaSink("127.0.0.1:1", topic="t", settings={"message.max.bytes": limit})
    sink.encoder()
    return sink


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=4) | st.sampled_from(
    ["\ud800", "a\udfffb", "a\x00b", "\x00", "caf\u00e9", ""])
keys = st.one_of(st.none(), texts, st.binary(max_size=6), st.integers(), st.booleans(),
                 st.sampled_from(["k" * 150, "\u00e9" * 90, b"\xff" * 120]))
headers = st.one_of(st.none(), st.dictionaries(texts, st.one_of(st.none(), texts, st.integers(),
                                                                   st.binary(max_size=3), st.just("h" * 120)),
                                               max_size=3))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(LIMITS), st.integers(min_value=-60, max_value=40), keys, headers)
def test_what_the_encoder_lets_through_librdkafka_takes(limit, slack, key, heads):
    """Values sized around the limit (``slack`` bytes from it), any key, any headers: an event
    the encoders accept is produced; without headers, one they refuse for its size is one
    librdkafka refuses too (the rule is exact, not merely safe)."""
    value_size = limit + slack - len(b'{"v":""}')
    event = {"v": "x" * max(0, value_size), "_key": key}
    if heads is not None:
        event["_headers"] = heads
    sink = _sink(limit)
    outcomes = []
    for encode in (sink.encoder(), lambda e: sink.batch_encoder()([e])[0]):
        try:
            message = encode(dict(event))
        except Unwritable as exc:
            outcomes.append(str(exc))
            continue
        except UnicodeEncodeError:  # a key with a lone surrogate: a dead letter as well (the boundary)
            outcomes.append("not UTF-8")
            continue
        assert _takes(limit, message), message[:2]
        outcomes.append("ok")
    assert outcomes[0] == outcomes[1]
    if outcomes[0] != "ok" and "message.max.bytes" in outcomes[0] and not heads:
        key_bytes = b"" if key is None else key if type(key) is bytes else to_str(key).encode()
        assert not _takes(limit, ("t", key_bytes, b"x" * (len(event["v"]) + 8), None))


def test_a_message_of_exactly_the_largest_size_librdkafka_takes_is_written_and_one_byte_more_is_refused():
    limit = 1000
    encode_all = _sink(limit).batch_encoder()
    largest = next(n for n in range(limit, 0, -1) if _takes(limit, ("t", b"k", b"x" * n, None)))
    body = "x" * (largest - len(b'{"v":""}'))
    ((_, _, value, _),) = encode_all([{"v": body, "_key": "k"}])
    assert len(value) == largest
    with pytest.raises(Unwritable, match=r"1,001 bytes, over message.max.bytes \(1,000\)"):
        encode_all([{"v": body + "x", "_key": "k"}])


def test_headers_that_librdkafka_would_crash_on_or_cut_are_dead_letters_and_the_rest_is_written():
    process = guard("sink:out", _encoding(_sink(10_000)), keep_lineage=False)
    batch = [{"a": 1, "_headers": {"\ud800": "v"}}, {"a": 2, "_headers": {"a\x00b": "v"}},
             {"a": 3, "_headers": {"h": "\udc80"}}, {"a": 4, "_headers": {"ok": None, "n": 5}},
             {"a": 5, "_headers": {"big": "h" * 9_960}}]
    oks, deads = process(batch)
    assert [m[2] for m in oks] == [b'{"a":4}']
    assert oks[0][3] == [("ok", None), ("n", b"5")]
    assert [d.event["a"] for d in deads] == [1, 2, 3, 5]
    reasons = [d.error for d in deads]
    assert "not UTF-8" in reasons[0] and "NUL" in reasons[1] and "not UTF-8" in reasons[2]
    assert "message.max.bytes" in reasons[3]


@pytest.mark.parametrize("key, text", [
    (True, b"true"), ({"id": 7, "kind": "a"}, b'{"id":7,"kind":"a"}'), ([1, "x"], b'[1,"x"]'),
    (datetime(2024, 3, 1, 12, tzinfo=timezone.utc), b"2024-03-01T12:00:00+00:00"), (date(2024, 3, 1), b"2024-03-01"),
    (Decimal("12.30"), b"12.30"), (b"\xff\x00raw", b"\xff\x00raw"), (2.5, b"2.5"),
    (12345678901234567890123, b"12345678901234567890123")])
def test_a_key_or_header_is_the_text_str_gives_in_an_expression(key, text):
    """Not Python's ``str``: ``True``, ``{'id': 7, ...}``, ``2024-03-01 12:00:00+00:00`` and
    ``b'\\xff...'`` were keys no consumer could match with what the topology's ``str()`` gives."""
    sink = _sink(10_000)
    for encode in (sink.encoder(), lambda e: sink.batch_encoder()([e])[0]):
        _, got, _, _ = encode({"a": 1, "_key": key})
        assert (got.encode() if isinstance(got, str) else got) == text
        assert encode({"a": 1, "_headers": {"h": key}})[3] == [("h", text)]
