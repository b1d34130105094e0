"""The Kafka sink with ``delivery: exactly-once``: an outbox in the flow's snapshots, committed to
Kafka in transactions once those snapshots are durable.

Bytewax's recovery resumes a flow from its last durable epoch and replays what came after, so
output written during an epoch that is lost would be written twice. Here, what a partition
receives during an epoch is only kept (the *pending* messages). At the epoch's snapshot they
become an *entry* with the next sequence number, and the snapshot holds every entry not yet
known to be committed. Once the recovery store shows that snapshot durable
(``recovery_progress``), the entry is committed to Kafka in one transaction with its marker
(``kafka_transactions``). So an entry is committed only if the state that produced it can
never be replayed, and the marker tells a resumed run which of its resumed entries are already
out. The order of calls, per epoch: ``write_batch`` (any number), ``snapshot`` (when anything
was written), and ``close`` once; committing continues on the publisher's thread and the last
entries are committed after the run (``engine.run_context.after_run``).

Costs: output is visible about one epoch later than with at-least-once; an epoch's messages are
held in memory and in its snapshot until committed; one writer per sink (a single partition).
"""

from __future__ import annotations

import pickle
import time
import uuid
from typing import Callable, List, Optional

from bytewax.outputs import StatefulSinkPartition

from engine import run_context
from engine.connectors.errors import ConnectorError
from engine.connectors.kafka_messages import Message
from engine.connectors.kafka_sink import KafkaSink
from engine.connectors.kafka_transactions import Publisher
from engine.connectors.recovery_progress import StoreReader
from engine.connectors.wiring import SinglePartitionSink
from engine.metrics import Gauges

_STATE_VERSION = 1
_EVERY = 0.2  # seconds between questions to the store's reader while entries wait


class ExactlyOnceKafkaSink(SinglePartitionSink[List[Message], dict]):
    path = "kafka"  # the one partition's name: kept in the recovery store, do not change

    def __init__(self, plain: KafkaSink) -> None:
        self.plain = plain
        self.metrics = plain.metrics
        plain.health.patience = (f"waiting up to {plain.timeout:g}s for each epoch's commit, then the flow stops "
                                 "(nothing is lost: the epoch is committed at the next start)")

    def attach_gauges(self, gauges: Gauges) -> None:
        self.plain.attach_gauges(gauges)

    def encoder(self) -> Callable[[dict], Message]:
        return self.plain.encoder()

    def batch_encoder(self) -> Callable[[list], List[Message]]:
        return self.plain.batch_encoder()

    def list_parts(self) -> List[str]:
        _store()  # at the start, not at the first event
        return super().list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: Optional[dict]) -> "_Outbox":
        return _Outbox(self, step_id, for_part, _store(), resume_state)


def _store() -> str:
    directory = run_context.recovery_directory()
    if directory is None:
        raise ConnectorError("kafka sink: delivery: exactly-once needs a recovery store (deploy, or run with "
                             "--recovery-directory DIR)")
    return directory


class _Outbox(StatefulSinkPartition[List[Message], dict]):
    def __init__(self, sink: ExactlyOnceKafkaSink, step_id: str, part: str, directory: str,
                 state: Optional[dict]) -> None:
        if state is not None and state.get("v") != _STATE_VERSION:
            raise ConnectorError(f"kafka sink: the recovery store holds an outbox of version {state.get('v')!r}, "
                                 f"this version reads {_STATE_VERSION}")
        state = state or {"v": _STATE_VERSION, "run": uuid.uuid4().hex, "seq": 0, "marker_topic": None,
                          "entries": []}
        self._sink, self._run, self._seq = sink, state["run"], state["seq"]
        self._pending: List[Message] = []
        self._durable = _DurableSeq(directory, step_id, part, self._run)
        plain = sink.plain
        prefix = str(plain.config.get("transactional.id") or f"velocity-flow.{step_id}")
        share = run_context.share()  # the processes of a deployment in shares each commit their own
        if share is not None and share.count > 1:
            prefix += f".{share.directory}"
        config = {k: v for k, v in plain.config.items() if k not in ("transactional.id", "enable.idempotence")}
        self._publisher = Publisher(config, f"{prefix}.{part}", self._run, state["marker_topic"],
                                    list(state["entries"]), self._durable, plain.timeout, plain.health,
                                    plain.metrics, plain.gauges)
        run_context.after_run(_named(step_id, self._publisher.finish))
        run_context.after_run(self._durable.reader.close)

    def write_batch(self, items: List[List[Message]]) -> None:
        self._check()
        count = 0
        for messages in items:
            self._pending.extend(messages)
            count += len(messages)
        if self._sink.metrics is not None:
            self._sink.metrics.add(events_in=count)

    def snapshot(self) -> dict:
        self._check()
        if self._pending:
            self._seq += 1
            self._publisher.offer(self._seq, pickle.dumps(self._pending, pickle.HIGHEST_PROTOCOL),
                                  self._pending[0][0])
            self._pending = []
        return {"v": _STATE_VERSION, "run": self._run, "seq": self._seq,
                "marker_topic": self._publisher.marker_topic, "entries": self._publisher.pending()}

    def close(self) -> None:
        pass  # the publisher finishes after the run, once the last snapshot is durable

    def _check(self) -> None:
        if self._publisher.failure is not None:
            raise ConnectorError(f"kafka sink: {self._publisher.failure}; what was not committed is committed at "
                                 "the next start")


def _named(step_id: str, finish: Callable[[], None]) -> Callable[[], None]:
    """After the run there is no wrapper to name the sink (engine.connectors.wiring): say it here."""
    name = step_id.rpartition("sink:")[2] or step_id

    def finish_named() -> None:
        try:
            finish()
        except ConnectorError as exc:
            raise ConnectorError(f"sink '{name}': {exc}") from None

    return finish_named


class _DurableSeq:
    """The sequence number of this partition's latest durable snapshot, asked of the store's
    reader process (``recovery_progress.StoreReader``) at most every ``_EVERY`` seconds."""

    def __init__(self, directory: str, step_id: str, part: str, run: str) -> None:
        self.reader = StoreReader(directory)
        self.step_id, self.part, self.run = step_id, part, run
        self._seq = 0
        self._asked = 0.0

    def __call__(self) -> int:
        if time.monotonic() - self._asked >= _EVERY:
            self._asked = time.monotonic()
            run, seq = self.reader.durable_fields(self.step_id, self.part, ["run", "seq"])
            if run == self.run:
                self._seq = max(self._seq, seq or 0)
        return self._seq
