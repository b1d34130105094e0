"""A fixed-partitioned sink with one partition per worker, each worker writing its own items:
nothing crosses to another worker or process, and a partition's ``snapshot``, which Bytewax
calls at the end of every epoch in which it wrote (before that epoch counts as complete),
covers what its worker wrote in the epoch (engine/connectors/kafka_sink.py confirms its
deliveries there).

Bytewax 0.21.1 routes an item of a ``FixedPartitionedSink`` to the partition ``part_fn(key)``
indexes in the sorted set of every worker's ``list_parts``, and builds a partition on a worker
that listed it (the only one, if only one did). Neither call says which worker it runs on, but
both run on the worker's own thread, as does a ``DynamicSink``'s ``build(step_id, worker_index,
worker_count)``: ``WorkerProbe`` is such a sink, wired before this one's output
(engine/compiler/sinks.py), so each thread's worker is known by the time its partitions are
listed. (By thread id: Bytewax's calls come without a Python thread state of their own, so a
``threading.local`` is empty at the next call until engine/thread_state.py keeps one.)
``part_fn`` then ignores the key (the wiring's constant) and names the caller's own partition.

Names: ``00000``..``00255`` (or up to the worker count, when larger) whatever the number of workers
W; worker w lists those i with i % W == w and writes to w. A resumed run loads the snapshot of
every partition the store holds and Bytewax panics on one no worker lists, so the names must
not depend on W: a flow may resume with another number of workers.
"""

from __future__ import annotations

import threading
from typing import Dict, List, Tuple, TypeVar

from bytewax.outputs import DynamicSink, FixedPartitionedSink, StatelessSinkPartition

from engine.connectors.errors import ConnectorError

X = TypeVar("X")
S = TypeVar("S")
_NAMES = 256


class WorkerPartitionedSink(FixedPartitionedSink[X, S]):
    """Subclasses implement ``build_part``; the wiring adds ``worker_probe()`` before the output."""

    def __init__(self) -> None:
        self._workers: Dict[int, Tuple[int, int]] = {}  # thread id -> (worker index, worker count)

    def worker_probe(self) -> "WorkerProbe":
        return WorkerProbe(self._workers)

    def list_parts(self) -> List[str]:
        worker = self._workers.get(threading.get_ident())
        if worker is None:
            raise ConnectorError("internal: the sink's worker probe was not built on this worker's thread")
        index, count = worker
        return [_name(i) for i in range(max(_NAMES, count)) if i % count == index]

    def part_fn(self, item_key: str) -> int:
        return self._workers[threading.get_ident()][0]  # this worker's partition's index in the sorted names


def _name(index: int) -> str:
    return f"{index:05d}"  # sorted as numbers; kept in recovery stores: do not change


class WorkerProbe(DynamicSink[object]):
    """Notes, as Bytewax builds it on each worker's thread, that thread's worker; writes nothing
    (it is attached to a stream that rarely carries anything and drops what it gets)."""

    def __init__(self, workers: Dict[int, Tuple[int, int]]) -> None:
        self._workers = workers

    def build(self, step_id: str, worker_index: int, worker_count: int) -> "_Nothing":
        self._workers[threading.get_ident()] = (worker_index, worker_count)
        return _Nothing()


class _Nothing(StatelessSinkPartition[object]):
    def write_batch(self, items: List[object]) -> None:
        pass
