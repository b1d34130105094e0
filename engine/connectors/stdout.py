"""Print events to standard output: compact JSON Lines, or colored and indented with rich."""

from __future__ import annotations

import sys
import threading
from typing import List, Optional

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import encode_event, encode_value
from engine.metrics import StepCounters

# Workers are threads of one process: one lock keeps a batch's lines together.
_STDOUT_LOCK = threading.Lock()


def _write_bytes(data: bytes) -> None:
    """Write to the binary buffer when there is one (no text decoding), else as text.

    ``sys.stdout`` is looked up on every call so redirections (tests, the live view) apply.
    """
    stream = sys.stdout
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(data.decode("utf-8"))
        stream.flush()
        return
    stream.flush()
    buffer.write(data)
    buffer.flush()


class _StdoutWriter(StatelessSinkPartition[List[bytes]]):
    def __init__(self, pretty: bool, metrics: Optional[StepCounters]) -> None:
        self._pretty = pretty
        self._metrics = metrics

    def write_batch(self, items: List[List[bytes]]) -> None:
        count = sum(len(lines) for lines in items)
        with _STDOUT_LOCK:
            for lines in items:
                if self._pretty:
                    _print_pretty(lines)
                else:
                    _write_bytes(b"".join(lines))
        if self._metrics is not None:
            self._metrics.add(events_in=count, events_out=count)


def _print_pretty(encoded: List[bytes]) -> None:
    from rich.console import Console  # only the pretty format pays for importing rich

    console = Console(file=sys.stdout)
    for value in encoded:
        console.print_json(value.decode("utf-8"))


class StdoutSink(DynamicSink[List[bytes]]):
    """Every worker prints its own batches (at-least-once: nothing to resume)."""

    def __init__(self, format: str = "json", metrics: Optional[StepCounters] = None) -> None:
        if format not in ("json", "pretty"):
            raise ConnectorError(f"stdout sink: format must be 'json' or 'pretty', not '{format}'")
        self.format = format
        self._metrics = metrics

    def encoder(self):
        """``event -> JSON`` (a line, or one value to indent), run before the batch goes out."""
        return encode_value if self.format == "pretty" else encode_event

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _StdoutWriter:
        return _StdoutWriter(self.format == "pretty", self._metrics)
