"""The file source resumed (``run -r``) on a file that is no longer the one it read: another,
longer file under the name is read from its start with one notice naming it, never from the
middle at the remembered offset; the same file, appended to (or saved again by an editor that
writes a new file and renames it), resumes where it was, silently. Snapshots of older versions
((offset, line), no mark) still resume."""

from __future__ import annotations

import os
import re

from engine import notices
from engine.connectors.files import JsonlSource
from engine.runtime.runner import RunOptions
from tests.connectors.test_files_world import _values

FIRST = b'{"a":1}\n{"a":2}\n{"a":3}\n'  # read two lines: the offset is 16, a line's start in both files
OTHER = b'{"b":1}\n{"b":2}\n{"b":3}\n{"b":4}\n'  # a different file, longer


def _read_two(path):
    source = JsonlSource(str(path), batch_size=2)
    reader = source.build_part("in", str(path), None)
    reader.next_batch()
    state = reader.snapshot()
    reader.close()
    assert state[:2] == (16, 3)
    return source, state


def _resume(source, path, state):
    """The values the resumed reader gives, and the notices it wrote."""
    said: list = []
    before = notices.set_writer(said.append)
    try:
        return _values(source.build_part("in", str(path), state)), said
    finally:
        notices.set_writer(before)


def _said_replaced(said, path):
    assert len(said) == 1 and "\n" not in said[0], said
    assert re.fullmatch(rf"file source: '{re.escape(str(path))}' is not the file read up to the last snapshot "
                        r"\(its first 16 bytes changed: replaced or rewritten outside the flow\); "
                        r"reading it from its start", said[0]), said[0]


def test_a_longer_file_put_in_its_place_is_read_from_its_start(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(FIRST)
    source, state = _read_two(path)
    path.write_bytes(OTHER)  # before: read on from byte 16, '{"b":3}' and '{"b":4}', in silence
    values, said = _resume(source, path, state)
    assert values == OTHER.splitlines(keepends=True)
    _said_replaced(said, path)


def test_a_file_cut_by_copytruncate_and_grown_past_the_offset_is_read_from_its_start(tmp_path):
    """logrotate's copytruncate: the same inode, emptied, then written again beyond the offset."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(FIRST)
    source, state = _read_two(path)
    inode = os.stat(path).st_ino
    with open(path, "r+b") as same:
        same.truncate(0)
        same.write(OTHER)
    assert os.stat(path).st_ino == inode
    values, said = _resume(source, path, state)
    assert values == OTHER.splitlines(keepends=True)
    _said_replaced(said, path)


def test_a_file_appended_to_resumes_at_its_offset_silently(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(FIRST)
    source, state = _read_two(path)
    with open(path, "ab") as more:
        more.write(b'{"a":4}\n')
    assert _resume(source, path, state) == ([b'{"a":3}\n', b'{"a":4}\n'], [])


def test_a_file_saved_again_as_a_new_file_with_the_same_bytes_resumes_silently(tmp_path):
    """An editor's save: a new file (a new inode) renamed over the old one, the same lines and more."""
    path = tmp_path / "a.jsonl"
    path.write_bytes(FIRST)
    source, state = _read_two(path)
    (tmp_path / "a.jsonl.new").write_bytes(FIRST + b'{"a":4}\n')
    os.replace(tmp_path / "a.jsonl.new", path)
    assert _resume(source, path, state) == ([b'{"a":3}\n', b'{"a":4}\n'], [])


def test_a_long_file_is_marked_by_both_ends_of_what_was_read(tmp_path):
    """Past MARK_BYTES at each end, a change at the start or just before the offset is seen."""
    lines = [b'{"n":%d}\n' % n for n in range(2000)]
    path = tmp_path / "a.jsonl"
    path.write_bytes(b"".join(lines))
    source = JsonlSource(str(path), batch_size=1500)
    reader = source.build_part("in", str(path), None)
    reader.next_batch()
    state = reader.snapshot()
    reader.close()
    for changed in (0, 1499):
        other = list(lines)
        other[changed] = other[changed].replace(b"n", b"m")
        path.write_bytes(b"".join(other))
        values, said = _resume(source, path, state)
        assert len(values) == 2000 and len(said) == 1 and "is not the file read" in said[0]
    path.write_bytes(b"".join(lines))
    assert _resume(source, path, state) == (lines[1500:], [])


def test_a_snapshot_of_an_older_version_without_a_mark_still_resumes(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(FIRST)
    source, state = _read_two(path)
    with open(path, "ab") as more:
        more.write(b'{"a":4}\n')
    assert _resume(source, path, state[:2]) == ([b'{"a":3}\n', b'{"a":4}\n'], [])


TOPOLOGY = """\
version: 1
name: replaced
sources:
  in: {{file: {{path: "{dir}/in.jsonl", batch_size: 2}}}}
sinks:
  out: {{from: in, file: {{path: "{dir}/out.jsonl", mode: append}}}}
"""


def test_a_resumed_run_reads_a_replacing_file_whole(flow):
    """End to end through the recovery store: every line of the new file, none from its middle."""
    store = RunOptions(recovery_directory=str(flow.dir / "store"))
    (flow.dir / "in.jsonl").write_bytes(FIRST)
    assert flow.run(TOPOLOGY, store).rows("out") == [{"a": 1}, {"a": 2}, {"a": 3}]
    (flow.dir / "in.jsonl").write_bytes(FIRST + b'{"a":4}\n')  # appended: only the new line
    assert flow.run(TOPOLOGY, store).rows("out")[3:] == [{"a": 4}]
    (flow.dir / "in.jsonl").write_bytes(OTHER * 3)  # another file, longer than what was read
    assert flow.run(TOPOLOGY, store).rows("out")[4:] == [{"b": n} for n in (1, 2, 3, 4)] * 3
