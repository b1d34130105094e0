"""Kafka topics as a sink: a producer per worker (``acks=all``, idempotent); at the end of each
epoch (the partition's snapshot) the producer is flushed and its delivery reports checked before
the epoch counts as written, so a failed delivery stops the flow loudly instead of losing events
(at-least-once)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Union, cast

from bytewax.outputs import StatefulSinkPartition
from confluent_kafka import Producer

from engine.connectors.errors import ConnectorError
from engine.connectors.kafka import seconds, servers
from engine.connectors.kafka_defaults import PRODUCER
from engine.connectors.kafka_health import BrokerHealth, quiet
from engine.connectors.kafka_messages import (
    MAX_MESSAGE_BYTES,
    Message,
    QueueFull,
    batch_message_encoder,
    message_encoder,
    produce_all,
)
from engine.connectors.kafka_topics import TopicCheck
from engine.connectors.kafka_warm_up import warm_up
from engine.connectors.worker_parts import WorkerPartitionedSink
from engine.metrics import Gauges, StepCounters

# Delivery is confirmed at each epoch's end, and also after this many messages since the last
# confirmation: it bounds what is held in memory, under librdkafka's 100,000-message queue.
_CONFIRM_AT = 50_000


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
        return message_encoder(self.topic, self._max_bytes(), self._topics())

    def batch_encoder(self) -> Callable[[list], List[Message]]:
        """``encoder`` over a whole batch (engine/compiler/sinks.py prefers it)."""
        return batch_message_encoder(self.topic, self._max_bytes(), self._topics())

    def _topics(self) -> TopicCheck:
        return TopicCheck(self.config, self.topic, min(self.timeout, 10.0))

    def _max_bytes(self) -> int:
        return int(self.config.get("message.max.bytes", MAX_MESSAGE_BYTES))

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _KafkaWriter:
        return _KafkaWriter(self)

