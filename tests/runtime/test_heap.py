"""engine.runtime.heap: glibc's heap is kept, unless the user set malloc up themselves."""

import platform
import subprocess
import sys

import pytest

from engine.runtime import heap

GLIBC = platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_the_heap_is_kept_on_glibc(monkeypatch):
    for name in heap._USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert heap.keep_heap() is True


@pytest.mark.parametrize("name", heap._USER_SETTINGS)
def test_a_users_own_malloc_settings_are_left_alone(monkeypatch, name):
    monkeypatch.setenv(name, "1")
    assert heap.keep_heap() is False


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_churning_a_few_mib_per_round_no_longer_faults_pages_every_round():
    """The pattern of a flow's batches: a few MiB of C-heap buffers made and freed per round.
    With the default trim threshold glibc gives the top of the heap back each round and the
    next round faults it in again; with ``keep_heap`` it stays."""
    churn = (
        "import resource, sys\n"
        "from engine.runtime.heap import keep_heap\n"
        "if sys.argv[1] == 'kept': keep_heap()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(200):\n"
        "    blocks = [bytearray(100_000) for _ in range(30)]\n"  # below the mmap threshold: heap
        "    del blocks\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    faults = {mode: int(subprocess.run([sys.executable, "-c", churn, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("default", "kept")}
    assert faults["kept"] * 10 < faults["default"], faults


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_large_buffers_freed_after_keep_heap_go_back_to_the_kernel():
    """Freeing a 16 MiB block raises glibc's dynamic mmap threshold to 16 MiB; a ``mallopt`` made
    after that would freeze it there, and ten 3 MiB buffers would then stay on the kept heap
    after they are freed. ``keep_heap`` sets the threshold to 2 MiB: they are unmapped."""
    script = (
        "import os\n"
        "from engine.runtime.heap import keep_heap\n"
        "page = os.sysconf('SC_PAGE_SIZE')\n"
        "def rss(): return int(open('/proc/self/statm').read().split()[1]) * page\n"
        "big = bytearray(16 << 20); del big\n"  # the imports' large blocks did the same
        "assert keep_heap()\n"
        "before = rss()\n"
        "blocks = [bytearray(3 << 20) for _ in range(10)]\n"
        "del blocks\n"
        "print(rss() - before)\n")
    kept = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)
    assert kept < 4 << 20, f"{kept / 2**20:.1f} MiB still held after the buffers were freed"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_a_buffer_of_one_to_two_mib_made_and_freed_again_and_again_is_not_faulted_in_each_time():
    """librdkafka's pattern: each fetched LZ4 message set is decompressed into a fresh 1-2 MiB
    buffer, written whole, then freed. Under ``keep_heap``'s mmap threshold the buffer is reused
    from the heap; at glibc's initial 128 KiB each one was mapped and faulted in page by page."""
    churn = (
        "import ctypes, resource, sys\n"
        "from engine.runtime.heap import M_MMAP_THRESHOLD, keep_heap\n"
        "assert keep_heap()\n"
        "if sys.argv[1] == '128k': ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, 128 << 10)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(100):\n"
        "    buffer = bytearray(1_600_000)\n"
        "    buffer[::4096] = b'x' * len(range(0, 1_600_000, 4096))\n"  # every page written
        "    del buffer\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n")
    faults = {mode: int(subprocess.run([sys.executable, "-c", churn, mode], capture_output=True, text=True,
                                       check=True).stdout) for mode in ("kept", "128k")}
    assert faults["kept"] * 10 < faults["128k"], faults
