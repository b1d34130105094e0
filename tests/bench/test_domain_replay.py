"""bench/domain_replay.py on a small backlog: it runs, and the engine's operators make the same
domain events as the hand-written peer (bench/domain_peer.py), an implementation written apart
from the engine, on the simulator's Debezium messages read in the sources' batch order."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_replay_finds_the_engine_and_the_peer_making_the_same_domain_events():
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "domain_replay.py"), "--transactions", "300",
                          "--rounds", "2", "--batch-size", "7"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    rounds = [line for line in run.stdout.splitlines() if line.startswith("round ")]
    assert len(rounds) == 2 and all("equal domain events" in line for line in rounds), run.stdout
    assert run.stdout.splitlines()[-1].startswith("ratio engine/peer CPU per message: ")
