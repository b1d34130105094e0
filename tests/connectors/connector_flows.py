"""Run small Bytewax flows through the connectors under test."""

from __future__ import annotations

from typing import List

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from bytewax.testing import TestingSink, TestingSource, run_main

from engine.connectors.wiring import output


def read_all(source) -> List:
    """Every RawBatch a source emits, through a real dataflow."""
    flow = Dataflow("read")
    out: List = []
    op.output("out", op.input("in", flow, source), TestingSink(out))
    run_main(flow)
    return out


def write_all(batches: List[List[dict]], sink) -> None:
    """Send event batches through a real dataflow into ``sink``, encoded as the compiler does."""
    flow = Dataflow("write")
    encode = sink.encoder()
    output("sink", op.input("in", flow, TestingSource([[encode(e) for e in b] for b in batches])), sink)
    run_main(flow)


class Encoding:
    """A sink partition fed with events: encodes each batch first, as the compiler's
    ``sink:<name>:encode`` step does, so tests can write events to a partition directly."""

    def __init__(self, sink, part) -> None:
        self.encode, self.part = sink.encoder(), part

    def write_batch(self, batches: List[List[dict]]) -> None:
        self.part.write_batch([[self.encode(e) for e in batch] for batch in batches])

    def __getattr__(self, name):
        return getattr(self.part, name)


def encode_each(part, events) -> tuple:
    """(the events ``part`` encoded, the reasons of those it refused): a sink's encoder, one event at a time."""
    from engine.connectors.errors import Unwritable

    kept, refused = [], []
    for event in events:
        try:
            part.encode(event)
            kept.append(event)
        except Unwritable as exc:
            refused.append(str(exc))
    return kept, refused
