"""Events as Kafka messages: ``(topic, key, value, headers)``, each refused (``Unwritable``,
so the event is dead-lettered) where librdkafka would refuse it; and handing them to a
producer in order (``produce_all``). Apart from the sink's writers (engine/connectors/
kafka_sink.py, kafka_transactions.py) and compiled with mypyc (docs/deploy.md, *A compiled
core*): it runs once per event. Its annotations name only what every value is (a message is a
plain tuple: what the producer gets is checked by confluent-kafka)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, Callable, List, Optional, Tuple

from orjson import Fragment, JSONEncodeError, dumps

from engine.connectors.jsonl import JSON_DEFAULT, Unwritable, encode_value
from engine.records import HEADERS_FIELD, KEY_FIELD, META_FIELD, TOPIC_FIELD
from engine.values import to_str

ENVELOPE_FIELDS = (KEY_FIELD, TOPIC_FIELD, HEADERS_FIELD, META_FIELD)

MAX_MESSAGE_BYTES = 1_000_000  # librdkafka's default message.max.bytes
# librdkafka refuses a message at ``produce`` (MSG_SIZE_TOO_LARGE, raised in the sink: the flow
# stopped, and again after every restart) when its key, value and headers plus this much (a v2
# record's largest varints and attributes, RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD) are over
# ``message.max.bytes``; a header costs its name, its value and at most 10 bytes of lengths.
_OVERHEAD, _HEADER_OVERHEAD = 36, 10
# One encoded message: (topic, key, value, headers); the key is bytes or ASCII text, the
# headers None or a list of (name, bytes or None)
Message = Tuple[Any, Any, Any, Any]


def message_encoder(default_topic: Optional[str], max_bytes: int, topics: Any) -> Callable[[dict], Message]:
    """``event -> Message``; an event that cannot be a message raises (and is dead-lettered):
    librdkafka would refuse a message over ``message.max.bytes`` at every retry of the batch,
    and one to a topic that is not there (``kafka_topics``)."""

    def encode(event: dict) -> Message:
        topic = event.get(TOPIC_FIELD) or default_topic
        if topic is not default_topic or not topic:
            if not topic or not isinstance(topic, str):  # str: a topic from the environment is a str subclass
                raise Unwritable(f"no topic to write to (the topic expression gave {topic!r})")
            topics.check(topic)
        key = event.get(KEY_FIELD)
        if key is not None:
            key = _key(key)
        body = event
        if KEY_FIELD in event or TOPIC_FIELD in event or HEADERS_FIELD in event or META_FIELD in event:
            body = event.copy()  # a C copy and a few deletions: the fields are usually one or two
            for name in ENVELOPE_FIELDS:
                body.pop(name, None)
        headers = event.get(HEADERS_FIELD)
        if not headers:
            return topic, key, _value(body, key, max_bytes), None
        headers, size = _headers(headers)
        return topic, key, _value(body, key, max_bytes, size), headers

    return encode


def batch_message_encoder(default_topic: Optional[str], max_bytes: int, topics: Any) -> Callable[[list], List[Message]]:
    """``events -> [Message]``: ``message_encoder``'s messages, one loop per batch. An event with a
    ``_key`` and nothing else of the envelope (what a keyed ``map`` gives) goes the short way:
    its value is a copy without the key, its key the text itself when ASCII (librdkafka takes
    it as it is); any other event goes through ``message_encoder``'s ``encode``."""
    encode = message_encoder(default_topic, max_bytes, topics)
    limit = max_bytes - _OVERHEAD

    def encode_all(events: list) -> List[Message]:
        if not default_topic:
            return [encode(event) for event in events]
        messages: List[Message] = []
        append = messages.append
        for event in events:
            if TOPIC_FIELD in event or HEADERS_FIELD in event or META_FIELD in event:
                append(encode(event))
                continue
            if KEY_FIELD in event:
                key = event[KEY_FIELD]
                body = event.copy()
                del body[KEY_FIELD]
                if key is not None and (type(key) is not str or not key.isascii()):
                    key = _key(key)
            else:
                key, body = None, event
            try:  # _value's first try and size rule, inlined: its call was ~1% of a flow's instructions
                value = dumps(body, _exact)  # positional: orjson parses no keyword (~400 instructions)
            except JSONEncodeError:
                value = _value(body, key, max_bytes)  # the fallback encoding, as per event
            if len(value) + (len(key) if key else 0) > limit:
                value = _value(body, key, max_bytes)  # raises: the refusal and its text are _value's
            append((default_topic, key, value, None))
        return messages

    return encode_all


def _value(body: dict, key, max_bytes: int, headers_size: int = 0) -> bytes:
    """The message value of ``body``; Unwritable when the message (``key``, the value, headers of
    ``headers_size`` bytes and librdkafka's overhead) would be over ``max_bytes``."""
    try:  # encode_value's first try, inlined (one call less per event); it redoes a refusal
        value = dumps(body, _exact)
    except JSONEncodeError:
        value = encode_value(body)
    size = len(value) + (len(key) if key else 0) + headers_size + _OVERHEAD
    if size > max_bytes:
        raise Unwritable(f"the message would be {size:,} bytes, over message.max.bytes ({max_bytes:,})")
    return value


def _key(key) -> bytes:
    """A key as its text, the text ``str(key)`` gives in an expression (``values.to_str``: JSON for
    objects and lists, ``true``, ISO 8601), not Python's; bytes (``format: bytes``) as they are."""
    kind = type(key)
    if kind is str or kind is int:
        return (key if kind is str else str(key)).encode()
    return key if kind is bytes else to_str(key).encode()


def _exact(value):
    """``JSON_DEFAULT``, a finite Decimal (what ``cast`` to decimal gives) tested first."""
    if type(value) is Decimal and value.is_finite():
        return Fragment(str(value))
    return JSON_DEFAULT(value)


class QueueFull(Exception):
    """The producer's local queue stayed full until the deadline."""


def produce_all(producer: Any, messages: List[Any], deadline: float) -> None:
    """Hand ``messages`` to ``producer`` in order (the at-least-once writer's batch and an
    exactly-once transaction alike): ``produce`` bound once, no ``headers=None``, and after a
    full local queue (``BufferError``) deliveries drain and it goes on from that message;
    ``QueueFull`` once ``deadline`` (``time.monotonic()``) has passed."""
    produce = producer.produce
    index = 0
    while index < len(messages):
        try:
            for topic, key, value, headers in messages[index:] if index else messages:
                if headers is None:
                    produce(topic, value, key)
                else:
                    produce(topic, value, key, headers=headers)
                index += 1
        except BufferError:
            if time.monotonic() >= deadline:
                raise QueueFull() from None
            producer.poll(0.1)


def _headers(headers) -> Tuple[list, int]:
    """The headers as librdkafka takes them, and their size. A name that is not UTF-8 text (a
    lone surrogate) crashed the process in ``produce`` (a segmentation fault in confluent-kafka
    2.16), and one with a NUL character lost the rest of its name: both are refused here."""
    if type(headers) is not dict:
        raise Unwritable(f"headers must be an object, not {type(headers).__name__}")
    encoded, size = [], 0
    for name, value in headers.items():
        name = str(name)
        try:
            raw = name.encode()
            value = None if value is None else value if type(value) is bytes else to_str(value).encode()
        except UnicodeEncodeError:
            raise Unwritable(f"header {name!r}: not UTF-8 text (a lone surrogate)") from None
        if b"\0" in raw:
            raise Unwritable(f"header {name!r}: a header name cannot hold a NUL character")
        encoded.append((name, value))
        size += len(raw) + (len(value) if value else 0) + _HEADER_OVERHEAD
    return encoded, size
