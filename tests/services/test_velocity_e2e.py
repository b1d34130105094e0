"""The real CDC path end to end: SQL transactions on PostgreSQL -> Debezium -> Kafka technical
topics -> `velocity-flow deploy` of the shipped Kafka topologies -> domain topics, Fast Storage,
business topic. The Fast Storage must equal the database's own final state, in DuckDB and once
more in PostgreSQL (`--env kafka-postgres`), every expected business event must come out once,
and nothing may be dead-lettered."""

import json
import os
import pathlib
from datetime import datetime, timezone
from decimal import Decimal

import duckdb
import psycopg

from cli.main import main
from engine.simulation import generate
from engine.simulation.schema import TABLES
from engine.simulation.tms import transactions
from tests.integration.kafka_io import consume_all
from tests.services.test_postgres_debezium import debezium  # noqa: F401 - fixture

ROOT = pathlib.Path(__file__).parents[2]
ORDERS, SEED = 15, 21
CHAIN = ("transport_order_domain", "pickup_domain", "trip_domain", "fast_storage", "event_engine")


def _text(value):
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime) and value.tzinfo is None:  # timestamp without time zone: UTC
        value = value.replace(tzinfo=timezone.utc)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return None if value is None else str(value)


def test_sql_to_debezium_to_velocity_topologies(kafka_bootstrap, postgres_dsn, debezium, tmp_path, monkeypatch):  # noqa: F811
    prefix, _ = debezium
    started = datetime.now(timezone.utc)
    assert main(["generate", "tms", "--orders", str(ORDERS), "--seed", str(SEED), "--postgres", postgres_dsn]) == 0
    expected_transactions = len(transactions(ORDERS, SEED))
    markers = consume_all(kafka_bootstrap, f"{prefix}.transaction", expected=2 * expected_transactions, timeout=90)
    assert sum(1 for _, m, _ in markers if m.get("payload", m)["status"] == "END") >= expected_transactions

    monkeypatch.chdir(ROOT)
    for name, value in {"KAFKA_BOOTSTRAP": kafka_bootstrap, "VF_TOPIC_PREFIX": prefix, "VF_KAFKA_TAIL": "false",
                        "VF_OUT": str(tmp_path / "out"), "VF_DOMAIN_PREFIX": prefix}.items():  # topics of our own
        monkeypatch.setenv(name, value)
    for topology in CHAIN:
        code = main(["deploy", "-q", "--env", "kafka", "-r", str(tmp_path / "recovery" / topology),
                     f"topologies/velocity/{topology}.yaml"])
        assert code == 0, topology

    fast = duckdb.connect(str(tmp_path / "out" / "fast_storage.duckdb"), read_only=True)
    with psycopg.connect(postgres_dsn) as pg:
        for name, table in TABLES.items():
            columns = ", ".join(c.name for c in table.columns if c.pg_type != "jsonb")
            key = ", ".join(table.primary_key)
            in_pg = [tuple(map(_text, r)) for r in pg.execute(f"SELECT {columns} FROM {name} ORDER BY {key}")]
            stored = [tuple(map(_text, r)) for r in fast.execute(f"SELECT {columns} FROM {name} ORDER BY {key}").fetchall()]
            assert stored == in_pg, name

    # once more with the Fast Storage in PostgreSQL (--env kafka-postgres: the same domain topics)
    monkeypatch.setenv("VF_PG_DSN", postgres_dsn)
    monkeypatch.setenv("VF_PG_SCHEMA", "fast_storage")
    assert main(["deploy", "-q", "--env", "kafka-postgres", "-r", str(tmp_path / "recovery" / "fast_storage_pg"),
                 "topologies/velocity/fast_storage.yaml"]) == 0
    with psycopg.connect(postgres_dsn) as pg:
        for name, table in TABLES.items():
            columns = ", ".join(c.name for c in table.columns)
            key = ", ".join(table.primary_key)
            in_pg = [tuple(map(_text, r)) for r in pg.execute(f"SELECT {columns} FROM public.{name} ORDER BY {key}")]
            stored = [tuple(map(_text, r)) for r in pg.execute(f"SELECT {columns} FROM fast_storage.{name} ORDER BY {key}")]
            assert stored == in_pg, f"{name} (PostgreSQL Fast Storage)"

    truth = tmp_path / "truth"
    generate(str(truth), orders=ORDERS, seed=SEED)
    expected = [json.loads(line) for line in (truth / "truth" / "business_events.jsonl").read_text().splitlines()]
    found = consume_all(kafka_bootstrap, f"{prefix}.business.events", expected=len(expected), timeout=30)
    # a reused broker may hold events of earlier runs: keep the transactions committed by this one
    found = [m for m in found if datetime.fromisoformat(m[1]["occurred_at"]) >= started]
    ident = lambda e: (e["type"], e.get("order_id"), e.get("pickup_id"))  # noqa: E731
    assert sorted(ident(v) for _, v, _ in found) == sorted(ident(e) for e in expected)
    assert len({v["event_id"] for _, v, _ in found}) == len(found)  # each once
    # a file sink's file exists after a fresh run (empty when nothing was dead-lettered)
    assert not [p.name for p in (tmp_path / "out").glob("dead-letter/*.jsonl") if p.read_text().strip()]
