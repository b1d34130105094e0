"""Commit an exactly-once sink's durable outbox entries to Kafka, one transaction per entry.

An entry is the messages one sink partition received in one epoch (``kafka_exactly_once``).
Each is committed in a Kafka transaction together with a *marker*: the entry's sequence
number, written as the committed offset of a consumer group of the sink's own
(``send_offsets_to_transaction``), with the store's run id as the offset's metadata. Both land
or neither does, so after any crash the marker says exactly which entries consumers with
``isolation.level=read_committed`` have seen, and the next start commits the rest and nothing
twice. A crash inside a transaction leaves it open; the next ``init_transactions`` of the same
``transactional.id`` aborts it.

The work runs on a thread of its own: the dataflow's worker only hands entries over, and an
idle flow still gets its last entries out as soon as they are durable.
"""

from __future__ import annotations

import pickle
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Tuple

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from engine.connectors.errors import ConnectorError
from engine.connectors.kafka_health import BrokerHealth, quiet
from engine.connectors.kafka_health import committed as committed_offsets
from engine.connectors.kafka_messages import QueueFull, produce_all
from engine.metrics import Gauges, StepCounters
from engine.stopping import request_stop

Entry = Tuple[int, bytes]  # (sequence number, pickled list of messages)
_POLL = 0.1  # seconds between looks at the recovery store while entries wait
_CALL = 5.0  # seconds at most per transactional call; retried until the sink's timeout


class Marker:
    """Where the last committed entry is recorded: the committed offset of ``group`` on
    partition 0 of ``topic`` (a topic the sink writes to, so it exists)."""

    def __init__(self, config: Dict[str, object], group: str) -> None:
        self.group = group
        self.consumer = Consumer(quiet({"bootstrap.servers": config["bootstrap.servers"], "group.id": group,
                                        "enable.auto.commit": False, **_security(config)}))

    def read(self, topic: str, run: str, timeout: float) -> int:
        """The last sequence number committed by ``run`` (0: none, or another store's run)."""
        (committed,) = committed_offsets(self.consumer, [TopicPartition(topic, 0)], timeout)
        if committed.error or committed.offset < 0 or committed.metadata != run:
            return 0
        return committed.offset

    def offsets(self, topic: str, seq: int, run: str) -> List[TopicPartition]:
        return [TopicPartition(topic, 0, seq, metadata=run)]

    def close(self) -> None:
        self.consumer.close()


def _security(config: Dict[str, object]) -> Dict[str, object]:
    """The producer's connection settings that a consumer also needs (SASL, TLS)."""
    return {k: v for k, v in config.items() if k.startswith(("security.", "sasl.", "ssl.", "client."))}


class Publisher:
    """Commits entries in sequence order once ``durable_seq()`` reaches them. ``failure`` is
    set (and nothing more is committed) when an entry cannot be committed within ``timeout``
    or the producer is fenced; the sink partition raises it in the dataflow."""

    def __init__(self, config: Dict[str, object], transactional_id: str, run: str, marker_topic: Optional[str],
                 entries: List[Entry], durable_seq: Callable[[], int], timeout: float, health: BrokerHealth,
                 metrics: Optional[StepCounters], gauges: Optional[Gauges]) -> None:
        # a request to a broker that went away fails after socket.timeout.ms (librdkafka: 60 s), and
        # a transactional call waits for it whatever its own timeout: 10 s keeps retries prompt
        self.config = {"socket.timeout.ms": 10000, **config, "transactional.id": transactional_id,
                       "error_cb": health.error}
        self.transactional_id, self.run, self.marker_topic = transactional_id, run, marker_topic
        self.durable_seq, self.timeout, self.health = durable_seq, timeout, health
        self.metrics, self.gauges = metrics, gauges
        self.failure: Optional[str] = None
        self._entries = list(entries)
        self._producer: Optional[Producer] = None
        self._resumed = max((seq for seq, _ in entries), default=0)  # entries of the resume state: durable
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"exactly-once {transactional_id}", daemon=True)
        self._thread.start()

    # --- the dataflow's side -------------------------------------------------------------
    def offer(self, seq: int, blob: bytes, topic: str) -> None:
        with self._wake:
            self.marker_topic = self.marker_topic or topic
            self._entries.append((seq, blob))
            self._wake.notify()

    def pending(self) -> List[Entry]:
        """Entries not known to be committed: what a snapshot must keep."""
        with self._wake:
            return list(self._entries)

    def finish(self) -> None:
        """After the run: commit what is left (all of it is durable now), then stop."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        self._thread.join(self.timeout + 30.0)
        if self.failure is None and self._thread.is_alive():
            self.failure = f"the last entries were not committed within {self.timeout:g}s"
        if self.failure is not None:
            left = sum(len(pickle.loads(blob)) for _, blob in self.pending())
            raise ConnectorError(f"kafka sink: {left} message(s) not committed ({self.failure}); they are "
                                 "committed at the next start")

    # --- the publishing thread -----------------------------------------------------------
    def _run(self) -> None:
        marker: Optional[Marker] = None
        try:
            self._connect(time.monotonic() + self.timeout)
            marker = Marker(self.config, f"{self.transactional_id}.outbox")
            if self.marker_topic is not None:
                self._forget_through(marker.read(self.marker_topic, self.run, self.timeout))
            while True:
                with self._wake:
                    if not self._entries:
                        if self._closing:
                            return
                        self._wake.wait(_POLL)
                        continue
                durable = max(self._resumed, self.durable_seq())
                ready = [(seq, blob) for seq, blob in self.pending() if seq <= durable]
                for seq, blob in ready:
                    self._commit(marker, seq, blob)
                if not ready:  # wait for the store to record the next epoch
                    with self._wake:
                        self._wake.wait(_POLL)
        except _Failed as exc:
            self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - reported by the sink partition, in one line
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            if marker is not None:
                marker.close()

    def _fail(self, reason: str) -> None:
        """Stop the flow even if no event comes to carry the failure (an idle flow during an outage):
        a clean stop snapshots the entries, then ``finish`` reports them, in one line."""
        self.failure = reason
        request_stop(keep_state=True)

    def _connect(self, deadline: float) -> Producer:
        """A producer with its transactions initialized: this fences any earlier producer of the
        same ``transactional.id`` and aborts the transaction it left open."""
        while True:
            producer = Producer(quiet(self.config))
            try:
                _call(deadline, self.timeout, "no transactional producer", producer.init_transactions)
                self._producer = producer
                return producer
            except _Restart:
                _drop(producer)

    def _forget_through(self, seq: int) -> None:
        with self._wake:
            self._entries = [entry for entry in self._entries if entry[0] > seq]

    def _commit(self, marker: Marker, seq: int, blob: bytes) -> None:
        """One transaction: the entry's messages and its marker. A retriable error retries the
        call; any other trouble (an abort needed, a transaction the coordinator timed out during
        an outage, a call that keeps failing) starts the entry over on a new producer, whose
        ``init_transactions`` aborts the old one's transaction. Only the deadline gives up."""
        messages = pickle.loads(blob)  # noqa: S301 - our own outbox
        marker_topic = self.marker_topic
        assert marker_topic is not None
        deadline = time.monotonic() + self.timeout
        what = f"{len(messages)} message(s) not committed"
        while True:
            producer = self._producer or self._connect(deadline)
            try:
                _call(deadline, self.timeout, what, producer.begin_transaction, timed=False)
                try:
                    produce_all(producer, messages, deadline)
                except QueueFull:
                    raise _Failed(f"the local queue stayed full for {self.timeout:g}s (the brokers take nothing)") \
                        from None
                _call(deadline, self.timeout, what, producer.send_offsets_to_transaction,
                      marker.offsets(marker_topic, seq, self.run), marker.consumer.consumer_group_metadata())
                _call(deadline, self.timeout, what, producer.commit_transaction)
                break
            except _Restart:
                self._producer = None
                _drop(producer)
        self._forget_through(seq)
        self.health.up()
        if self.gauges is not None:
            self.gauges.set("last_delivery", datetime.now(timezone.utc).isoformat())
        if self.metrics is not None:
            self.metrics.add(events_out=len(messages))


class _Restart(Exception):
    """The transaction cannot go on: start it over on a new producer."""


_RETRIES = 3  # a retriable error retries the same call this often, then the transaction starts over


def _call(deadline: float, timeout: float, what: str, fn: Callable[..., None], *args, timed: bool = True) -> None:
    """``fn(*args, call timeout)`` (``timed``) or ``fn(*args)``, retried on retriable errors;
    ``_Restart`` for any other, ``_Failed`` past the deadline."""
    for _ in range(_RETRIES):
        try:
            fn(*args, _left(deadline)) if timed else fn(*args)
            return
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if time.monotonic() >= deadline:
                raise _Failed(f"{what} within {timeout:g}s ({error.str()})") from None
            if not error.retriable():
                break
            time.sleep(0.2)
    if time.monotonic() >= deadline:
        raise _Failed(f"{what} within {timeout:g}s")
    time.sleep(0.5)
    raise _Restart()


def _drop(producer: Producer) -> None:
    """Let go of a producer without waiting for what it still holds (its transaction is aborted
    by the next producer's ``init_transactions``)."""
    try:
        producer.purge(in_queue=True, in_flight=True, blocking=False)
        producer.flush(0)
    except Exception:  # noqa: BLE001 - nothing more to do with it
        pass


class _Failed(Exception):
    pass


def _left(deadline: float) -> float:
    """A call's own timeout: short, so a call is retried after the brokers are back (a transactional
    call still waiting past an outage did not notice their return)."""
    return min(_CALL, max(0.1, deadline - time.monotonic()))
