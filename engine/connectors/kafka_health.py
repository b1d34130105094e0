"""One line of our own when the brokers become unreachable and one when they are back, with
how long; librdkafka's own log lines stay off (``log_level: 0``, ``VELOCITY_FLOW_DEBUG=1``
keeps them at its default level).

librdkafka reports the outage through ``error_cb`` (``_ALL_BROKERS_DOWN``, ``_TRANSPORT``) but
says nothing when it is over, so a client marked down asks the cluster for its metadata, at most
once a second, from the thread that polls it anyway.

Also a group's committed offsets, read while its coordinator may not be ready (``committed``)
and written at the end of a run (``commit_at_end``).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from functools import partial
from typing import Any, Dict, List, Optional

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from engine import run_context
from engine.metrics import Gauges
from engine.notices import notice

_DOWN = {KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT}
# what a group coordinator answers while it moves or loads (a new group, a broker restart)
_COORDINATOR_NOT_READY = {KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
                          KafkaError.COORDINATOR_NOT_AVAILABLE}
_RECHECK = 1.0  # seconds between "are they back?" probes while down


def quiet(config: Dict[str, Any]) -> Dict[str, Any]:
    """``config`` without librdkafka's log lines (unless the user sets ``log_level`` or debugs)."""
    if os.environ.get("VELOCITY_FLOW_DEBUG") or "log_level" in config:
        return dict(config)
    return {**config, "log_level": 0}


class BrokerHealth:
    """Whether one client's brokers answer; shared by the clients of one role and brokers."""

    def __init__(self, what: str, patience: str) -> None:
        self.what = what  # "kafka source", "kafka sink": no address (it may come from the environment)
        self.patience = patience  # what the flow does meanwhile
        self._lock = threading.Lock()
        self._down_since: Optional[float] = None
        self._last_probe = 0.0
        self.gauges: Optional[Gauges] = None  # the health view: "brokers": "up" / "down since ..."

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def error(self, error: KafkaError) -> None:
        """librdkafka's ``error_cb``."""
        if error.code() not in _DOWN:
            return
        with self._lock:
            if self._down_since is not None:
                return
            self._down_since = time.monotonic()
        if self.gauges is not None:
            self.gauges.set("brokers", "down since " + datetime.now(timezone.utc).isoformat(timespec="seconds"))
        notice(f"{self.what}: the brokers are unreachable; {self.patience}")

    def probe(self, client) -> None:
        """While down, at most once a second: are the brokers back? (``client.list_topics``)"""
        if self._down_since is None or time.monotonic() - self._last_probe < _RECHECK:
            return
        self._last_probe = time.monotonic()
        try:
            client.list_topics(timeout=0.5)
        except Exception:  # noqa: BLE001 - still down: KafkaException, or a timeout
            return
        self.up()

    def up(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
        if self.gauges is not None:
            self.gauges.set("brokers", "up")
        if since is not None:
            notice(f"{self.what}: the brokers are reachable again after {time.monotonic() - since:.0f} s")


def committed(consumer, partitions: List[TopicPartition], timeout: float) -> List[TopicPartition]:
    """``consumer.committed(partitions)``, asked again (within ``timeout`` in all) while the group's
    coordinator is not ready: a new group's first request, or one during a broker restart, can
    get NOT_COORDINATOR, and a flow must not stop for that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.committed(partitions, timeout=max(0.1, deadline - time.monotonic()))
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() not in _COORDINATOR_NOT_READY and not error.retriable() \
                    or time.monotonic() + 0.2 >= deadline:
                raise
            time.sleep(0.2)


def config_key(config: dict) -> tuple:
    """A client configuration as a key of ``run_context.remembered`` (its values as text)."""
    return tuple(sorted((k, str(v)) for k, v in config.items()))


def commit_at_end(config: dict, topic: str, partition: int, offset: int, timeout: float) -> None:
    """Commit a partition's last offset once the whole flow has ended normally (everything it
    read is written). Best effort: if the broker is gone, the group keeps the offset of the
    snapshot before, and a start from it reads that epoch again (at least once, nothing lost).

    The partitions of one group on one cluster go in one request of one consumer, made after the
    run (``run_context.after_run``): a client each cost ~3 ms of CPU and ~40 ms to find the
    group's coordinator, one after the other (6 partitions: +10-25 ms of CPU, +150 ms of wall)."""
    key = ("kafka commits at end", config_key(config))
    offsets = run_context.remembered(key, partial(_commits_after_run, config, timeout))
    offsets.append(TopicPartition(topic, partition, offset))


def _commits_after_run(config: dict, timeout: float) -> List[TopicPartition]:
    offsets: List[TopicPartition] = []
    run_context.after_run(partial(_commit, config, offsets, timeout))
    return offsets


def _commit(config: dict, offsets: List[TopicPartition], timeout: float) -> None:
    def commit() -> None:
        consumer = Consumer({**config, "enable.auto.commit": False})
        try:
            consumer.commit(offsets=list(offsets), asynchronous=False)
        except KafkaException:
            pass
        finally:
            consumer.close()

    worker = threading.Thread(target=commit, name="kafka-commit-at-end", daemon=True)
    worker.start()
    worker.join(timeout)  # a synchronous commit has no timeout of its own; a daemon thread dies with the process
