"""A stream-table join, an interval join and a lookup deployed on a real Kafka broker, killed with SIGKILL
mid-run and resumed, and spread over two processes: the joined output equals a crash-free
run's (docs/joins.md: rows, held and buffered events are keyed state in the recovery store;
the file sink resumes where the snapshot was taken). The sinks append, so a run that started
afresh instead of resuming would write the first run's pairs twice."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

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
      out: {{from: enriched, file: {{path: "{dir}/out.jsonl", mode: append}}}}
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


INTERVAL = """\
    version: 1
    name: interval-crash
    sources:
      departures: {{kafka: {{brokers: "{bootstrap}", topic: {departures}, tail: {tail}}}}}
      scans: {{kafka: {{brokers: "{bootstrap}", topic: {scans}, tail: {tail}}}}}
    steps:
      - id: near
        from: departures
        interval_join: {{with: scans, on: order, with_key: order, time: at, with_time: at,
                         before: 10m, after: 5m, allowed_lateness: 1h, fields: {{scan: id}}}}
    sinks:
      out: {{from: near, file: {{path: "{dir}/out.jsonl", mode: append}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """
T0 = datetime(2026, 11, 2, 6, 0, tzinfo=timezone.utc)
# 40 orders, each departing at minute 2k; scans every 3 minutes from 15 before to 9 after (in: -10..+5)
DEPARTURES = [{"order": f"o{k}", "at": (T0 + timedelta(minutes=2 * k)).isoformat()} for k in range(40)]
SCANS_BEFORE = [{"order": f"o{k}", "id": f"s{k}_{m}", "at": (T0 + timedelta(minutes=2 * k + m)).isoformat()}
                for k in range(40) for m in range(-15, 1, 3)]
SCANS_AFTER = [{"order": f"o{k}", "id": f"s{k}_{m}", "at": (T0 + timedelta(minutes=2 * k + m)).isoformat()}
               for k in range(40) for m in range(3, 10, 3)]


def interval_oracle(departures, scans):
    """Plain Python: every (order, scan) whose scan time lies in [departure - 10m, departure + 5m]."""
    at = datetime.fromisoformat
    return sorted((d["order"], s["id"]) for d in departures for s in scans if s["order"] == d["order"]
                  and at(d["at"]) - timedelta(minutes=10) <= at(s["at"]) <= at(d["at"]) + timedelta(minutes=5))


def _pairs(path):
    return sorted((e["order"], e["scan"]) for e in map(json.loads, path.read_text().splitlines()))


def test_a_killed_interval_join_resumes_with_its_buffered_events(kafka_bootstrap, kafka_topic, flow):
    """The scans before each departure are buffered; half the departures come only after a
    SIGKILL: they still meet the scans the killed run had buffered, and no pair is written twice."""
    departures, scans = kafka_topic("departures", partitions=2), kafka_topic("scans", partitions=2)
    values = {"bootstrap": kafka_bootstrap, "departures": departures, "scans": scans}
    command = [sys.executable, "-m", "cli", "deploy", "-q", "-w", "2", "-s", "0.3", "-r", str(flow.dir / "rec"),
               str(flow.dir / "interval.yaml")]
    flow.yaml(INTERVAL, "interval.yaml", tail="true", **values)
    produce(kafka_bootstrap, scans, SCANS_BEFORE, key=lambda s: s["order"])
    produce(kafka_bootstrap, departures, DEPARTURES[:20], key=lambda d: d["order"])
    before_kill = interval_oracle(DEPARTURES[:20], SCANS_BEFORE)
    out = flow.dir / "out.jsonl"
    running = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < len(before_kill)):
        time.sleep(0.1)
    time.sleep(1.0)  # a few snapshots holding the buffered scans
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    assert _pairs(out) == before_kill
    produce(kafka_bootstrap, departures, DEPARTURES[20:], key=lambda d: d["order"])
    produce(kafka_bootstrap, scans, SCANS_AFTER, key=lambda s: s["order"])
    flow.yaml(INTERVAL, "interval.yaml", tail="false", **values)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _pairs(out) == interval_oracle(DEPARTURES, SCANS_BEFORE + SCANS_AFTER)  # a crash-free run's
    assert not (flow.dir / "dead.jsonl").exists() or (flow.dir / "dead.jsonl").read_text() == ""


def test_two_processes_pair_every_departure_with_its_scans(kafka_bootstrap, kafka_topic, flow):
    departures, scans = kafka_topic("departures", partitions=2), kafka_topic("scans", partitions=2)
    flow.yaml(INTERVAL, "interval.yaml", tail="false", bootstrap=kafka_bootstrap, departures=departures, scans=scans)
    produce(kafka_bootstrap, scans, SCANS_BEFORE + SCANS_AFTER, key=lambda s: s["order"])
    produce(kafka_bootstrap, departures, DEPARTURES, key=lambda d: d["order"])
    command = [sys.executable, "-m", "cli", "deploy", "-q", "-p", "2", "-r", str(flow.dir / "rec"),
               str(flow.dir / "interval.yaml")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert _pairs(flow.dir / "out.jsonl") == interval_oracle(DEPARTURES, SCANS_BEFORE + SCANS_AFTER)


LOOKUP = """\
    version: 1
    name: lookup-crash
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {orders}, tail: {tail}}}}}
    steps:
      - id: enriched
        from: orders
        lookup: {{duckdb: "{db}", table: customer, key: id, on: customer, fields: {{name: name}}, how: left}}
    sinks:
      out: {{from: enriched, file: {{path: "{dir}/out.jsonl", mode: append}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_killed_lookup_resumes_without_losing_or_repeating_an_order(kafka_bootstrap, kafka_topic, flow):
    """A lookup keeps no state; a SIGKILL mid-run and a resume still give every order once, with
    its customer's name (the table is read-only reference data, unchanged across the runs)."""
    import duckdb

    db = str(flow.dir / "ref.duckdb")
    with duckdb.connect(db) as con:
        con.execute("CREATE TABLE customer (id VARCHAR PRIMARY KEY, name VARCHAR)")
        con.executemany("INSERT INTO customer VALUES (?, ?)", [(c["id"], c["name"]) for c in CUSTOMERS[:15]])
    orders = kafka_topic("orders", partitions=2)
    values = {"bootstrap": kafka_bootstrap, "orders": orders, "db": db}
    command = [sys.executable, "-m", "cli", "deploy", "-q", "-w", "2", "-s", "0.3", "-r", str(flow.dir / "rec"),
               str(flow.dir / "lookup.yaml")]
    flow.yaml(LOOKUP, "lookup.yaml", tail="true", **values)
    produce(kafka_bootstrap, orders, ORDERS[:200], key=lambda o: o["customer"])
    out = flow.dir / "out.jsonl"
    running = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 200):
        time.sleep(0.1)
    produce(kafka_bootstrap, orders, ORDERS[200:300], key=lambda o: o["customer"])
    time.sleep(0.5)  # killed while these are read, written, snapshotted, in any state
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    produce(kafka_bootstrap, orders, ORDERS[300:], key=lambda o: o["customer"])
    flow.yaml(LOOKUP, "lookup.yaml", tail="false", **values)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    names = {c["id"]: c["name"] for c in CUSTOMERS[:15]}
    joined = sorted((e["id"], e["name"]) for e in map(json.loads, out.read_text().splitlines()))
    assert joined == [(o["id"], names.get(o["customer"])) for o in ORDERS]  # a crash-free run's: once each
    assert not (flow.dir / "dead.jsonl").exists() or (flow.dir / "dead.jsonl").read_text() == ""
