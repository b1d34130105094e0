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
    """Send event batches through a real dataflow into ``sink``."""
    flow = Dataflow("write")
    output("sink", op.input("in", flow, TestingSource(batches)), sink)
    run_main(flow)
