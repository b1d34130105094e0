"""``--http`` on a Kafka -> Kafka flow with a real broker: /metrics counts exactly the known
input, with the lag of each partition and the times of the last event and delivery; with
``deploy -p 2`` one endpoint answers for both processes (a ``process`` label, summed status)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.kafka_io import produce
from tests.observe.scrape import address, api, metrics, sample

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """\
version: 1
name: watched
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: true, batch_size: 50, group_id: watched}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
sinks:
  out: {{kafka: {{brokers: "{bootstrap}", topic: {target}}}, from: typed}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""
GOOD, BAD = 2000, 100


def _flow(kafka_bootstrap, kafka_topic, tmp_path) -> tuple:
    source, target = kafka_topic("http-in", 2), kafka_topic("http-out", 2)
    events = [{"n": i} for i in range(GOOD)] + [{"n": "x", "i": i} for i in range(BAD)]
    produce(kafka_bootstrap, source, events, key=lambda e: e.get("i", e["n"]))
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=kafka_bootstrap, source=source, target=target, dir=tmp_path))
    return path, source


def _until_delivered(base: str, delivered, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    scraped: dict = {}
    while time.monotonic() < deadline:
        scraped = metrics(base)
        if delivered(scraped) == GOOD:
            return scraped
        time.sleep(0.3)
    raise AssertionError(f"not all delivered in {timeout}s")


def _stop(flow: subprocess.Popen) -> str:
    flow.send_signal(signal.SIGTERM)
    _, err = flow.communicate(timeout=90)
    assert flow.returncode == 0, err
    return err


def test_metrics_of_a_kafka_flow(kafka_bootstrap, kafka_topic, tmp_path):
    path, source = _flow(kafka_bootstrap, kafka_topic, tmp_path)
    status_file = tmp_path / "status.json"
    flow = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", str(path), "--http", "127.0.0.1:0",
                             "-s", "1", "--status-file", str(status_file)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = address(status_file)
        started = time.time()
        scraped = _until_delivered(base, lambda s: s.get(("velocity_flow_sink_delivered_total", (("sink", "out"),))))
        time.sleep(1.5)  # nothing more may come: the counters stay exactly at the input
        # an epoch's length is known from a partition's second snapshot: on a loaded box that can
        # come after the last delivery (it once had not, and the scrape below had no such sample)
        epochs = [("velocity_flow_epoch_seconds", (("partition", f"{source}#{p}"), ("source", "orders")))
                  for p in (0, 1)]
        deadline = time.monotonic() + 30
        while not all(key in (scraped := metrics(base)) for key in epochs) and time.monotonic() < deadline:
            time.sleep(0.3)
        for step, counts in {"orders": (GOOD + BAD, GOOD + BAD, 0), "typed": (GOOD + BAD, GOOD, BAD),
                             "dead_letter": (BAD, BAD, 0)}.items():
            assert tuple(sample(scraped, f"velocity_flow_step_{name}_total", step=step)
                         for name in ("events_in", "events_out", "dead_letters")) == counts, step
        assert sample(scraped, "velocity_flow_sink_delivered_total", sink="out") == GOOD
        assert sample(scraped, "velocity_flow_sink_failed_total", sink="out") == 0
        assert sample(scraped, "velocity_flow_sink_queued_messages", sink="out") == 0
        for partition in ("0", "1"):
            assert sample(scraped, "velocity_flow_source_lag_messages", source="orders", topic=source,
                          partition=partition) == 0
        last_delivery = sample(scraped, "velocity_flow_sink_last_delivery_timestamp_seconds", sink="out")
        assert started - 5 < last_delivery <= time.time()
        for partition in ("0", "1"):  # produced before the run: at most two minutes ago
            last_event = sample(scraped, "velocity_flow_source_last_event_timestamp_seconds", source="orders",
                                topic=source, partition=partition)
            assert started - 120 < last_event <= time.time()
        assert sample(scraped, "velocity_flow_step_batch_seconds_count", step="typed") >= (GOOD + BAD) / 50
        for partition in (f"{source}#0", f"{source}#1"):  # epochs of 1 s (-s 1), each ended by a snapshot
            epoch = sample(scraped, "velocity_flow_epoch_seconds", source="orders", partition=partition)
            assert 0.5 < epoch < 10, epoch
            snapshot = sample(scraped, "velocity_flow_source_last_snapshot_timestamp_seconds", source="orders",
                              partition=partition)
            assert time.time() - 10 < snapshot <= time.time()
        status = api(base, "status", "status")
        assert status["steps"]["typed"] == {"in": GOOD + BAD, "out": GOOD, "dead": BAD}
        assert status["connectors"]["orders"]["lag"] == 0
        assert api(base, "dead-letters", "dead_letters")["by_step"] == {"typed": BAD}
        assert api(base, "health", "health")["ok"] is True
    finally:
        if flow.poll() is None:
            _stop(flow)


def test_deploy_p2_serves_one_endpoint_for_both_processes(kafka_bootstrap, kafka_topic, tmp_path):
    path, source = _flow(kafka_bootstrap, kafka_topic, tmp_path)
    flow = subprocess.Popen([sys.executable, "-m", "cli", "deploy", "-q", str(path), "-p", "2", "-r",
                             str(tmp_path / "store"), "--http", "127.0.0.1:0"], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = None
        assert flow.stderr is not None
        for line in flow.stderr:
            if "for the 2 processes" in line:
                base = line.split()[1].rstrip("/")
                break
        assert base is not None

        def delivered(scraped):
            return sum(sample(scraped, "velocity_flow_sink_delivered_total", sink="out", process=p)
                       for p in ("0", "1") if ("velocity_flow_sink_delivered_total",
                                               (("process", p), ("sink", "out"))) in scraped)

        scraped = _until_delivered(base, delivered)
        assert sample(scraped, "velocity_flow_process_up", process="0") == 1
        assert sample(scraped, "velocity_flow_process_up", process="1") == 1
        assert sum(sample(scraped, "velocity_flow_step_dead_letters_total", step="typed", process=p)
                   for p in ("0", "1")) == BAD
        assert {p for (name, labels), _ in scraped.items() if name == "velocity_flow_source_lag_messages"
                for key, p in labels if key == "partition"} == {"0", "1"}
        status = api(base, "status", "status")
        assert status["steps"]["typed"] == {"in": GOOD + BAD, "out": GOOD, "dead": BAD}
        assert set(status["connectors"]["orders"]["lag_per_partition"]) == {f"{source}[0]", f"{source}[1]"}
        assert len(status["processes"]) == 2 and status["state"] == "running"
        dead = api(base, "dead-letters?limit=100", "dead_letters")
        assert dead["total"] == BAD and len(dead["recent"]) == BAD
        assert len(api(base, "topology", "topology")["nodes"]) == 4
    finally:
        if flow.poll() is None:
            _stop(flow)
