"""``deploy -p N`` is one unit: a failing process stops the others (exit 3, one line naming it),
the processes die with their parent even on SIGKILL, and a second run of one recovery store is
refused while the first holds it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

TOPOLOGY = """\
version: 1
name: supervised
sources:
  events: {{file: {{path: "{dir}/in", batch_size: 1}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
sinks:
  out: {{from: typed, file: {{path: "{dir}/out.jsonl", mode: append}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


@pytest.fixture
def long_flow(tmp_path):
    (tmp_path / "in").mkdir()
    for part in range(2):  # one file per process
        (tmp_path / "in" / f"{part}.jsonl").write_text("".join(json.dumps({"n": i}) + "\n" for i in range(400000)))
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(dir=tmp_path))
    return path


def _deploy(path, recovery, *extra):
    return subprocess.Popen([sys.executable, "-m", "cli", "deploy", "-q", "-p", "2", "-s", "0.5", "-r", str(recovery),
                             str(path), *extra], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _children(parent: subprocess.Popen, count: int, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent.pid)], capture_output=True, text=True)
        found = [int(p) for p in listed.stdout.split()]
        if len(found) == count:
            return found
        time.sleep(0.1)
    raise AssertionError("the processes did not start")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


def _wait_gone(pids, timeout: float = 60.0) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _started(tmp_path, timeout=30.0):
    out = tmp_path / "out.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and out.stat().st_size > 1000:
            return
        time.sleep(0.1)
    raise AssertionError("the flow wrote nothing")


def test_a_dying_process_stops_the_others_and_deploy_exits_3_naming_it(long_flow, tmp_path):
    deploy = _deploy(long_flow, tmp_path / "rec")
    first, second = _children(deploy, 2)
    _started(tmp_path)
    os.kill(first, signal.SIGKILL)
    _, err = deploy.communicate(timeout=90)
    assert deploy.returncode == 3, err
    assert "Traceback" not in err and "panicked" not in err, err
    mine = [line for line in err.splitlines() if line.startswith("error: process")]
    assert len(mine) == 1 and mine[0].startswith("error: process 0 was killed by signal 9 (SIGKILL)"), err
    assert _wait_gone([second]) == []


def test_the_processes_die_with_their_parent_even_on_sigkill(long_flow, tmp_path):
    deploy = _deploy(long_flow, tmp_path / "rec")
    children = _children(deploy, 2)
    deploy.kill()
    deploy.wait(timeout=10)
    assert _wait_gone(children) == [], "orphans kept running after deploy was killed"


def test_a_clean_stop_of_deploy_exits_0_and_a_second_deploy_of_the_store_is_refused(long_flow, tmp_path):
    deploy = _deploy(long_flow, tmp_path / "rec")
    _children(deploy, 2)
    _started(tmp_path)
    second = _deploy(long_flow, tmp_path / "rec")
    _, err = second.communicate(timeout=90)
    assert second.returncode == 3 and "is in use by pid" in err, err
    deploy.send_signal(signal.SIGTERM)
    _, err = deploy.communicate(timeout=90)
    assert deploy.returncode == 0, err
    assert "panicked" not in err and "Traceback" not in err


def test_a_run_refuses_a_recovery_store_in_use(tmp_path):
    from engine.runtime.store_lock import StoreInUse, store_locked

    with store_locked(str(tmp_path)):
        with pytest.raises(StoreInUse, match=f"in use by pid {os.getpid()}"):
            with store_locked(str(tmp_path)):
                pass
        with store_locked(str(tmp_path), process_id=1):  # another process of the same cluster
            pass
    with store_locked(str(tmp_path)):  # released when the run ends
        pass
