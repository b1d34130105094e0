"""Code objects of the source the engine generates, kept across processes as CPython keeps a
module's in ``__pycache__``.

A flow writes code out as it starts and at its first batches: expressions, the Debezium row
converters, the schema's quick check, the fused steps (~70 sources for the transport-order flow,
~100M instructions of its start and first batches). The same topology writes the same source every
time, and a code object depends on nothing else than its source, name and mode, and the
interpreter: ``compiled`` reads it back with ``marshal`` (~1/20 of compiling) from
``$XDG_CACHE_HOME/velocity-flow/code/<interpreter>/`` (``~/.cache/...`` without it), one file per
code object named by the BLAKE2b hash of the three. A source that does not compile raises as
before and is never kept.

What is not kept: source holding a value the environment gave the topology (``private``: a
password interpolated into an expression is written into its code as a literal, and the cache
must not put it on disk). ``VELOCITY_FLOW_NO_CACHE=1`` turns every cache of the engine off; a
directory that cannot be written, a file that cannot be read or that holds something else than
that code object, are no error (compiled as without the cache). A directory another user owns
or others may write in is not used (the code read from it would run here). At most ``KEEP``
files: past that, the first write of a process removes the older half.

``kept_rewrite`` does the same for the engine's rewrites of generated source (the passes over
Python's ``ast`` that reuse a field read, share an object test, read a change's fields as
arguments: ~115M instructions of the same flow's first batches): a rewrite is a function of its
text alone, kept under the name of the function and the size and time of its module's file (an
edited or upgraded module is another entry), in the same directory.
"""

from __future__ import annotations

import functools
import marshal
import os
import sys
import threading
from functools import lru_cache
from importlib.util import MAGIC_NUMBER
from types import CodeType
from typing import Callable, Dict, Iterable, Optional, Set, Tuple, TypeVar, Union

try:
    from _blake2 import blake2b  # what hashlib.blake2b is, without hashlib loading OpenSSL (~3 ms)
except ImportError:  # pragma: no cover - a Python built without it
    from hashlib import blake2b

KEEP = 10_000  # files (a topology writes ~100, ~1-10 KB each)
_KNOWN: Dict[Tuple[str, str, str], CodeType] = {}  # this process's, by (source, filename, mode)
_KNOWN_KEPT = 4096
_PRIVATE: Set[str] = set()  # texts no kept source may hold
_pruned = False
_ABSENT = object()
Rewrite = TypeVar("Rewrite", bound=Callable[[str], Optional[str]])


def cache_root() -> Optional[str]:
    """``$XDG_CACHE_HOME/velocity-flow`` (``~/.cache/velocity-flow``), or None when the engine's
    caches are off (``VELOCITY_FLOW_NO_CACHE``)."""
    if os.environ.get("VELOCITY_FLOW_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # the XDG rule: a relative path is to be ignored
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "velocity-flow")


def private(texts: Iterable[str]) -> None:
    """Texts (values from the environment) that no source kept on disk may hold."""
    _PRIVATE.update(text for text in texts if text)


def compiled(source: str, filename: str, mode: str) -> CodeType:
    """``compile(source, filename, mode)``, read back when this interpreter compiled it before."""
    key = (source, filename, mode)
    code = _KNOWN.get(key)
    if code is None:
        path = _path(source, filename, mode)
        found = _load(path) if path is not None else None
        code = found if type(found) is CodeType and found.co_filename == filename else None
        if code is None:
            code = compile(source, filename, mode)  # raises for source that does not compile: never kept
            if path is not None and not _holds_private(source):
                _write(path, code)
        if len(_KNOWN) >= _KNOWN_KEPT:
            _KNOWN.clear()
        _KNOWN[key] = code
    return code


def kept_rewrite(rewrite: Rewrite) -> Rewrite:
    """``rewrite`` (text -> text or None, a function of its text alone) remembered in this
    process and across processes, as ``compiled`` keeps code objects."""
    name = f"{rewrite.__module__}.{rewrite.__qualname__}"
    code = getattr(rewrite, "__code__", None)  # (none in the compiled core: its module's file names it)
    file = code.co_filename if code is not None else getattr(sys.modules.get(rewrite.__module__), "__file__", "")
    known: Dict[str, object] = {}

    @functools.wraps(rewrite)
    def remembered(text: str) -> object:
        found = known.get(text, _ABSENT)
        if found is _ABSENT:
            stamp = _module_stamp(file)  # (none: a module not read from a file, never kept)
            path = _path(text, name, "rewrite", stamp) if stamp else None
            found = _load(path) if path is not None else _ABSENT
            if found is not None and type(found) is not str:  # (a rewrite gives text or None)
                found = _ABSENT
            if found is _ABSENT:
                found = rewrite(text)
                if path is not None and not _holds_private(text):
                    _write(path, found)  # type: ignore[arg-type]  # (text or None)
            if len(known) >= _KNOWN_KEPT:
                known.clear()
            known[text] = found
        return found

    return remembered  # type: ignore[return-value]


@lru_cache(maxsize=64)
def _module_stamp(file: str) -> str:
    try:
        found = os.stat(file)
    except OSError:
        return ""
    return f"{file}\0{found.st_size}\0{found.st_mtime_ns}"


def _path(source: str, filename: str, mode: str, stamp: str = "") -> Optional[str]:
    directory = _directory(cache_root())
    if directory is None:
        return None
    digest = blake2b(MAGIC_NUMBER, digest_size=20)
    for part in (mode, filename, stamp, source):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return os.path.join(directory, digest.hexdigest())


@lru_cache(maxsize=8)
def _directory(root: Optional[str]) -> Optional[str]:
    """The interpreter's directory under ``root``; None (no cache) when it is another user's or
    others may write in it: code read from it is run (a shared ``XDG_CACHE_HOME``)."""
    if root is None:
        return None
    directory = os.path.join(root, "code", f"{sys.implementation.cache_tag}-{MAGIC_NUMBER.hex()}")
    try:
        found = os.stat(directory)
    except FileNotFoundError:
        return directory  # _write makes it, for this user alone
    except OSError:
        return None
    if (hasattr(os, "getuid") and found.st_uid != os.getuid()) or found.st_mode & 0o022:
        return None
    return directory


def _load(path: str) -> object:
    """What an entry holds, or ``_ABSENT``: none yet, or nothing marshal reads."""
    try:
        with open(path, "rb") as handle:
            return marshal.loads(handle.read())
    except (OSError, ValueError, EOFError, TypeError):
        return _ABSENT


def _holds_private(source: str) -> bool:
    # as the source may hold it: itself, or as repr() writes it in a literal
    return any(text in source or repr(text)[1:-1] in source for text in _PRIVATE)


def _write(path: str, code: Union[CodeType, str, None]) -> None:
    global _pruned
    directory = os.path.dirname(path)
    temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"  # (workers are threads)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not _pruned:
            _pruned = True
            _prune(directory)
        with open(temporary, "wb") as handle:
            handle.write(marshal.dumps(code))
        os.replace(temporary, path)  # whole or not at all, whoever reads it meanwhile
    except OSError:  # a read-only or full disk: nothing kept
        try:
            os.remove(temporary)
        except OSError:
            pass


def _prune(directory: str) -> None:
    """Past ``KEEP`` files, the older half removed (by modification time)."""
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    if len(entries) <= KEEP:
        return
    def written(entry) -> float:
        try:
            return entry.stat().st_mtime
        except OSError:
            return 0.0
    for entry in sorted(entries, key=written)[:len(entries) // 2]:
        try:
            os.remove(entry.path)
        except OSError:
            pass
