"""The Kafka sink's batch encoder (one loop per batch, the short way for an event whose only
envelope field is ``_key``) gives the messages of the per-event encoder, and refuses the same
events: checked on adversarial events, without a broker."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.compiler.sinks import _encoding
from engine.connectors.errors import Unwritable
from engine.connectors.kafka_sink import KafkaSink
from engine.operators.boundary import guard


class Text(str):
    pass


keys = st.one_of(
    st.none(), st.just(""), st.text(max_size=8), st.text(alphabet=st.characters(min_codepoint=0xD800,
                                                                                max_codepoint=0xDFFF), max_size=2),
    st.text(max_size=3).map(Text), st.integers(), st.floats(allow_nan=True), st.booleans(), st.just(b"raw"),
    st.text(min_size=1, max_size=3).map(lambda t: t * 400))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
              st.floats(allow_nan=False), st.text(max_size=6), st.text(max_size=2).map(lambda t: "\ud800" + t),
              st.sampled_from([Decimal("12.30"), Decimal("NaN"), Decimal("-Infinity"), Decimal("1E+3")]),
              st.binary(max_size=4)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)
envelopes = st.fixed_dictionaries({}, optional={
    "_key": keys, "_topic": st.sampled_from(["t", "", None, 3]),
    "_headers": st.one_of(st.none(), st.just({}), st.dictionaries(st.text(max_size=3), st.one_of(
        st.none(), st.text(max_size=3), st.integers()), max_size=2), st.just([1])),
    "_meta": st.just({"topic": "s", "partition": 0, "offset": 1})})
events = st.builds(lambda body, envelope: {**body, **envelope},
                   st.dictionaries(st.text(max_size=5), values, max_size=4), envelopes)


def _normal(message):
    topic, key, value, headers = message
    return topic, key.encode() if isinstance(key, str) else key, value, headers


def _outcome(call):
    try:
        return "ok", call()
    except Exception as exc:  # noqa: BLE001 - the kind of refusal is what is compared
        return "refused", Unwritable if isinstance(exc, Unwritable) else type(exc)


def _sink(topic="t", max_bytes=300) -> KafkaSink:
    sink = KafkaSink("127.0.0.1:1", topic=topic, settings={"message.max.bytes": max_bytes})
    sink.encoder()  # built once: TopicCheck(topic) knows its own topic; another would ask the broker
    return sink


@settings(max_examples=400, deadline=None)
@given(st.lists(events, max_size=6), st.sampled_from(["t", None]))
def test_the_batch_encoder_gives_what_the_event_encoder_gives(batch, topic):
    sink = _sink(topic)
    batch = [e for e in batch if e.get("_topic") in (None, "", "t", 3)]  # no other topic: it would be looked up
    encode, encode_all = sink.encoder(), sink.batch_encoder()
    for event in batch:
        before = dict(event)
        one = _outcome(lambda e=event: encode(e))
        many = _outcome(lambda e=event: encode_all([e]))
        assert event == before and list(event) == list(before)  # neither changes the event
        if one[0] == "ok":
            assert many[0] == "ok" and [_normal(m) for m in many[1]] == [_normal(one[1])]
            key = many[1][0][1]
            assert key is None or isinstance(key, bytes) or key.isascii()  # text keys only when ASCII
        else:
            assert many == one
    whole = _outcome(lambda: encode_all(batch))
    singles = [_outcome(lambda e=event: encode(e)) for event in batch]
    if all(kind == "ok" for kind, _ in singles):
        assert whole[0] == "ok" and [_normal(m) for m in whole[1]] == [_normal(m) for _, m in singles]
    else:
        assert whole[0] == "refused"


def test_in_the_flow_a_refused_event_is_a_dead_letter_and_the_rest_is_written():
    """The encode step as the compiler wires it: the batch encoder inside the error boundary."""
    process = guard("sink:out", _encoding(_sink(max_bytes=200)), keep_lineage=False)
    batch = [{"a": 1, "_key": "k1"}, {"a": "x" * 500, "_key": "k2"}, {"a": Decimal("2.50"), "_key": 7},
             {"b": None}, {"a": 1, "_key": "\udc80"}, {"a": 1, "_key": "", "_headers": {"h": "v"}}]
    oks, deads = process(batch)
    assert [_normal(m) for m in oks] == [("t", b"k1", b'{"a":1}', None), ("t", b"7", b'{"a":2.50}', None),
                                         ("t", None, b'{"b":null}', None), ("t", b"", b'{"a":1}', [("h", b"v")])]
    assert [d.event for d in deads] == [batch[1], batch[4]]
    assert "message.max.bytes" in deads[0].error
    assert batch[0] == {"a": 1, "_key": "k1"}  # the events are left as they came


@pytest.mark.parametrize("key", ["", "k", "x" * 1000])
def test_an_ascii_text_key_counts_its_length_against_the_limit(key):
    encode_all = _sink(max_bytes=1010).batch_encoder()
    value = b'{"a":1}'
    if len(value) + len(key) + 36 > 1010:  # librdkafka counts 36 bytes more (test_kafka_sink_world_values.py)
        with pytest.raises(Unwritable):
            encode_all([{"a": 1, "_key": key}])
    else:
        assert encode_all([{"a": 1, "_key": key}]) == [("t", key, value, None)]


class Number(Decimal):
    pass


shared = st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True), st.sampled_from([Decimal("12.30"), Decimal("-0E-3"),
                                                                       Number("1.5"), Decimal("sNaN")]),
    st.integers(), st.text(max_size=3), st.none(), st.lists(st.decimals(allow_nan=False), max_size=2),
    st.dictionaries(st.just("c"), st.decimals(allow_nan=False), max_size=1)), max_size=2)
keyed = st.builds(lambda body, key: {**body, **key}, shared, st.one_of(st.just({}), st.just({"_key": "k"}),
                                                                       st.just({"_key": 5})))


@settings(max_examples=400, deadline=None)
@given(st.lists(keyed, min_size=1, max_size=6))
def test_decimals_in_shared_fields_give_the_same_messages(batch):
    """Events of one batch sharing fields that hold Decimals or not (NaN, a subclass, nested):
    the same bytes as the per-event encoder, and the events are left as they came."""
    sink = _sink(max_bytes=10_000)
    encode, encode_all = sink.encoder(), sink.batch_encoder()
    before = [(dict(e), list(e.values())) for e in batch]
    whole = _outcome(lambda: encode_all(batch))
    assert [(dict(e), list(e.values())) for e in batch] == before
    singles = [_outcome(lambda e=event: encode(e)) for event in batch]
    if all(kind == "ok" for kind, _ in singles):
        assert whole[0] == "ok" and [_normal(m) for m in whole[1]] == [_normal(m) for _, m in singles]
    else:
        assert whole[0] == "refused"
