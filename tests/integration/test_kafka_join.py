"""A stream-table join deployed on a real Kafka broker, killed with SIGKILL mid-run and resumed:
the joined output equals a crash-free run's (docs/joins.md: rows and held events are keyed
state in the recovery store; the file sink resumes where the snapshot was taken)."""

import json
import os
import signal
import subprocess
import sys
import time

from tests.integration.kafka_io import produce

JOIN = """\
    version: 1
    name: join-crash
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {orders}, tail: {tail}}}}}
      customers: {{kafka: {{brokers: "{bootstrap}", topic: {customers}, tail: {tail}}}}}
    steps:
      - id: enriched
        from: orders
        join: {{table: customers, on: customer, table_key: id, fields: {{name: name}}, wait: 1h}}
    sinks:
      out: {{from: enriched, file: {{path: "{dir}/out.jsonl"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ORDERS = [{"id": i, "customer": f"c{i % 20}"} for i in range(400)]
CUSTOMERS = [{"id": f"c{k}", "name": f"Customer {k}"} for k in range(20)]


def test_a_killed_join_resumes_with_its_table_and_held_events(kafka_bootstrap, kafka_topic, flow):
    orders, customers = kafka_topic("orders", partitions=2), kafka_topic("customers", partitions=2)
    out = flow.dir / "out.jsonl"
    command = [sys.executable, "-m", "cli", "deploy", "-q", "-w", "2", "-s", "0.3", "-r", str(flow.dir / "rec"),
               str(flow.dir / "join.yaml")]
    values = {"bootstrap": kafka_bootstrap, "orders": orders, "customers": customers}
    flow.yaml(JOIN, "join.yaml", tail="true", **values)
    # before the crash: customers c0..c9 exist; orders of c10..c19 wait for theirs
    produce(kafka_bootstrap, customers, CUSTOMERS[:10], key=lambda c: c["id"])
    produce(kafka_bootstrap, orders, ORDERS[:200], key=lambda o: o["customer"])
    running = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 100):
        time.sleep(0.1)
    time.sleep(1.0)  # a few snapshots with the held orders in them
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    assert len(out.read_text().splitlines()) == 100  # c0..c9's orders; the others wait
    # after it: the missing customers, then more orders; the resumed run ends at the end of the topics
    produce(kafka_bootstrap, customers, CUSTOMERS[10:], key=lambda c: c["id"])
    produce(kafka_bootstrap, orders, ORDERS[200:], key=lambda o: o["customer"])
    flow.yaml(JOIN, "join.yaml", tail="false", **values)
    assert subprocess.run(command, cwd=ROOT, capture_output=True, timeout=180).returncode == 0
    joined = sorted((e["id"], e["name"]) for e in map(json.loads, out.read_text().splitlines()))
    assert joined == [(o["id"], f"Customer {int(o['customer'][1:])}") for o in ORDERS]  # a crash-free run's
    assert not (flow.dir / "dead.jsonl").exists() or (flow.dir / "dead.jsonl").read_text() == ""


def test_two_processes_join_every_order(kafka_bootstrap, kafka_topic, flow):
    """deploy -p 2: the keys are spread over two processes; each order meets its customer."""
    orders, customers = kafka_topic("orders", partitions=2), kafka_topic("customers", partitions=2)
    flow.yaml(JOIN, "join.yaml", tail="false", bootstrap=kafka_bootstrap, orders=orders, customers=customers)
    produce(kafka_bootstrap, orders, ORDERS, key=lambda o: o["customer"])
    produce(kafka_bootstrap, customers, CUSTOMERS, key=lambda c: c["id"])
    command = [sys.executable, "-m", "cli", "deploy", "-q", "-p", "2", "-r", str(flow.dir / "rec"),
               str(flow.dir / "join.yaml")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    joined = sorted((e["id"], e["name"]) for e in map(json.loads, (flow.dir / "out.jsonl").read_text().splitlines()))
    assert joined == [(o["id"], f"Customer {int(o['customer'][1:])}") for o in ORDERS]
