"""JSON Lines files: a bounded source that reads files in batches, and a one-file sink.

The source hands out undecoded lines (``RawBatch``) so decoding and its dead letters stay in
the decode step; every value keeps its exact 1-based line number for dead-letter origins. The
usual batch, with no blank line, is a ``LineBatch``: its lines as read, line ends and all. It
reads blocks and never holds a line of more than ``MAX_VALUE_BYTES`` whole: such a line is a
``CutLine``, which the decode step dead-letters with its length.
The sink is exactly-once under recovery: its resume state is the file length at the last
snapshot, and a resumed run truncates whatever was written after it.
"""

from __future__ import annotations

import glob
import hashlib
import os
from io import BytesIO
from itertools import islice
from typing import List, Optional, Tuple, cast

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import StatefulSinkPartition

from engine import run_context
from engine.connectors.errors import ConnectorError
from engine.connectors.jsonl import encode_event
from engine.connectors.wiring import SinglePartitionSink
from engine.jsontext import MAX_DEAD_TEXT, MAX_VALUE_BYTES
from engine.metrics import StepCounters
from engine.notices import notice
from engine.records import RawBatch
from engine.stopping import stop_requested

# (byte offset of the next line, its 1-based line number, the mark of the bytes before it: _mark);
# a snapshot of an older version has no mark, and resumes unchecked
ReadState = Tuple[int, int, Optional[bytes]]
MARK_BYTES = 4096  # the bytes at each end of what was read that a resume checks are still there
BLOCK = 32 * 1024  # bytes read at a time, held per open file (every part of a source is open at once): lines
# split in C from a block beat a 4 KiB-buffered file (-12% CPU for 200-byte lines; 64 KiB -19%, 16 KiB even)


def _mark(fd: int, offset: int) -> Optional[bytes]:
    """A digest of the first and the last ``MARK_BYTES`` of the file's first ``offset`` bytes.

    A resume compares it with the file's bytes before the offset: another file under the name
    (replaced, or cut by logrotate's ``copytruncate`` then grown past the offset) has other ones.
    By content, not inode: an editor that saves by writing a new file and renaming it over the
    old one keeps the bytes but not the inode, and ``copytruncate`` keeps the inode, not the bytes.
    """
    if not offset:
        return None
    span = min(offset, MARK_BYTES)
    ends = os.pread(fd, span, 0) + (os.pread(fd, span, offset - span) if offset > span else b"")
    return hashlib.blake2b(ends, digest_size=16).digest()


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


class CutLine(bytes):
    """A line of more than ``MAX_VALUE_BYTES`` (a corrupt file, one with no line end, a binary
    file), never held whole: its first ``MAX_DEAD_TEXT`` bytes, and its length in bytes without
    its line end as its ``len()``. The decode step's length check dead-letters it with that
    length, and the first bytes as its text (``engine.jsontext.dead_text``); orjson reads no
    ``bytes`` subclass, so the batch's fast path refuses it too."""

    size: int

    def __new__(cls, head: bytes, size: int) -> "CutLine":
        line = super().__new__(cls, head)
        line.size = size
        return line

    def __len__(self) -> int:
        return self.size

    def rstrip(self, chars=None) -> "CutLine":  # no line end to take off: the marker stays
        return self

    def __reduce__(self):
        return CutLine, (bytes(self), self.size)

    def __repr__(self) -> str:
        return f"CutLine({bytes(self[:20])!r}..., {self.size})"


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
        if value.strip() or type(value) is CutLine:  # a line too long to look at is no blank line
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
    """Reads one file from a byte offset, ``batch_size`` lines per call, a block at a time."""

    def __init__(self, path: str, batch_size: int, state: Optional[tuple],
                 metrics: Optional[StepCounters]) -> None:
        self._path = path
        self._batch_size = batch_size
        self._metrics = metrics
        self._offset, self._line = state[:2] if state is not None else (0, 1)
        mark = state[2] if state is not None and len(state) > 2 else None
        self._marked = (self._offset, mark) if mark is not None else (-1, None)  # (offset, its mark): see snapshot
        self._limit = MAX_VALUE_BYTES
        self._block_size = min(BLOCK, self._limit)  # a line over the limit then always spans blocks
        try:
            self._file = open(path, "rb", buffering=0)
        except OSError as exc:
            raise ConnectorError(f"file source: cannot open '{path}': {exc.strerror}") from None
        if self._offset:
            self._resume_check(mark)
        self._file.seek(self._offset)
        self._block = BytesIO()  # the lines not handed out yet: from its tell() on
        self._start = self._end = self._offset  # the file offsets of the block's first byte and past its last

    def _resume_check(self, mark: Optional[bytes]) -> None:
        """A file that no longer holds what the snapshot counted, said in a notice, and read on
        (stopping would stop every restart too: a source file is no broken destination). One
        shorter than the offset (truncated, or rotated to a new file) or whose bytes before it are
        not those read (another file under the name: ``mark``) is read again from its start, as
        ``tail -F`` and Filebeat do, instead of silently giving nothing or the middle of another
        file; one grown where the offset is no longer a line's start (an unterminated last line
        continued; replaced, for a snapshot with no mark) is read on from the offset: that line's
        rest is a dead letter with its text, nothing is lost."""
        size = os.fstat(self._file.fileno()).st_size
        if size < self._offset:
            notice(f"file source: '{self._path}' is shorter ({size} bytes) than at the last snapshot "
                   f"({self._offset} bytes): truncated or replaced outside the flow; reading it again from its start")
            self._offset, self._line, self._marked = 0, 1, (-1, None)
            return
        if mark is not None and _mark(self._file.fileno(), self._offset) != mark:
            notice(f"file source: '{self._path}' is not the file read up to the last snapshot (its first "
                   f"{self._offset} bytes changed: replaced or rewritten outside the flow); reading it from its start")
            self._offset, self._line, self._marked = 0, 1, (-1, None)
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
        lines = list(islice(self._block, self._batch_size))
        if len(lines) < self._batch_size or not lines[-1].endswith(b"\n"):  # the block is used up
            lines = self._more(lines)
            if not lines:
                raise StopIteration()
        batches = split_lines(lines, self._path, self._line)
        self._offset = self._start + self._block.tell()
        self._line += len(lines)
        if self._metrics is not None:
            self._metrics.add(events_out=sum(len(b.values) for b in batches))
        return batches

    def _more(self, lines: List[bytes]) -> List[bytes]:
        """``lines``, the rest of a used-up block, topped up to a batch from the next blocks."""
        batch = self._batch_size
        tail = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""  # a line the block cut
        while self._next_block():
            if tail:
                lines.append(self._finish(tail))
                if len(lines) == batch:
                    return lines
            more = list(islice(self._block, batch - len(lines)))
            tail = more.pop() if more and not more[-1].endswith(b"\n") else b""
            lines += more
            if len(lines) == batch:
                return lines
        if tail:  # the last line, with no line end
            lines.append(tail)
        return lines

    def _next_block(self) -> bool:
        """The next block of the file; False at its end."""
        data = self._file.read(self._block_size)
        self._start, self._end = self._end, self._end + len(data)
        self._block = BytesIO(data)
        return bool(data)

    def _finish(self, start: bytes) -> bytes:
        """The line ``start`` (the end of the last block) begins, read on through the blocks. One
        of more than ``_limit`` bytes is a ``CutLine``: held whole only until it is known too long."""
        pieces = [start]  # the line so far; emptied once it is too long
        head, size, end = start[:MAX_DEAD_TEXT], len(start), start[-2:]
        while True:
            rest = self._block.readline()  # up to the block's first line end
            size += len(rest)
            end = (end + rest[-2:])[-2:]  # the line end may start in the block before
            if len(head) < MAX_DEAD_TEXT:
                head += rest[:MAX_DEAD_TEXT - len(head)]
            if pieces:
                pieces.append(rest)
                if size > self._limit + 2:  # longer than the longest value and its line end
                    pieces = []
            if rest.endswith(b"\n") or not self._next_block():
                break
        size -= 2 if end == b"\r\n" else 1 if end.endswith(b"\n") else 0
        if pieces and size <= self._limit:
            return b"".join(pieces)
        return CutLine(head[:size], size)

    def snapshot(self) -> ReadState:
        if self._marked[0] != self._offset:  # read since the last one: a file wholly read is marked once
            self._marked = (self._offset, _mark(self._file.fileno(), self._offset))
        return (self._offset, self._line, self._marked[1])

    def close(self) -> None:
        self.snapshot()  # marked while the file is open: a snapshot after the close is the same
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
                   resume_state: Optional[ReadState]) -> _JsonlReader:  # also (offset, line) of older versions
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
                                 f"snapshot ({state} bytes); it was changed outside the flow: restore it, or start "
                                 "afresh with a new recovery directory (-r)")
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
