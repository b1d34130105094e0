"""Connect a stream of batches to a sink, keying it when the sink needs keys.

Bytewax routes the items of a ``FixedPartitionedSink`` by key, so it only accepts
``(key, value)`` pairs; our streams carry bare batches. The file and DuckDB sinks have a single
partition, so any constant key will do.
"""

from __future__ import annotations

import bytewax.operators as op
from bytewax.dataflow import Stream
from bytewax.outputs import FixedPartitionedSink, Sink

SINGLE_PARTITION_KEY = "0"


def _keyed(batch):
    return (SINGLE_PARTITION_KEY, batch)


def output(step_id: str, up: Stream, sink: Sink) -> None:
    """``op.output`` for any of our sinks: adds the partition key for fixed-partition sinks."""
    if isinstance(sink, FixedPartitionedSink):
        up = op.map(f"{step_id}:key", up, _keyed)
    op.output(step_id, up, sink)
