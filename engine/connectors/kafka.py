"""Kafka topics as a source: one Bytewax partition per topic partition (so partitions spread
over workers and processes); its resume state is the next offset, kept in Bytewax's recovery
store. With a ``group_id`` the offsets are also committed to Kafka, one snapshot behind (see
``snapshot``) and the last ones once the run has ended normally, so lag is visible to the usual
tools and ``start: committed`` can resume from them without a recovery store, at least once.
The sink is engine/connectors/kafka_sink.py.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Union

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from engine import run_context
from engine.connectors.errors import ConnectorError
from engine.connectors.kafka_admin import cluster_metadata
from engine.connectors.kafka_align import alignment
from engine.connectors.kafka_health import BrokerHealth, commit_at_end, config_key, quiet
from engine.connectors.kafka_health import committed as committed_offsets
from engine.connectors.kafka_meta import message_meta, offsets_of, stamp_of, time_of, within
from engine.connectors.kafka_tuning import (
    BOUNDED,
    CATCH_UP_POLLS,
    CATCH_UP_WAIT,
    DEFAULT_BATCH,
    EPOCH_END_SLACK,
    EPOCH_END_WAIT,
    IDLE_WAIT,
    OUT_OF_RANGE,
    POLL_WAIT,
    PREFETCH,
)
from engine.durations import parse_duration
from engine.metrics import Gauges, StepCounters
from engine.records import RawBatch
from engine.stopping import stop_requested

_CONSUMER_ONLY = ("group.id",)
# Alignment: a front older than every timestamp, and how long a lagging partition with nothing
# fetched yet may hold the others back.
_UNKNOWN = -1
_WAIT_FOR_DATA = 1.0
_LEADER_WAIT = 0.5  # at most, for the topic's metadata before a logical start offset: the retry it saves
# unbound: list(map(...)) makes no bound method per message (offsets: 72 -> 41 ns per message)
_value: Callable = Message.value
_error: Callable = Message.error


def servers(brokers: Union[str, Sequence[str]]) -> str:
    return brokers if isinstance(brokers, str) else ",".join(brokers)


def seconds(value: Union[int, float, str]) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return parse_duration(value).total_seconds()
    except ValueError:
        raise ConnectorError(f"kafka: '{value}' is not a duration (e.g. 10s, 500ms)") from None


def list_partitions(config: dict, topics: List[str], pattern: Optional[str], timeout: float) -> List[str]:
    """``topic#partition`` of every partition, failing fast when the brokers do not answer.
    The sources of one cluster in a run take the cluster's metadata from one request (each had
    a client of its own: ~2 ms of CPU and ~40 ms of waiting per source, one after the other)."""
    admin_config = {k: v for k, v in config.items() if k not in _CONSUMER_ONLY}
    key = ("kafka metadata", config_key(admin_config))
    metadata = run_context.remembered(key, partial(_cluster_metadata, admin_config, timeout))
    if pattern is not None:
        import re

        regex = re.compile(pattern)
        topics = sorted(t for t in metadata.topics if regex.fullmatch(t))
        if not topics:
            raise ConnectorError(f"kafka source: no topic matches '{pattern}'")
    parts = []
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise ConnectorError(f"kafka source: topic '{topic}' does not exist at {config['bootstrap.servers']}")
        parts += [f"{topic}#{p}" for p in sorted(found.partitions)]
    return parts


class _KafkaReader(StatefulSourcePartition[RawBatch, Optional[int]]):
    """Reads one topic partition from an offset; the state is the next offset to read."""

    _assigning: Optional[threading.Thread] = None  # assigning a logical offset (_assign_at)

    def __init__(self, config: dict, topic: str, partition: int, start, resume: Optional[int],
                 source: "KafkaSource") -> None:
        self._topic, self._partition, self._source = topic, partition, source
        self._origin = f"{topic}[{partition}]"
        self._tp = TopicPartition(topic, partition)  # for the per-batch watermark lookups
        self._consumer_config = config
        self._consumer = Consumer({**PREFETCH, **({} if source.tail else BOUNDED), **OUT_OF_RANGE, **config,
                                   "enable.auto.commit": False, "enable.partition.eof": not source.tail,
                                   "error_cb": source.health.error})
        self._written: Optional[int] = None  # the offset at the last snapshot: see snapshot()
        offset = resume if resume is not None else self._start_offset(start)
        self._next = offset if offset >= 0 else None  # of the first message not yet delivered
        self._assign_error: Optional[Exception] = None
        if offset < 0:  # the leader first, on a thread (_assign_at): the partitions' waits overlap
            self._assigning = threading.Thread(target=self._assign_at, args=(offset,), daemon=True,
                                               name=f"kafka-assign-{self._origin}")
            self._assigning.start()
        else:
            self._consumer.assign([TopicPartition(topic, partition, offset)])
        self._pending: List = []  # consumed, held back by the alignment
        self._align = alignment((config["bootstrap.servers"], config["group.id"]), source.align_ms) \
            if source.align_ms is not None else None
        self._front: Optional[int] = _UNKNOWN
        self._waiting_since: Optional[float] = None
        if self._align is not None:  # until its first fetch, nobody knows where it is
            self._align.join(self, topic, _UNKNOWN)
        self._lag_shown = False  # the lag gauge was last given above 0 (empty polls show it again)
        self._empty_polls = 0  # since the last delivery: the first ones nap shorter (next_awake)
        self._epoch, self._epoch_started = run_context.epoch_seconds(), time.monotonic()  # (as Bytewax's)
        self._ended = False  # tail: false and the end of the partition was reached

    def _start_offset(self, start) -> int:
        if start == "earliest":
            return OFFSET_BEGINNING
        if start == "latest":
            return OFFSET_END
        if start == "committed":
            committed = committed_offsets(self._consumer, [self._tp], self._source.timeout)[0].offset
            return committed if committed >= 0 else OFFSET_BEGINNING
        millis = int(start.timestamp() * 1000)
        found = self._consumer.offsets_for_times([TopicPartition(self._topic, self._partition, millis)],
                                                 timeout=self._source.timeout)[0].offset
        return found if found >= 0 else OFFSET_END

    def _assign_at(self, offset: int) -> None:
        """librdkafka resolves ``earliest``/``latest`` at the partition's leader; when a new
        consumer is assigned before its first metadata has arrived (a few ms) it retries only
        after 500 ms, so every flow started with 0.5 s of nothing read. Asking for the topic's
        metadata first takes 5-55 ms (if it fails, the assignment works as before). One reader
        after the other, bench/kafka_throughput.py's 4 took 70-220 ms to build; with the waits on
        threads, 12-14 ms (the first message reached the sink 10-50 ms sooner, 4 runs each). The
        reader reads nothing until it is assigned (``_consume``). ``latest`` is made the partition's
        end offset here: its snapshots held no offset until a message came, and a flow restarted
        from them started at the new end, past every message sent while it was down."""
        try:
            try:
                self._consumer.list_topics(self._topic, timeout=min(self._source.timeout, _LEADER_WAIT))
            except KafkaException:
                pass
            if offset == OFFSET_END:  # an offset the snapshots keep: a resumed "latest" lost what came meanwhile
                try:
                    offset = self._next = self._consumer.get_watermark_offsets(self._tp, self._source.timeout)[1]
                except KafkaException:
                    pass
            self._consumer.assign([TopicPartition(self._topic, self._partition, offset)])
        except Exception as exc:  # noqa: BLE001 - raised by the worker, at its next read
            self._assign_error = exc

    def next_batch(self) -> List[RawBatch]:
        if stop_requested():  # a clean stop: the snapshot keeps _next, the first message not delivered
            raise StopIteration()
        if not self._pending:
            if self._ended:
                raise StopIteration()
            self._pending = self._consume()
        messages = self._deliverable()
        if not messages:
            self._empty_polls += 1
            if self._lag_shown and self._source.gauges is not None:  # the last may have been a commit marker
                self._show_lag(self._source.gauges)
            return []
        self._empty_polls = 0
        self._report(messages)
        meta = [message_meta(message) for message in messages] if self._source.metadata else None
        return [RawBatch(list(map(_value, messages)), self._origin, offsets=offsets_of(messages), meta=meta)]

    def _report(self, delivered: list) -> None:
        """Lag (messages after the next offset, from the last fetch's watermark) and the time
        of the last event, for the health view; cached: no request to the broker."""
        gauges = self._source.gauges
        if gauges is None:
            return
        self._show_lag(gauges)
        instant = time_of(stamp_of(delivered[-1]))
        if instant is not None:
            at = instant.isoformat()
            gauges.set("last_event", at)
            gauges.put("last_event_per_partition", self._origin, at)  # the HTTP metrics show each

    def _show_lag(self, gauges: Gauges) -> None:
        """The lag gauge; shown again on empty polls while above 0, as the position steps over a
        commit marker after the last message before it was delivered."""
        lag = self._behind()
        if lag is not None:
            self._lag_shown = lag > 0
            gauges.put("lag", self._origin, lag)

    def _consume(self) -> list:
        if self._assigning is not None:  # still being assigned: nothing to read yet
            if self._assigning.is_alive():
                return []
            self._assigning = None
            if self._assign_error is not None:
                raise self._assign_error
        messages = self._consumer.consume(self._source.batch_size, POLL_WAIT)
        if self._source.health.down:
            if messages:
                self._source.health.up()
            else:
                self._source.health.probe(self._consumer)
        if any(map(_error, messages)):  # in C: a message without an error is passed over at ~40 ns
            for index, message in enumerate(messages):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        self._ended = True  # the end arrives once, maybe with the last messages
                        return messages[:index]
                    raise ConnectorError(f"kafka source: {self._origin}: {error.str()}")
        return messages

    def _deliverable(self) -> list:
        """The pending messages that may go now; the alignment learns where this partition is."""
        pending, self._pending = self._pending, []
        if self._align is not None:
            limit = self._align.limit(self)
            if limit is not None:
                count = within(pending, limit)
                if count < len(pending):
                    pending, self._pending = pending[:count], pending[count:]
        if pending:
            self._next = pending[-1].offset() + 1
        if self._align is not None:
            self._front = self._front_after(pending)
            self._align.set_front(self, self._front)
        return pending

    def _front_after(self, delivered: list) -> Optional[int]:
        """The timestamp this partition holds the others to while it lags, else None."""
        if self._pending:
            self._waiting_since = None
            return stamp_of(self._pending[0])
        if self._ended:
            return None
        lags = self._lags()
        if delivered:
            self._waiting_since = None
            return stamp_of(delivered[-1]) if lags else None
        if lags is False:
            return None
        # Lagging (or not known yet, as at the start) with nothing fetched: the others wait at
        # this partition's last front, but not for long, in case its broker is slow.
        now = time.monotonic()
        self._waiting_since = self._waiting_since or now
        return self._front if now - self._waiting_since < _WAIT_FOR_DATA else None

    def _lags(self) -> Optional[bool]:
        behind = self._behind()
        return None if behind is None else behind > 0

    def _behind(self) -> Optional[int]:
        """The messages after the consumer's position (from the last fetch's watermark, cached: no
        request), None if unknown. A transaction's commit marker takes an offset and is never
        delivered: the position steps over it, the next offset does not (a topic written in
        transactions lagged by one for ever, and its front held the other partitions up to
        ``_WAIT_FOR_DATA`` after each delivery). position() is called only past the next offset."""
        _, high = self._consumer.get_watermark_offsets(self._tp, cached=True)
        if high < 0 or self._next is None:
            return None
        if high <= self._next:
            return 0
        return max(0, high - max(self._next, self._consumer.position([self._tp])[0].offset))

    def next_awake(self) -> Optional[datetime]:
        # Nothing arrived last time: let the worker do other work instead of spinning.
        polls = self._empty_polls
        if not polls:  # more may be there at once, unless the epoch ends with this batch (kafka_tuning)
            if self._epoch is None or time.monotonic() - self._epoch_started < self._epoch - EPOCH_END_SLACK:
                return None
            return datetime.now(timezone.utc) + EPOCH_END_WAIT
        return datetime.now(timezone.utc) + (CATCH_UP_WAIT if polls <= CATCH_UP_POLLS else IDLE_WAIT)

    def snapshot(self) -> Optional[int]:
        self._epoch_started = time.monotonic()  # Bytewax calls it as it ends an epoch (next_awake)
        # The group's offsets go one snapshot behind: Bytewax snapshots a source as it reads
        # the epoch's last batch, which is still on its way to the sinks, but reads nothing of
        # an epoch before the dataflow is past the one before it, so the previous snapshot's
        # messages are written. Committing this one lost them to a crash (`start: committed`).
        if self._source.group_id:
            if self._written is not None:
                tp = TopicPartition(self._topic, self._partition, self._written)
                self._consumer.commit(offsets=[tp], asynchronous=True)
            self._written = self._next
        return self._next

    def close(self) -> None:
        if self._align is not None:
            self._align.leave(self)
        if self._assigning is not None:
            self._assigning.join()  # bounded: _LEADER_WAIT, then an assignment
        self._consumer.close()
        if self._source.group_id and self._next is not None:  # the last ones once the run ended normally
            commit_at_end(self._consumer_config, self._topic, self._partition, self._next, self._source.timeout)


class KafkaSource(FixedPartitionedSource[RawBatch, Optional[int]]):
    """Messages of one or more topics (or every topic matching ``pattern``), undecoded.

    ``start``: earliest, latest, committed (the group's offsets) or an ISO-8601 time.
    ``tail: false`` stops at the end of each partition (bounded reprocessing, tests).
    ``settings``: librdkafka properties (security.protocol, sasl.*, ...), passed through.
    ``align`` (default 100ms): how far a partition may run ahead of a lagging one of the same
    brokers and group in this process (see ``kafka_align``); ``False`` reads each on its own.
    """

    def __init__(self, brokers: Union[str, Sequence[str]], topics: Optional[Sequence[str]] = None,
                 topic: Optional[str] = None, pattern: Optional[str] = None, group_id: Optional[str] = None,
                 start: str = "earliest", batch_size: int = DEFAULT_BATCH, tail: bool = True, metadata: bool = False,
                 timeout: Union[str, float] = "10s", settings: Optional[Dict[str, object]] = None,
                 align: Union[str, float, bool] = "100ms", metrics: Optional[StepCounters] = None) -> None:
        self.topics = list(topics or ([topic] if topic else []))
        if bool(self.topics) == bool(pattern):
            raise ConnectorError("kafka source: give 'topic', 'topics' or 'pattern' (exactly one)")
        self.pattern, self.group_id, self.batch_size = pattern, group_id, batch_size
        self.tail, self.metadata, self.timeout = tail, metadata, seconds(timeout)
        self.start = _parse_start(start)
        self.align_ms = None if align is False else int(seconds(align) * 1000)
        self.config = quiet({"bootstrap.servers": servers(brokers), "group.id": group_id or "velocity-flow",
                             **{k: str(v) if not isinstance(v, (bool, int)) else v
                                for k, v in (settings or {}).items()}})
        self.health = BrokerHealth("kafka source", "the flow waits for them (nothing is lost)")
        self.gauges: Optional[Gauges] = None

    def attach_gauges(self, gauges: Gauges) -> None:
        self.gauges = self.health.gauges = gauges

    def list_parts(self) -> List[str]:
        parts = list_partitions(self.config, self.topics, self.pattern, self.timeout)
        share = run_context.share()  # one of N independent processes: its partitions (engine/shares.py)
        return parts if share is None else share.pick(parts, f"kafka source ({', '.join(self.topics) or self.pattern})")

    def build_part(self, step_id: str, for_part: str, resume_state: Optional[int]) -> _KafkaReader:
        topic, _, partition = for_part.rpartition("#")
        return _KafkaReader(self.config, topic, int(partition), self.start, resume_state, self)


def _cluster_metadata(admin_config: dict, timeout: float):
    # log_level 0: an unreachable broker is reported once, as cluster_metadata's error, not as log spam
    admin = AdminClient({**admin_config, "log_level": 0})
    return cluster_metadata(admin, admin_config["bootstrap.servers"], timeout)


def _parse_start(start: str):
    if start in ("earliest", "latest", "committed"):
        return start
    try:
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise ConnectorError(f"kafka source: start must be earliest, latest, committed or an "
                             f"ISO-8601 time, not '{start}'") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
