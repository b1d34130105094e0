"""Re-injecting dead letters into a (fixed) topology: which source each one is fed to, what
raw value it is fed as, and how each one ended (``velocity-flow replay``).

* **Source.** A decode dead letter (its step is the source's name) names its source; otherwise the origin
  does: ``path:line`` belongs to the file source whose path, directory (with its pattern) or
  glob holds that path; ``topic[p]@offset`` to the kafka source reading that topic. A dead
  letter with no origin, or one no source (or several) matches, goes to ``fallback`` (the
  ``--source`` option) or is not replayed.
* **Raw value.** The event as the source decoded it is written back as the JSON text it came
  from (decimals exact), so it runs the source's decode step again with the fixed topology;
  the raw text of an undecodable line is fed as that text (a line fixed by switching the
  source to ``format: string`` decodes now). With ``format: string``/``bytes`` the event
  ``{"value": text}`` is fed as its text. A text the dead letter kept cut short cannot be.
* **Outcome.** Each dead letter is fed as a batch of its own whose origin is ``replay:<n>``,
  so a tap on a sink (its batches know their raw batch, engine/lineage.py) and a new dead
  letter say which one it was; the dead-letter sink writes the original origin back.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from engine.binding.model import SourceSpec, Topology
from engine.connectors.jsonl import encode_value
from engine.lineage import Batch
from engine.records import DeadLetter, RawBatch

REPLAY_ORIGIN = "replay"
_KAFKA_ORIGIN = re.compile(r"^(?P<topic>.+)\[(?P<partition>-?\d+)\]@(?P<offset>\d+)$")
_FILE_ORIGIN = re.compile(r"^(?P<path>.+):(?P<line>\d+)$")
_CUT = re.compile(r"\.\.\. \[cut: \d+ (bytes|characters) in all, the first \d+ kept\]$")


@dataclass
class Letter:
    """One dead-letter record to replay: its line in the file and what it said."""

    line: int
    record: Dict[str, Any]
    source: Optional[str] = None
    skipped: Optional[str] = None  # why it is not replayed

    @property
    def step(self) -> str:
        return str(self.record.get("step"))

    @property
    def origin(self) -> Optional[str]:
        origin = self.record.get("origin")
        return origin if isinstance(origin, str) else None


def source_of(topology: Topology, letter: Letter) -> Tuple[Optional[str], str]:
    """(the source to feed ``letter`` to, or None; why not)."""
    step = letter.step
    if step in topology.sources:  # its decode step: the source itself
        return step, ""
    origin = letter.origin
    if origin is None:
        return None, "it has no origin"
    found = [name for name, spec in topology.sources.items() if _reads(spec, origin)]
    if len(found) == 1:
        return found[0], ""
    if found:
        return None, f"its origin {origin} matches several sources ({', '.join(found)})"
    return None, f"no source of the topology reads its origin {origin}"


def _reads(spec: SourceSpec, origin: str) -> bool:
    options = spec.options
    if spec.kind == "kafka":
        match = _KAFKA_ORIGIN.match(origin)
        if not match:
            return False
        topic = match.group("topic")
        topics = [options["topic"]] if options.get("topic") else list(options.get("topics") or [])
        pattern = options.get("pattern")
        return topic in topics or bool(pattern and re.fullmatch(pattern, topic))
    if spec.kind == "file":
        match = _FILE_ORIGIN.match(origin)
        if not match:
            return False
        path, declared = os.path.abspath(match.group("path")), str(options.get("path", ""))
        if glob.has_magic(declared):
            return fnmatch.fnmatch(path, os.path.abspath(declared))
        if os.path.abspath(declared) == path:
            return True
        return os.path.dirname(path) == os.path.abspath(declared) and \
            fnmatch.fnmatch(os.path.basename(path), str(options.get("pattern", "*.jsonl")))
    return False


def raw_value(spec: SourceSpec, event: Any) -> Tuple[Optional[bytes], str]:
    """(the value to feed the source's decode step, or None and why there is none)."""
    if isinstance(event, str) and _CUT.search(event):
        return None, "the dead letter kept only the start of its text"
    if isinstance(event, dict) and "_meta" in event:  # given back as the raw batch's meta
        event = {k: v for k, v in event.items() if k != "_meta"}
    try:  # a hand-made record's event may be no JSON or UTF-8 (lone surrogates, nested past orjson's limit)
        if isinstance(event, str):
            return event.encode("utf-8"), ""
        if spec.options.get("format", "json") != "json" and isinstance(event, dict) and set(event) == {"value"} \
                and isinstance(event["value"], str):
            return event["value"].encode("utf-8"), ""
        return encode_value(event), ""
    except ValueError as exc:  # Unwritable, UnicodeEncodeError
        return None, f"its event cannot be written back as the source's input: {exc}"


def plan(topology: Topology, letters: List[Letter], fallback: Optional[str] = None) -> Dict[str, List[RawBatch]]:
    """source name -> one raw batch per replayable letter (origin ``replay:<index in letters>``);
    sets ``source`` or ``skipped`` on each letter."""
    batches: Dict[str, List[RawBatch]] = {}
    for index, letter in enumerate(letters):
        if letter.skipped:
            continue
        name, why = source_of(topology, letter)
        if name is None and fallback is not None:
            name = fallback
        if name is None:
            letter.skipped = why
            continue
        event = letter.record.get("event")
        meta = event.get("_meta") if isinstance(event, dict) and isinstance(event.get("_meta"), dict) else None
        value, why = raw_value(topology.sources[name], event)
        if value is None:
            letter.skipped = why
            continue
        letter.source = name
        metas = None if meta is None else [meta]
        batches.setdefault(name, []).append(RawBatch([value], REPLAY_ORIGIN, index, meta=metas))
    return batches


def letter_index(origin: Optional[str]) -> Optional[int]:
    """The index of ``replay:<n>``, the position of a replayed value."""
    if origin and origin.startswith(REPLAY_ORIGIN + ":"):
        tail = origin[len(REPLAY_ORIGIN) + 1:]
        return int(tail) if tail.isdigit() else None
    return None


@dataclass
class Outcomes:
    """What became of the replayed letters: which reached a sink, their new dead letters."""

    reached: set = field(default_factory=set)  # letter indexes
    reached_unknown: int = 0  # events past a keyed step (the way back ends there)
    dead: Dict[int, List[DeadLetter]] = field(default_factory=dict)
    dead_unknown: List[DeadLetter] = field(default_factory=list)

    def sink_batch(self, batch: list) -> None:
        if isinstance(batch, Batch) and batch:
            index = letter_index(batch.root.raw.position(0))
            if index is not None:
                self.reached.add(index)
                return
        self.reached_unknown += len(batch)

    def dead_batch(self, batch: list) -> None:
        for dead in batch:
            index = letter_index(dead.origin)
            if index is None:
                self.dead_unknown.append(dead)
            else:
                self.dead.setdefault(index, []).append(dead)


def origin_restored(encode, letters: List[Letter]):
    """The dead-letter sink's encoder, writing each record's original origin back."""

    def restore(record: dict):
        index = letter_index(record.get("origin"))
        if index is not None and 0 <= index < len(letters):
            record = {**record, "origin": letters[index].origin}
        return encode(record)

    return restore
