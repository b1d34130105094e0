"""``deploy -p 2`` of a Kafka -> PostgreSQL flow on a real broker and server: two independent
shares of the partitions (engine/shares.py), each writing the same tables through a connection
of its own (upserts and row changes take turns under an advisory lock, engine/connectors/
postgres_connection.py). Every event lands once; a change of a row read by the other share
never overwrites a newer one."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from confluent_kafka import Producer

from tests.integration.kafka_io import produce

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOPOLOGY = """\
version: 1
name: pg_shares
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, group_id: pg-shares, tail: false, metadata: true}}}}
steps:
  - id: typed
    cast: {{fields: {{id: int, kg: int}}}}
  - id: tagged
    map: {{keep: all, drop: [_meta], fields: {{partition: _meta.partition}}}}
sinks:
  latest:
    from: tagged
    postgres: {{dsn: "{dsn}", schema: {schema}, table: latest, mode: upsert, key: [id],
               columns: {{id: int, kg: int, partition: int}}}}
  seen:
    from: tagged
    postgres: {{dsn: "{dsn}", schema: {schema}, table: seen, columns: {{id: int, partition: int}}}}
dead_letter: {{file: {{path: "{dead}"}}}}
"""


def test_two_shares_write_one_database_every_event_once(kafka_bootstrap, kafka_topic, postgres_dsn,
                                                         postgres_schema, tmp_path):
    source = kafka_topic("pg-shares-in", 4)
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=kafka_bootstrap, source=source, dsn=postgres_dsn,
                                    schema=postgres_schema, dead=tmp_path / "dead.jsonl"))
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(3000):
        producer.produce(source, f'{{"id": {i}, "kg": 1}}'.encode(), partition=i % 4)
    producer.produce(source, b"{broken", partition=1)
    assert producer.flush(30) == 0
    deploy = [sys.executable, "-m", "cli", "deploy", "-p", "2", "-s", "0.5", "-r", str(tmp_path / "rec"), str(path)]
    first = subprocess.run(deploy, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert first.returncode == 0, first.stderr[-3000:]
    assert sorted(os.listdir(tmp_path / "rec")) == ["share-0-of-2", "share-1-of-2"]  # shares, not a cluster
    # the same ids again with other weights, read by the shares resumed from their stores
    produce(kafka_bootstrap, source, [{"id": i, "kg": 2} for i in range(0, 3000, 3)])
    second = subprocess.run(deploy, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    with psycopg.connect(postgres_dsn, options=f"-c search_path={postgres_schema}") as conn:
        latest = conn.execute("SELECT id, kg FROM latest ORDER BY id").fetchall()
        seen = conn.execute("SELECT count(*), count(DISTINCT id) FROM seen").fetchone()
    assert latest == [(i, 2 if i % 3 == 0 else 1) for i in range(3000)]
    assert seen == (4000, 3000)  # 3000 + 1000 again; nothing read twice across the restart
    letters = [(tmp_path / f"dead.share-{i}-of-2.jsonl") for i in range(2)]
    assert sum(len(f.read_text().splitlines()) for f in letters if f.exists()) == 1
