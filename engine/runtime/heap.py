"""The C heap kept steady while a flow runs.

glibc's ``malloc`` gives the top of its heap back to the kernel as soon as more than
``M_TRIM_THRESHOLD`` (128 KiB by default) is free there. A flow allocates and frees a few
MiB per batch (list buffers, strings over 512 bytes, connector buffers), so in some runs the
heap is trimmed and grown again at every batch: ~140,000 page faults instead of ~8,000 for
300,000 events, and ~50% more CPU, decided by where the first allocations happened to land
(bench/boundaries.py prints each run's page faults). Keeping 32 MiB before trimming and
asking 4 MiB more each time the heap grows removes that, with no measurable change of peak
memory (RSS 49 MB both ways on bench/boundaries.py's flow).

Setting either value also ends glibc's *dynamic* mmap threshold (it rises, up to 32 MiB, each
time an mmapped block is freed) at whatever it has reached by then: after the imports it is
often several MiB, and from then on every large buffer of every batch lands on the heap, which
then kept ~80 MiB more at peak on the Velocity domain flow (bench/domain_cpu.py). So the
threshold is set, to 2 MiB: blocks over that are mapped and unmapped on their own. Not glibc's
initial 128 KiB (2026-12-01 to 12-03): librdkafka decompresses each fetched LZ4 message set into
a fresh 1-2 MiB buffer, which at 128 KiB was mapped, faulted in page by page and unmapped at
every fetch: ~40,000 of the domain drain's ~80,000 page faults. At 2 MiB they stay in the heaps
of librdkafka's broker threads: faults 81k -> 39k, CPU 0.90-0.94x, peak RSS +21 MiB (155 -> 176,
the peer's ~165; performance.md, "The C heap"). 1 MiB changed nothing, 4 MiB the same as 2.

Settings the user gives (``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_``, ``GLIBC_TUNABLES``)
are left alone; on a C library without ``mallopt`` (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's malloc.h
TRIM_THRESHOLD = 32 << 20
TOP_PAD = 4 << 20
MMAP_THRESHOLD = 2 << 20
_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def keep_heap() -> bool:
    """Set glibc's trim threshold, top pad and mmap threshold for this process; True if set."""
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    try:  # the process's own symbols hold the C library's: no ctypes.util (tempfile, shutil, random: ~5 ms)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        try:
            from ctypes.util import find_library

            mallopt = ctypes.CDLL(find_library("c") or "libc.so.6").mallopt
        except (OSError, AttributeError):
            return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(option, value) for option, value in
               ((M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD), (M_MMAP_THRESHOLD, MMAP_THRESHOLD)))
