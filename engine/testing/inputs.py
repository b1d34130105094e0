"""A test case's ``inputs`` of one step of its timeline: per source, the raw lines it reads.

An item that is a string is the raw line as the source would read it (malformed input is
testable); any other is written as one JSON line; ``{file: path}`` reads a JSON Lines file
beside the test file. Problems are reported at their place in the test file (``reader``).
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from typing import Any, List, Optional

from engine.binding.model import Topology
from engine.testing.timeline import Lines
from engine.topology.loader import NodePath


def read_inputs(reader: Any, value: Any, node: NodePath, topology: Topology, folder: str) -> Lines:
    data = reader.mapping(value if value is not None else {}, node, "'inputs'", tuple(topology.sources))
    if data is None:
        return {}
    out: Lines = {}
    for source, items in data.items():
        if source not in topology.sources:
            continue  # reported as an unknown key
        where = (*node, source)
        if isinstance(items, dict) and set(items) == {"file"} and isinstance(items["file"], str):
            out[source] = _file_lines(reader, os.path.join(folder, items["file"]), (*where, "file"))
        elif isinstance(items, list):
            out[source] = [_raw(reader, item, (*where, index)) for index, item in enumerate(items)]
        else:
            reader.problem(where, "inputs of a source are a list of events (mappings) or raw lines (strings), "
                                  "or {file: path}")
    return out


def _raw(reader: Any, item: Any, node: NodePath) -> bytes:
    """A string is the raw line as the source reads it; anything else is written as JSON."""
    if isinstance(item, str):
        return item.encode("utf-8", "surrogatepass")  # a lone surrogate escape: the source gets it as it is
    try:
        return json.dumps(item, default=_json_default, ensure_ascii=False, allow_nan=False).encode(
            "utf-8", "surrogatepass")
    except ValueError:  # .nan, .inf or 1e400: JSON has no such number, the line would be malformed
        reader.problem(node, "an event holds NaN or an infinity (.nan, .inf, 1e400), which JSON cannot write",
                       hint="write a finite number, or the raw line ('{\"x\": NaN}') to test malformed input")
    except TypeError as exc:  # e.g. !!binary bytes: YAML holds more kinds of value than JSON
        reader.problem(node, f"an event holds a value JSON cannot write: {exc}",
                       hint="write text, a number, a boolean, null, a list or a mapping")
    return b""


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be written as JSON")


def _file_lines(reader: Any, path: str, node: NodePath) -> List[Optional[bytes]]:
    try:
        if not os.path.isfile(path):  # a FIFO, /dev/zero or /dev/stdin: the case would wait or never end
            raise OSError(0, "not a regular file" if os.path.exists(path) else "No such file or directory")
        with open(path, "rb") as handle:
            return [line.rstrip(b"\r\n") for line in handle if line.strip()]
    except OSError as exc:
        reader.problem(node, f"cannot read input file {path!r}: {exc.strerror}")
        return []
