"""Kafka topics as a sink: a producer per worker (``acks=all``, idempotent); at the end of each
epoch (the partition's snapshot) the producer is flushed and its delivery reports checked before
the epoch counts as written, so a failed delivery stops the flow loudly instead of losing events
(at-least-once)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union, cast

from bytewax.outputs import StatefulSinkPartition
from confluent_kafka import Producer
from orjson import Fragment, JSONEncodeError, dumps

from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import JSON_DEFAULT, Unwritable, encode_value
from engine.connectors.kafka import seconds, servers
from engine.connectors.kafka_defaults import PRODUCER
from engine.connectors.kafka_health import BrokerHealth, quiet
from engine.connectors.kafka_topics import TopicCheck
from engine.connectors.kafka_warm_up import warm_up
from engine.connectors.worker_parts import WorkerPartitionedSink
from engine.metrics import Gauges, StepCounters
from engine.values import to_str

KEY_FIELD, TOPIC_FIELD, HEADERS_FIELD, META_FIELD = "_key", "_topic", "_headers", "_meta"
ENVELOPE_FIELDS = (KEY_FIELD, TOPIC_FIELD, HEADERS_FIELD, META_FIELD)

_MAX_MESSAGE_BYTES = 1_000_000  # librdkafka's default message.max.bytes
# librdkafka refuses a message at ``produce`` (MSG_SIZE_TOO_LARGE, raised in the sink: the flow
# stopped, and again after every restart) when its key, value and headers plus this much (a v2
# record's largest varints and attributes, RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD) are over
# ``message.max.bytes``; a header costs its name, its value and at most 10 bytes of lengths.
_OVERHEAD, _HEADER_OVERHEAD = 36, 10
# Delivery is confirmed at each epoch's end, and also after this many messages since the last
# confirmation: it bounds what is held in memory, under librdkafka's 100,000-message queue.
_CONFIRM_AT = 50_000
# One encoded message: (topic, key, value, headers); the key is bytes or ASCII text
Message = Tuple[str, Optional[Union[str, bytes]], bytes, Optional[list]]


def _encoder(default_topic: Optional[str], max_bytes: int, topics: TopicCheck) -> Callable[[dict], Message]:
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


def _batch_encoder(default_topic: Optional[str], max_bytes: int, topics: TopicCheck) -> Callable[[list], List[Message]]:
    """``events -> [Message]``: ``_encoder``'s messages, one loop per batch. An event with a
    ``_key`` and nothing else of the envelope (what a keyed ``map`` gives) goes the short way:
    its value is a copy without the key, its key the text itself when ASCII (librdkafka takes
    it as it is); any other event goes through ``_encoder``'s ``encode``."""
    encode = _encoder(default_topic, max_bytes, topics)
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


class _KafkaWriter(StatefulSinkPartition[List[Message], None]):
    """One worker's producer (``worker_parts``). ``write_batch`` hands the messages over and goes
    on; ``snapshot``, at the end of each epoch in which it wrote and before Bytewax counts the
    epoch complete (its recovery store, and the Kafka source, which commits a group's offsets
    only once the dataflow is past the epoch they cover), waits until every message is delivered
    and stops the flow if one was not: at-least-once, one wait per epoch instead of per batch."""

    def __init__(self, sink: "KafkaSink") -> None:
        self._sink = sink
        self._producer: Optional[Producer] = None  # at the first write: a resumed partition may never write
        self._failures: List[str] = []
        self._failed = False  # a batch was not delivered: the flow stops, close() must not wait again
        self._unconfirmed = 0  # messages handed over since the last confirmation

    def _report(self, error, message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}: {error.str()}")

    def _start(self) -> Producer:
        # One delivery callback for the producer, called for failures only: the confirmation's flush still
        # waits for every delivery, and a callback per message was ~10% of a Kafka -> Kafka flow.
        self._producer = Producer({**self._sink.config, "error_cb": self._sink.health.error,
                                   "on_delivery": self._report, "delivery.report.only.error": True})
        if self._sink.topic:
            threading.Thread(target=warm_up, args=(self._producer, self._sink.topic, min(self._sink.timeout, 10.0)),
                             name="kafka-sink-warm-up", daemon=True).start()
        return self._producer

    def write_batch(self, items: List[List[Message]]) -> None:
        producer = self._producer or self._start()
        deadline = time.monotonic() + self._sink.timeout  # one timeout for the whole batch's queueing
        count = 0
        try:
            for messages in items:
                produce_all(producer, messages, deadline)
                count += len(messages)
        except QueueFull:
            self._failed = True
            raise ConnectorError(f"kafka sink: the local queue stayed full for {self._sink.timeout:g}s "
                                 "(the brokers take nothing)") from None
        self._unconfirmed += count
        if self._sink.metrics is not None:  # events_out once delivered (as the exactly-once sink counts)
            self._sink.metrics.add(events_in=count)
        producer.poll(0)  # failures reported so far (the callback), to stop early
        if self._failures or self._unconfirmed >= _CONFIRM_AT:
            self._confirm()
        elif self._sink.gauges is not None:  # handed to the producer, not yet confirmed (the HTTP metrics)
            self._sink.gauges.set("queued", len(producer))

    def snapshot(self) -> None:
        if self._producer is not None:
            self._confirm()

    def _confirm(self) -> None:
        """Wait until every message handed over is delivered (``timeout``); raise if one was not."""
        producer = cast(Producer, self._producer)
        left = producer.flush(self._sink.timeout)
        if left or self._failures:
            self._failed = True
            reason = self._failures[0] if self._failures \
                else f"{left} message(s) still queued after {self._sink.timeout:g}s"
            raise ConnectorError(f"kafka sink: {len(self._failures) or left} message(s) not delivered ({reason})")
        count, self._unconfirmed = self._unconfirmed, 0
        self._sink.health.up()
        if self._sink.gauges is not None:
            if count:
                self._sink.gauges.set("last_delivery", datetime.now(timezone.utc).isoformat())
            self._sink.gauges.set("queued", len(producer))
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_out=count)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(0 if self._failed else self._sink.timeout)


class QueueFull(Exception):
    """The producer's local queue stayed full until the deadline."""


def produce_all(producer: Producer, messages: List[Message], deadline: float) -> None:
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


class KafkaSink(WorkerPartitionedSink[List[Message], None]):
    """Events as JSON messages. The topic is ``topic`` or the event's ``_topic``; the key is
    the event's ``_key`` and the headers its ``_headers`` (the compiler sets them from the
    sink's ``key``, ``topic`` and ``headers`` expressions); those fields are not in the value."""

    def __init__(self, brokers: Union[str, Sequence[str]], topic: Optional[str] = None,
                 timeout: Union[str, float] = "30s", settings: Optional[Dict[str, object]] = None,
                 delivery: str = "at-least-once", metrics: Optional[StepCounters] = None) -> None:
        super().__init__()
        self.topic, self.timeout, self.metrics, self.delivery = topic, seconds(timeout), metrics, delivery
        # No compression (librdkafka's default; compressing costs this process CPU per batch).
        # The linger: engine/connectors/kafka_defaults.py.
        given = {k: str(v) if not isinstance(v, (bool, int)) else v for k, v in (settings or {}).items()}
        self.config = quiet({"bootstrap.servers": servers(brokers), **PRODUCER, **given})
        self.health = BrokerHealth("kafka sink", f"retrying for up to {self.timeout:g}s, then the flow stops "
                                                 "(what was not delivered is sent again at the next start)")
        self.gauges: Optional[Gauges] = None

    def attach_gauges(self, gauges: Gauges) -> None:
        self.gauges = self.health.gauges = gauges

    def encoder(self) -> Callable[[dict], Message]:
        return _encoder(self.topic, self._max_bytes(), TopicCheck(self.config, self.topic, min(self.timeout, 10.0)))

    def batch_encoder(self) -> Callable[[list], List[Message]]:
        """``encoder`` over a whole batch (engine/compiler/sinks.py prefers it)."""
        return _batch_encoder(self.topic, self._max_bytes(), TopicCheck(self.config, self.topic,
                                                                        min(self.timeout, 10.0)))

    def _max_bytes(self) -> int:
        return int(self.config.get("message.max.bytes", _MAX_MESSAGE_BYTES))

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _KafkaWriter:
        return _KafkaWriter(self)

