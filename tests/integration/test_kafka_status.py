"""``--status-file``: a running Kafka flow's state as JSON for scripts: step counters, the
source's lag per partition and last event time, the sink's last delivery, the brokers up; the
last write says how the run ended."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.kafka_io import produce

ROOT = Path(__file__).resolve().parents[2]

TOPOLOGY = """\
version: 1
name: status
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: true, batch_size: 50}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
sinks:
  out: {{kafka: {{brokers: "{bootstrap}", topic: {target}}}, from: typed}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def test_the_status_file_shows_counters_lag_and_deliveries(kafka_bootstrap, kafka_topic, tmp_path):
    source, target = kafka_topic("status-in", 2), kafka_topic("status-out")
    produce(kafka_bootstrap, source, [{"n": i} for i in range(2000)], key=lambda e: e["n"])
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=kafka_bootstrap, source=source, target=target, dir=tmp_path))
    status = tmp_path / "status.json"
    flow = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", str(path), "--status-file", str(status)],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 60
        seen = {}
        while time.monotonic() < deadline:
            seen = _read(status)
            if seen.get("steps", {}).get("typed", {}).get("out") == 2000 and \
                    "last_delivery" in seen.get("connectors", {}).get("sink:out", {}):
                break
            time.sleep(0.3)
        assert seen.get("state") == "running", seen
        assert seen["steps"]["typed"] == {"in": 2000, "out": 2000, "dead": 0}
        orders = seen["connectors"]["orders"]
        assert orders["lag"] == 0 and set(orders["lag_per_partition"]) == {f"{source}[0]", f"{source}[1]"}
        assert orders["last_event"].startswith("20") and orders.get("brokers", "up") == "up"
        assert seen["connectors"]["sink:out"]["last_delivery"].startswith("20")
        flow.send_signal(signal.SIGTERM)
        _, err = flow.communicate(timeout=60)
    finally:
        if flow.poll() is None:
            flow.kill()
    assert flow.returncode == 0, err
    assert _read(status)["state"] == "stopped"
