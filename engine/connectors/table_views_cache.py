"""Views that DuckDB accepted before, remembered across processes, so that validating the same
topology again starts no DuckDB (loading its 66 MB extension and an instance: ~55 ms of cpu).

Only an accepted check is remembered (a refused one is checked again, so its message is always
DuckDB's and today's): one empty file per check under ``$XDG_CACHE_HOME/velocity-flow/views``
(``~/.cache/velocity-flow/views`` without it), named by the BLAKE2b hash of everything the outcome
depends on: the DuckDB extension file (path, size, modification time: another DuckDB is another
key), the code of the checks (table_checks.py's and duckdb_view_checks.py's text), and what
DuckDB was given (the tables' ``CREATE TABLE`` statements and the views' SQL). A changed view, table, DuckDB or check is
checked by DuckDB again. ``VELOCITY_FLOW_NO_CACHE=1`` turns the cache off; a cache directory
that cannot be written is no error (nothing is remembered).

The sinks themselves check their views at start as before: this only spares ``validate``.
Beside it (``views-quiet``), the topology texts whose last validate needed no DuckDB at all, for
views_helper.py to start no DuckDB helper for them (a guess, never a verdict).
"""

from __future__ import annotations

import json
import os
from importlib.machinery import PathFinder
from typing import Any, Optional, Sequence

from engine.code_cache import cache_root

try:
    from _blake2 import blake2b  # what hashlib.blake2b is, without hashlib loading OpenSSL (~3 ms)
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

_FORMAT = b"velocity-flow views cache 1\n"


def cache_directory() -> Optional[str]:
    """Where accepted checks are remembered, or None when the cache is off."""
    root = cache_root()
    return None if root is None else os.path.join(root, "views")


def _duckdb_identity() -> Optional[str]:
    """The DuckDB extension that would check the views (found, not loaded), or None when there
    is none to name (then nothing is remembered)."""
    spec = PathFinder.find_spec("_duckdb")
    if spec is None or not spec.origin:
        return None
    try:
        found = os.stat(spec.origin)
    except OSError:
        return None
    return f"{spec.origin}\0{found.st_size}\0{found.st_mtime_ns}"


def check_key(kind: str, checked: Any, checks_files: Sequence[str]) -> Optional[str]:
    """The name of the check of ``checked`` (JSON data: the statements DuckDB is given, in the
    order it is given them) by ``kind`` with the code in ``checks_files`` (the caller's own
    files: a change of the checks is a new key), or None when the cache is off or no DuckDB
    extension can be named."""
    identity = _duckdb_identity() if cache_directory() is not None else None
    if identity is None:
        return None
    checks_text = b""
    for checks_file in checks_files:
        with open(checks_file, "rb") as handle:
            checks_text += handle.read()
    digest = blake2b(_FORMAT, digest_size=32)
    for part in (identity.encode("utf-8", "surrogateescape"), checks_text, kind.encode(),
                 json.dumps(checked, default=str).encode("utf-8", "surrogatepass")):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def accepted_before(key: Optional[str]) -> bool:
    directory = cache_directory()
    return key is not None and directory is not None and os.path.isfile(os.path.join(directory, key))


def remember_accepted(key: Optional[str]) -> None:
    directory = cache_directory()
    if key is None or directory is None:
        return
    note(os.path.join(directory, key), True)  # not written (read-only home, full disk): checked again next time


def quiet_note(text: bytes) -> Optional[str]:
    """Where to note that validating exactly ``text`` (a topology file's bytes) needed no DuckDB
    last time, its views checks all remembered (views_helper.py then starts no helper for it),
    or None when the cache is off. Only a guess of what the next validate needs: the checks
    themselves are keyed as above."""
    directory = cache_directory()
    if directory is None:
        return None
    return os.path.join(os.path.dirname(directory), "views-quiet", blake2b(_FORMAT + text, digest_size=32).hexdigest())


def note(path: str, noted: bool) -> None:
    """Make (or remove) the empty file ``path``; a cache that cannot be written is no error."""
    try:
        if noted:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "ab"):
                pass
        else:
            os.remove(path)
    except OSError:
        pass
