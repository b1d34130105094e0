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
