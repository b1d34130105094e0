"""What the world sends a Kafka source, as ``metadata: true`` shows it (``_meta``): any 64-bit
timestamp (Kafka takes any from a producer: -1 is "none", year 10000 and later are accepted),
keys and header values that are not UTF-8, header values that are null, names given twice.
Nothing of it may raise: a message the source cannot describe stopped the flow at that offset
after every restart. No broker needed (``confluent_kafka.Message`` is built directly)."""

from __future__ import annotations

from datetime import datetime, timezone

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, TIMESTAMP_NOT_AVAILABLE, Message
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.jsonl import encode_value
from engine.connectors.kafka_meta import message_meta, time_of

stamps = st.one_of(st.integers(min_value=-(2 ** 63), max_value=2 ** 63 - 1),
                   st.sampled_from([-1, 0, -5, 253402300799999, 253402300800000, 2 ** 62, 1_700_000_000_000]))
names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=3)
header_lists = st.lists(st.tuples(names, st.one_of(st.none(), st.binary(max_size=4))), max_size=4)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([TIMESTAMP_NOT_AVAILABLE, TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME]), stamps,
       st.one_of(st.none(), st.binary(max_size=6)), header_lists)
def test_any_message_has_metadata_that_can_be_written(kind, stamp, key, headers):
    message = Message(topic="t", partition=3, offset=17, key=key, value=b"{}", headers=headers or None,
                      timestamp=(kind, stamp))
    meta = message_meta(message)
    assert (meta["topic"], meta["partition"], meta["offset"]) == ("t", 3, 17)
    assert meta["key"] is None if key is None else isinstance(meta["key"], str)
    when = meta["timestamp"]
    if kind == TIMESTAMP_NOT_AVAILABLE or stamp == -1:
        assert when is None
    elif when is not None:
        assert when.tzinfo is not None and abs(when.timestamp() * 1000 - stamp) < 2
    else:  # only a time no datetime holds has none
        assert not datetime.min.replace(tzinfo=timezone.utc).timestamp() * 1000 <= stamp < 253402300800000
    assert set(meta["headers"]) == {name for name, _ in headers}
    for name, _ in headers:  # a name given twice: the last one
        last = [v for n, v in headers if n == name][-1]
        assert meta["headers"][name] == (None if last is None else last.decode("utf-8", "replace"))
    encode_value({"_meta": meta})  # the JSON sinks take it


def test_the_timestamps_at_the_edges():
    assert time_of(-1) is None  # Kafka's "no timestamp"
    assert time_of(0) == datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert time_of(253402300799999) == datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc)
    assert time_of(253402300800000) is None and time_of(2 ** 63 - 1) is None and time_of(-(2 ** 63)) is None
