"""``--http-linger``: the page keeps serving the final state after a flow ends on its own, and a
stop (SIGTERM) ends it; a SIGTERM that stops the running flow ends the process too, with no
linger after it (before, the process stayed the whole linger: found as a 60 s timeout of
tests/cli/test_installed.py when its SIGTERM came while the one-event flow still ran)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.observe.scrape import address, api

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """\
version: 1
name: lingering
sources:
  s: {file: {path: in.jsonl, batch_size: 10}}
steps:
  - id: slow
    filter: "n >= 0"
sinks:
  out: {from: slow, file: {path: out.jsonl}}
"""


def _flow(tmp_path: Path, lines: int) -> subprocess.Popen:
    (tmp_path / "in.jsonl").write_text("".join(f'{{"n": {i}}}\n' for i in range(lines)))
    (tmp_path / "flow.yaml").write_text(TOPOLOGY)
    return subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", "flow.yaml", "--http", "127.0.0.1:0",
                             "--http-linger", "120", "--status-file", "status.json"], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _state(base: str) -> str:
    return api(base, "status", "status")["state"]


def _reached(base: str, state: str) -> None:
    deadline = time.monotonic() + 60
    while _state(base) != state and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(base) == state


def test_a_sigterm_that_stops_the_running_flow_ends_the_process_without_lingering(tmp_path):
    flow = _flow(tmp_path, 2_000_000)  # seconds of work: still running when the signal comes
    try:
        base = address(tmp_path / "status.json")
        _reached(base, "running")
        flow.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = flow.communicate(timeout=60)
        assert time.monotonic() - started < 30, err  # the linger is 120 s
        assert flow.returncode == 0 and "stopped cleanly" in err, err
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.communicate()


def test_a_flow_that_ends_on_its_own_keeps_serving_until_a_sigterm(tmp_path):
    flow = _flow(tmp_path, 3)
    try:
        base = address(tmp_path / "status.json")
        _reached(base, "finished")
        time.sleep(1.0)
        assert flow.poll() is None and _state(base) == "finished"  # lingering, serving the final state
        flow.send_signal(signal.SIGTERM)
        flow.communicate(timeout=30)
        assert flow.returncode == 0
    finally:
        if flow.poll() is None:
            flow.kill()
            flow.communicate()
