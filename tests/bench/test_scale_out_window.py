"""bench/scale_out_window.py: every process of a deployment under callgrind, and a window's
instructions the sum of the processes' dumps, not of what they did after them."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.scale_out_window import dumped, under_callgrind  # noqa: E402


def test_a_deployment_and_the_processes_it_starts_run_under_callgrind(tmp_path):
    command = under_callgrind(["python", "-m", "cli", "deploy", "-p", "2", "flow.yaml"], str(tmp_path))
    assert command[:2] == ["valgrind", "--tool=callgrind"] and "--trace-children=yes" in command
    assert "--fair-sched=yes" in command  # a spinning worker must not hold back the threads carrying progress
    assert command[-7:] == ["python", "-m", "cli", "deploy", "-p", "2", "flow.yaml"]
    assert f"--callgrind-out-file={tmp_path}/%p.out" in command


def _file(path, total):
    path.write_text(f"version: 1\ncreator: callgrind-3.19.0\ncmd: python -m cli run\nevents: Ir\n"
                    f"summary: {total}\n\nfl=x.c\nfn=f\n1 {total}\ntotals: {total}\n")


def test_a_window_counts_the_dumps_of_every_process_and_nothing_after_them(tmp_path):
    for pid, window, after in ((201, 3_000_000, 9_000_000), (202, 1_250_000, 7_000_000), (203, 40, 100)):
        _file(tmp_path / f"{pid}.out.1", window)
        _file(tmp_path / f"{pid}.out", after)  # written at the process's end: not the window's
    assert dumped(str(tmp_path)) == 4_250_040


def test_no_dump_is_no_figure(tmp_path):
    _file(tmp_path / "301.out", 5)
    with pytest.raises(SystemExit):
        dumped(str(tmp_path))


def test_a_native_window_counts_the_cpu_of_the_processes_and_their_children():
    import subprocess

    from bench.scale_out_window import cpu

    # 0.5 s burnt, 0.3 s asked: /proc counts in clock ticks, and CI saw 0.29 of a 0.3 s burn
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\ntime.sleep(9)"
    parent = subprocess.Popen(["sh", "-c", f"{sys.executable} -c '{burn}' & wait"])
    try:
        seconds = librdkafka = main = 0.0
        for _ in range(50):  # until the child has burnt 0.3 s of its 0.5
            seconds, librdkafka, main = cpu([parent])
            if seconds >= 0.3:
                break
            subprocess.run(["sleep", "0.1"])
        assert 0.3 <= seconds < 2.0  # the child's CPU, seen through the shell that started it
        assert librdkafka == 0.0  # no thread of it is librdkafka's
        assert main == 0.0  # its main thread does the work: no worker threads of Bytewax's beside it
    finally:
        subprocess.run(["pkill", "-P", str(parent.pid)])
        parent.kill()
        parent.wait()


def _named_thread_child(thread_name: bytes, thread_burn: float, main_burn: float):
    """A process with a thread named ``thread_name`` (as /proc shows it) that burns
    ``thread_burn`` CPU seconds while its main thread burns ``main_burn``; both then sleep (a
    thread that ended is no more in /proc)."""
    import subprocess

    burn = ("import ctypes, threading, time\n"
            "def burn(seconds):\n"
            "    t = time.thread_time()\n"
            "    while time.thread_time() - t < seconds: pass\n"
            "def named():\n"
            f"    ctypes.CDLL(None).prctl(15, {thread_name!r}, 0, 0, 0)\n"
            f"    burn({thread_burn})\n"
            "    time.sleep(9)\n"
            "threading.Thread(target=named).start()\n"
            f"burn({main_burn})\n"
            "time.sleep(9)")
    return subprocess.Popen([sys.executable, "-c", burn])


def _cpu_until(child, done) -> tuple:
    """``cpu([child])`` once ``done`` holds of it (or after 5 s)."""
    import time

    from bench.scale_out_window import cpu

    for _ in range(50):
        seen = cpu([child])
        if done(*seen):
            break
        time.sleep(0.1)
    return seen


def test_the_cpu_of_threads_named_as_librdkafka_names_its_own_is_told_apart():
    """A process whose busy thread is named ``rdk:broker1`` (as librdkafka names a broker
    thread, the one that busy-loops while its broker is slow): all of its CPU counts there too."""
    child = _named_thread_child(b"rdk:broker1", 0.4, 0.0)
    try:
        seconds, librdkafka, main = _cpu_until(child, lambda _, librdkafka, __: librdkafka >= 0.3)
        assert 0.3 <= librdkafka <= seconds < 2.0
        assert main == 0.0  # no worker thread of Bytewax's: the main thread is not a waiting one
    finally:
        child.kill()
        child.wait()


def test_the_main_thread_of_a_process_whose_workers_have_threads_of_their_own_is_told_apart():
    """A cluster's process runs its Bytewax worker on a thread named ``timely:work-0`` and its main
    thread only waits (and wakes every 1 ms): the main thread's CPU counts there; the worker's not."""
    child = _named_thread_child(b"timely:work-0", 0.2, 0.4)
    try:
        seconds, librdkafka, main = _cpu_until(child, lambda seconds, _, main: main >= 0.35 and seconds >= 0.55)
        assert 0.35 <= main <= 0.6  # the main thread's 0.4 s, not the worker's 0.2 s
        assert main + 0.15 <= seconds < 2.0 and librdkafka == 0.0
    finally:
        child.kill()
        child.wait()
