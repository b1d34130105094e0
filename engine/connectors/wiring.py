"""Connect a stream of batches to a sink: keyed when the sink needs keys, and named, so that a
failing destination stops the flow with one line naming the sink.

Bytewax routes the items of a ``FixedPartitionedSink`` by key, so it only accepts
``(key, value)`` pairs; our streams carry bare batches. The file and DuckDB sinks have a single
partition, so any constant key will do.

By the time items reach a sink they are encoded (``engine.compiler.sinks``): what can still
fail is the destination itself (a full disk, a broker gone past its timeout, a locked
database). Every failure of a sink partition becomes a ``ConnectorError`` saying
``sink '<name>': ...``.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, TypeVar

from bytewax.dataflow import Stream
from bytewax.outputs import DynamicSink, FixedPartitionedSink, Sink, StatefulSinkPartition, StatelessSinkPartition

from engine.connectors.errors import ConnectorError
from engine.connectors.lazy_operators import each, op
from engine.connectors.opening import opened

SINGLE_PARTITION_KEY = "0"
X = TypeVar("X")
S = TypeVar("S")


class SinglePartitionSink(FixedPartitionedSink[X, S]):
    """A fixed-partition sink with one partition, named by ``path`` (a file, a database): one
    writer and one order. Items are keyed by :func:`output`; every key goes to partition 0."""

    path: str

    def list_parts(self) -> List[str]:
        return [self.path]

    def part_fn(self, item_key: str) -> int:
        return 0


def _keyed(batch):
    return (SINGLE_PARTITION_KEY, batch)


def output(step_id: str, up: Stream, sink: Sink, name: Optional[str] = None) -> None:
    """``op.output`` for any of our sinks: adds the partition key for fixed-partition sinks;
    with ``name``, failures of the destination name the sink; a sink that declares
    ``opens_on_fresh_run`` is built when a fresh run starts (``engine.connectors.opening``)."""
    if getattr(sink, "opens_on_fresh_run", False):
        up = opened(f"{step_id}:open", up)
    if name is not None:
        sink = named(name, sink)
    if isinstance(sink, FixedPartitionedSink):
        up = each(f"{step_id}:key", up, _keyed)
    op.output(step_id, up, sink)


def named(name: str, sink: Sink) -> Sink:
    if isinstance(sink, FixedPartitionedSink):
        return _NamedFixed(name, sink)
    if isinstance(sink, DynamicSink):
        return _NamedDynamic(name, sink)
    return sink


def _call(name: str, fn: Callable, *args) -> Any:
    try:
        return fn(*args)
    except ConnectorError as exc:
        raise ConnectorError(f"sink '{name}': {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the destination failed: say which, in one line
        text = str(exc).strip().splitlines()
        raise ConnectorError(f"sink '{name}': {type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")) from None


def _close(partition) -> None:
    """Bytewax closes partitions while unwinding from a failure too, and an exception there
    aborts the process (a panic inside a destructor); the failure is already reported."""
    try:
        partition.close()
    except Exception:  # noqa: BLE001 - see above
        pass


class _NamedFixed(FixedPartitionedSink):
    def __init__(self, name: str, inner: FixedPartitionedSink) -> None:
        self.name, self.inner = name, inner

    def list_parts(self) -> List[str]:
        return _call(self.name, self.inner.list_parts)

    def part_fn(self, item_key: str) -> int:
        return self.inner.part_fn(item_key)

    def build_part(self, step_id: str, for_part: str, resume_state: Any) -> StatefulSinkPartition:
        return _NamedStateful(self.name, _call(self.name, self.inner.build_part, step_id, for_part, resume_state))


class _NamedStateful(StatefulSinkPartition):
    def __init__(self, name: str, inner: StatefulSinkPartition) -> None:
        self.name, self.inner = name, inner

    def write_batch(self, values: List[Any]) -> None:
        _call(self.name, self.inner.write_batch, values)

    def snapshot(self) -> Any:
        return _call(self.name, self.inner.snapshot)

    def close(self) -> None:
        _close(self.inner)


class _NamedDynamic(DynamicSink):
    def __init__(self, name: str, inner: DynamicSink) -> None:
        self.name, self.inner = name, inner

    def build(self, step_id: str, worker_index: int, worker_count: int) -> StatelessSinkPartition:
        return _NamedStateless(self.name, _call(self.name, self.inner.build, step_id, worker_index, worker_count))


class _NamedStateless(StatelessSinkPartition):
    def __init__(self, name: str, inner: StatelessSinkPartition) -> None:
        self.name, self.inner = name, inner

    def write_batch(self, items: List[Any]) -> None:
        _call(self.name, self.inner.write_batch, items)

    def close(self) -> None:
        _close(self.inner)
