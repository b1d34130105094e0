"""Sinks in the dataflow: each sink's encoding runs as a guarded step before its output.

A sink declares ``encoder() -> (event -> item)``: the item is what its partition writes (a
JSON line, a Kafka message, a checked DuckDB row); it may also declare ``batch_encoder() ->
(events -> items)``, the same items for a whole batch in one call. Encoding is pure, so it runs inside the
error boundary (``engine.operators.boundary``) as the step ``sink:<name>:encode``: an event
the destination could not take (an integer beyond 64 bits, nesting deeper than JSON allows,
a NULL primary key) becomes a dead letter of ``sink:<name>`` and the rest is written. What
reaches the sink's ``write_batch`` can then only fail when the destination itself does (disk
full, broker gone, database locked): that stops the flow, with one line naming the sink.

The dead-letter sink cannot dead-letter its own records; a record whose event cannot be
encoded is written with the event as (capped) text instead, so it is never lost either.
"""

from __future__ import annotations

from typing import Callable, List, Optional

from bytewax.dataflow import Stream

from engine.compiler.connectors import Build, attach_gauges, declared
from engine.compiler.steps import StepOut, batch_step, counted
from engine.connectors.jsonl import encode_value
from engine.connectors.lazy_operators import op
from engine.connectors.wiring import output
from engine.metrics import Gauges, StepCounters
from engine.operators.boundary import guard
from engine.records import DeadLetter

MAX_DEAD_EVENT_BYTES = 1 << 20  # a dead letter carries at most 1 MiB of its event


def wire_sink(name: str, spec, up: Stream, counters: StepCounters, dead: List[Stream], build: Build = declared,
              gauges: Optional[Gauges] = None) -> None:
    """``up`` -> ``sink:<name>:encode`` -> the sink; encoding failures join ``dead``."""
    sink = build("sink", spec, counters)
    step_id = f"sink:{name}"
    if gauges is not None:
        attach_gauges(sink, gauges)
    encoded = batch_step(f"{step_id}:encode", up, guard(step_id, _encoding(sink), keep_lineage=False))
    dead.append(encoded.dead)
    _output(step_id, encoded, sink, name)


def wire_dead_letter_sink(step_id: str, spec, dead: Stream, counters: StepCounters, build: Build = declared) -> None:
    sink = build("sink", spec, counters)
    encode = _dead_letter_encoder(sink.encoder())
    encoded = batch_step(f"{step_id}:encode", dead, counted(lambda batch: ([encode(d) for d in batch], []), None))
    _output(step_id, encoded, sink, "dead_letter")


def _output(step_id: str, encoded: StepOut, sink, name: str) -> None:
    """The sink's output; before it, for a sink with a partition per worker
    (engine/connectors/worker_parts.py), its worker probe: built first, on each worker's thread,
    it tells the sink that thread's worker. The encoding's dead letters are the probe's input
    only because it needs one (it drops them; the dead-letter sink has them)."""
    probe = getattr(sink, "worker_probe", None)
    if probe is not None:
        op.output(f"{step_id}:worker", encoded.dead, probe())
    output(step_id, encoded.ok, sink, name)


def _encoding(sink) -> Callable:
    """The encode step's work: the sink's ``batch_encoder()`` (one call per batch) if it has
    one, else its ``encoder()`` once per event."""
    batch_encoder = getattr(sink, "batch_encoder", None)
    if batch_encoder is not None:
        encode_all = batch_encoder()

        def process_all(batch: list):
            return encode_all(batch), []

        return process_all
    encode = sink.encoder()

    def process(batch: list):
        return [encode(event) for event in batch], []

    return process


def _dead_letter_encoder(encode: Callable) -> Callable[[DeadLetter], object]:
    def encode_dead_letter(dead: DeadLetter):
        record = dead.to_record()
        try:
            item = encode(record)
        except Exception as exc:  # noqa: BLE001 - the record is kept, its event as text
            return encode(_as_text(record, "event written as text" if str(exc) in record["error"]
                                   else f"event written as text: {exc}"))
        if _size(item) > MAX_DEAD_EVENT_BYTES:
            return encode(_as_text(record, f"event over {MAX_DEAD_EVENT_BYTES} bytes, written as capped text"))
        return item

    return encode_dead_letter


def _as_text(record: dict, why: str) -> dict:
    try:  # JSON text when the event is JSON but too big; Python's repr when it cannot be JSON
        text = encode_value(record["event"]).decode("utf-8")
    except Exception:  # noqa: BLE001 - any event can still be shown
        text = repr(record["event"])
    if len(text) > MAX_DEAD_EVENT_BYTES // 4:
        text = f"{text[:MAX_DEAD_EVENT_BYTES // 4]}... ({len(text)} characters in all)"
    text = text.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    return {**record, "event": text, "error": f"{record['error']} [{why}]"}


def _size(item) -> int:
    if isinstance(item, (bytes, str)):
        return len(item)
    if isinstance(item, tuple):  # a Kafka message or a DuckDB row
        return sum(len(v) for v in item if isinstance(v, (bytes, str)))
    return 0
