"""JSON Lines files: a bounded source that reads files in batches, and a one-file sink.

The source hands out undecoded lines (``RawBatch``) so decoding and its dead letters stay in
the decode step; every value keeps its exact 1-based line number for dead-letter origins. The
usual batch, with no blank line, is a ``LineBatch``: its lines as read, line ends and all.
The sink is exactly-once under recovery: its resume state is the file length at the last
snapshot, and a resumed run truncates whatever was written after it.
"""

from __future__ import annotations

import glob
import os
from itertools import islice
from typing import List, Optional, Tuple, cast

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import StatefulSinkPartition

from engine import run_context
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import encode_event
from engine.connectors.wiring import SinglePartitionSink
from engine.metrics import StepCounters
from engine.notices import notice
from engine.records import RawBatch
from engine.stopping import stop_requested

# (byte offset of the next line, its 1-based line number)
ReadState = Tuple[int, int]


def find_files(path: str, pattern: str = "*.jsonl") -> List[str]:
    """The files a ``path`` names: itself, the ``pattern`` matches of a directory, or a glob.

    Sorted, so partitions and their order are the same on every worker and every run.
    """
    if os.path.isfile(path):
        return [path]
    if os.path.isdir(path):
        # the directory's name is a name, not a pattern: 'in [1]' would match 'in 1' and never itself
        found = sorted(p for p in glob.glob(os.path.join(glob.escape(path), pattern)) if os.path.isfile(p))
        if not found:
            raise ConnectorError(f"file source: no file in '{path}' matches '{pattern}'")
        return found
    if glob.has_magic(path):
        found = sorted(p for p in glob.glob(path) if os.path.isfile(p))
        if not found:
            raise ConnectorError(f"file source: no file matches '{path}'")
        return found
    if os.path.exists(path):  # /dev/zero, a FIFO, a socket: no end, or no lines to resume at
        raise ConnectorError(f"file source: '{path}' is not a regular file or a directory")
    raise ConnectorError(f"file source: '{path}' does not exist")


class LineBatch(RawBatch):
    """The lines of a batch with no blank line, each as read, with its line end (``\\n`` or
    ``\\r\\n``): JSON reads a line end as white space, so the usual batch is decoded as read,
    with no copy of each line (``engine/operators/decode.py`` strips the line ends where the
    text itself matters: a dead letter's text, ``format: string``)."""

    __slots__ = ()
    line_ends = True

    def single(self, index: int) -> RawBatch:
        return RawBatch([cast(bytes, self.values[index]).rstrip(b"\r\n")], self.origin,
                        None if self.first_offset is None else self.first_offset + index)

    def __repr__(self) -> str:
        return f"LineBatch(values={self.values!r}, origin={self.origin!r}, first_offset={self.first_offset!r})"


def split_lines(lines: List[bytes], origin: str, first_line: int) -> List[RawBatch]:
    """Raw batches of the non-blank ``lines``, split at blank lines so line numbers stay exact.

    ``RawBatch.position(i)`` is ``first_offset + i``; a skipped blank line inside one batch would
    shift every later position, hence one batch per run of consecutive non-blank lines. A batch
    with no blank line (the usual one) is a ``LineBatch`` of the lines as read; the values of
    the others are the lines without their line ends.
    """
    if all(lines) and not any(map(bytes.isspace, lines)):  # no blank line: a test per line in C
        return [LineBatch(cast(List[Optional[bytes]], lines), origin, first_line)] if lines else []
    batches: List[RawBatch] = []
    values: List[Optional[bytes]] = []
    start = first_line
    for number, line in enumerate(lines, first_line):
        value = line.rstrip(b"\r\n")
        if value.strip():
            if not values:
                start = number
            values.append(value)
        elif values:
            batches.append(RawBatch(values, origin, start))
            values = []
    if values:
        batches.append(RawBatch(values, origin, start))
    return batches


class _JsonlReader(StatefulSourcePartition[RawBatch, ReadState]):
    """Reads one file from a byte offset, ``batch_size`` lines per call."""

    def __init__(self, path: str, batch_size: int, state: Optional[ReadState],
                 metrics: Optional[StepCounters]) -> None:
        self._path = path
        self._batch_size = batch_size
        self._metrics = metrics
        self._offset, self._line = state if state is not None else (0, 1)
        try:
            self._file = open(path, "rb")
        except OSError as exc:
            raise ConnectorError(f"file source: cannot open '{path}': {exc.strerror}") from None
        if self._offset:
            self._resume_check()
        self._file.seek(self._offset)

    def _resume_check(self) -> None:
        """A file that no longer holds what the snapshot counted, said in a notice, and read on
        (stopping would stop every restart too: a source file is no broken destination). One
        shorter than the offset (truncated, or rotated to a new file) is read again from its start,
        as ``tail -F`` and Filebeat do, instead of silently giving nothing; one grown where the
        offset is no longer a line's start (replaced, or an unterminated last line continued) is
        read on from the offset: that line's rest is a dead letter with its text, nothing is lost."""
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset:
            notice(f"file source: '{self._path}' is shorter ({size} bytes) than at the last snapshot "
                   f"({self._offset} bytes): truncated or replaced outside the flow; reading it again from its start")
            self._offset, self._line = 0, 1
            return
        if size == self._offset:  # nothing new: an unterminated last line read then is no matter
            return
        self._file.seek(self._offset - 1)
        if self._file.read(1) != b"\n":
            notice(f"file source: '{self._path}' changed since the last snapshot: byte {self._offset} no longer starts "
                   f"line {self._line} (the file was replaced, or its last line, read without a line end, was "
                   "continued); reading on from there")

    def next_batch(self) -> List[RawBatch]:
        if stop_requested():  # a clean stop: the snapshot keeps the offset of the next line
            raise StopIteration()
        lines = list(islice(self._file, self._batch_size))
        if not lines:
            raise StopIteration()
        batches = split_lines(lines, self._path, self._line)
        self._offset = self._file.tell()  # a binary file's tell() counts what the lines took: no sum per line
        self._line += len(lines)
        if self._metrics is not None:
            self._metrics.add(events_out=sum(len(b.values) for b in batches))
        return batches

    def snapshot(self) -> ReadState:
        return (self._offset, self._line)

    def close(self) -> None:
        self._file.close()


class JsonlSource(FixedPartitionedSource[RawBatch, ReadState]):
    """JSON Lines from a file, the ``pattern`` files of a directory, or a glob; bounded.

    One partition per file, so the files of a directory spread over the workers.
    """

    def __init__(self, path: str, pattern: str = "*.jsonl", batch_size: int = 1000,
                 metrics: Optional[StepCounters] = None) -> None:
        if batch_size < 1:
            raise ConnectorError(f"file source: batch_size must be at least 1, not {batch_size}")
        self.path = path
        self.pattern = pattern
        self.batch_size = batch_size
        self._metrics = metrics
        self.files = find_files(path, pattern)

    def list_parts(self) -> List[str]:
        return find_files(self.path, self.pattern)

    def build_part(self, step_id: str, for_part: str,
                   resume_state: Optional[ReadState]) -> _JsonlReader:
        return _JsonlReader(for_part, self.batch_size, resume_state, self._metrics)


class _JsonlWriter(StatefulSinkPartition[List[bytes], int]):
    """Appends batches of encoded lines to one file; its state is the file length."""

    def __init__(self, path: str, mode: str, state: Optional[int],
                 metrics: Optional[StepCounters], shown: Optional[str] = None) -> None:
        self._metrics = metrics
        # in messages: a share's file by its sink's path (see JsonlSink.build_part)
        self._shown = shown = shown or f"'{path}'"
        parent = os.path.dirname(path)
        try:
            if parent:
                os.makedirs(parent, exist_ok=True)
            self._file = open(path, "ab")
        except OSError as exc:
            raise ConnectorError(f"file sink: cannot open {shown}: {exc.strerror}") from None
        self._file.seek(0, os.SEEK_END)
        size = self._file.tell()
        if state is not None and state > size:
            self._file.close()
            raise ConnectorError(f"file sink: {shown} is shorter ({size} bytes) than at the last "
                                 f"snapshot ({state} bytes); it was changed outside the flow")
        if state is not None:
            self._file.truncate(state)
        elif mode == "overwrite":
            self._file.truncate(0)
        self._file.seek(0, os.SEEK_END)

    def write_batch(self, values: List[List[bytes]]) -> None:
        count = 0
        for lines in values:
            self._file.write(b"".join(lines))
            count += len(lines)
        self._file.flush()
        self._still_there()
        if self._metrics is not None:
            self._metrics.add(events_in=count, events_out=count)

    def snapshot(self) -> int:
        self._file.flush()
        self._still_there()
        return self._file.tell()

    def _still_there(self) -> None:
        """Writes to a file deleted (or renamed away and deleted) while the flow runs succeed, into
        nothing: one ``fstat`` per batch stops the flow instead of losing every later event."""
        if not os.fstat(self._file.fileno()).st_nlink:
            raise ConnectorError(f"file sink: {self._shown} was deleted while the flow ran")

    def close(self) -> None:
        self._file.close()


class JsonlSink(SinglePartitionSink[List[bytes], int]):
    """Events as JSON Lines in one file: one partition, so one writer and one order.

    Items must be ``(key, batch)`` pairs (Bytewax routes fixed-partition sinks by key); every
    key goes to the single partition. ``engine.connectors.wiring.output`` adds the key, and
    builds the partition when a fresh run starts, so ``overwrite`` empties the file even when
    the run writes nothing to it (``resume_state`` is None then; a resumed run passes the
    length at its snapshot).
    """

    opens_on_fresh_run = True

    def __init__(self, path: str, mode: str = "overwrite",
                 metrics: Optional[StepCounters] = None) -> None:
        if mode not in ("overwrite", "append"):
            raise ConnectorError(f"file sink: mode must be 'overwrite' or 'append', not '{mode}'")
        self.path = path
        self.mode = mode
        self._metrics = metrics

    @staticmethod
    def encoder():
        """``event -> JSON line``, run before the batch goes out (``Unwritable`` dead-letters)."""
        return encode_event

    def build_part(self, step_id: str, for_part: str, resume_state: Optional[int]) -> _JsonlWriter:
        share = run_context.share()  # one of N independent processes: a file of its own (engine/shares.py)
        if share is None or share.count == 1:
            return _JsonlWriter(self.path, self.mode, resume_state, self._metrics)
        # named in messages by the sink's own path, which the CLI's redaction knows: the share's name
        # of a path from the environment (x.share-0-of-2.jsonl) no longer holds the value it hides
        return _JsonlWriter(share.file(self.path), self.mode, resume_state, self._metrics,
                            shown=f"the file of share {share} of '{self.path}'")
