"""The Fast Storage survives `kill -9`: the shipped Kafka `fast_storage.yaml`, deployed while its
domain topics are being written, is killed with SIGKILL at 10 random moments and restarted
each time from its recovery store. At every kill point the DuckDB file opens and no row went
back to an older source position; after the last restart has drained the topics, every table
equals the simulator's ground truth (a workload with an initial snapshot and key moves)."""

import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import duckdb
from confluent_kafka import Producer

from cli.main import main
from engine.simulation import generate
from tests.test_velocity_golden import TABLES, rows

ROOT = pathlib.Path(__file__).parents[2]
DOMAINS = ("transport_order", "pickup", "trip")
KILLS = 10


def _positions(path: pathlib.Path) -> dict:
    """(table, key...) -> (lsn, seq) of every row's last applied change, as the file holds it."""
    con = duckdb.connect(str(path), read_only=True)  # must open at every kill point
    try:
        found = {}
        for table in TABLES:
            cursor = con.execute(f"SELECT * FROM _positions_{table}")
            names = [d[0] for d in cursor.description]
            for row in cursor.fetchall():
                record = dict(zip(names, row))
                key = tuple(str(v) for k, v in record.items() if not k.startswith("_"))
                if record["_lsn"] is not None:
                    found[(table, *key)] = (record["_lsn"], record["_seq"] if record["_seq"] is not None else -1)
        return found
    finally:
        con.close()


def _publish(bootstrap: str, prefix: str, domain_dir: pathlib.Path, done: threading.Event) -> None:
    """The domain events, a slice at a time, so the deployment is killed while they arrive."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    lines = {d: (domain_dir / f"{d}.jsonl").read_text().splitlines() for d in DOMAINS}
    slices = 20
    for index in range(slices):
        for domain, events in lines.items():
            part = events[index * len(events) // slices:(index + 1) * len(events) // slices]
            for line in part:
                producer.produce(f"{prefix}.domain.{domain}", line.encode(), key=json.loads(line)["key"].encode())
        producer.flush(30)
        time.sleep(0.7)
    done.set()


def test_fast_storage_killed_ten_times_ends_equal_to_the_truth(kafka_bootstrap, kafka_admin, tmp_path, monkeypatch):
    tms, out = tmp_path / "tms", tmp_path / "domain-out"
    generate(str(tms), orders=30, seed=11, with_schema=True, snapshot_after=15, key_moves=True)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("VF_TMS", str(tms))
    monkeypatch.setenv("VF_OUT", str(out))
    for topology in ("transport_order_domain", "pickup_domain", "trip_domain"):
        assert main(["run", "-q", f"topologies/velocity/{topology}.yaml"]) == 0, topology

    prefix = "kills" + uuid.uuid4().hex[:8]
    from confluent_kafka.admin import NewTopic
    for future in kafka_admin.create_topics([NewTopic(f"{prefix}.domain.{d}", 1, 1) for d in DOMAINS]).values():
        future.result(timeout=30)
    shipped = (ROOT / "topologies" / "velocity" / "fast_storage.yaml").read_text()
    topology = tmp_path / "fast_storage.yaml"
    topology.write_text(shipped.replace("group_id: velocity-fast-storage", f"group_id: {prefix}"))
    store = tmp_path / "store"
    env = {**os.environ, "KAFKA_BOOTSTRAP": kafka_bootstrap, "VF_OUT": str(store), "VF_KAFKA_TAIL": "true",
           "VF_DOMAIN_PREFIX": prefix}
    deploy = [sys.executable, "-m", "cli", "deploy", "-q", "-s", "1", "-r", str(tmp_path / "recovery"), "--env", "kafka",
              str(topology)]

    done = threading.Event()
    writer = threading.Thread(target=_publish, args=(kafka_bootstrap, prefix, out / "domain", done), daemon=True)
    writer.start()
    rng, seen, kills, written = random.Random(20261201), {}, 0, []
    while kills < KILLS:
        running = subprocess.Popen(deploy, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            time.sleep(rng.uniform(1.5, 7.0))  # batches every 5 s: some kills land mid-batch, some between
            assert running.poll() is None, running.stderr.read().decode()[-2000:]
        finally:
            running.send_signal(signal.SIGKILL)
            running.wait(timeout=30)
        kills += 1
        database = store / "fast_storage.duckdb"
        if database.exists():
            now = _positions(database)
            older = {k: (seen[k], v) for k, v in now.items() if k in seen and v < seen[k]}
            assert not older, f"kill {kills}: rows went back to older positions: {list(older.items())[:3]}"
            seen.update(now)
            written.append(len(now))
    writer.join(timeout=120)
    assert len(written) >= KILLS // 2 and max(written) > 0, written  # most kills hit a file mid-workload
    assert done.is_set()

    drained = subprocess.run(deploy, cwd=ROOT, env={**env, "VF_KAFKA_TAIL": "false"}, capture_output=True, text=True,
                             timeout=300)
    assert drained.returncode == 0, drained.stderr[-2000:]
    con = duckdb.connect(str(store / "fast_storage.duckdb"), read_only=True)
    for table in TABLES:
        truth = [json.loads(line) for line in (tms / "truth" / "tables" / f"{table}.jsonl").read_text().splitlines()]
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        assert rows([dict(zip(names, r)) for r in cursor.fetchall()], table) == rows(truth, table), table
    con.close()
    assert not [p for p in (store / "dead-letter").glob("*.jsonl") if p.read_text().strip()]
