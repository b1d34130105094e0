"""Every PostgreSQL type Debezium maps, through the real stack: rows of a table with one column of
each type (tests/integration/pg_types_table.py), with ordinary and edge values, written by raw SQL
before Debezium starts (its initial snapshot) and again after (streaming), then updated (one
update leaves TOASTed values unchanged: Debezium's placeholders), deleted; captured by
scripts/debezium's connector (the defaults), and by two more connectors on its worker with the
modes users set (``decimal.handling.mode`` string and double, ``time.precision.mode`` connect and
adaptive_time_microseconds, ``interval.handling.mode=string``, ``hstore.handling.mode=map``).

Each topic's values go through the flow's decode (``engine.operators.decode.Decode``, as a Kafka
source hands them on) and the ``debezium`` step (``process`` and ``process_owned`` alike); the
changes are applied in order, a placeholder keeping the value before it as the table sinks do
(``engine.unavailable.filled``). The result must equal what PostgreSQL returns for every row and
column, by the column's rule; the only dead letters are the values docs/debezium.md says have no
Python value (24:00:00, years outside 1-9999). Under CI (CI=true) missing services FAIL.
"""

from __future__ import annotations

import copy
import json
import os
import time
import urllib.request
import uuid

import psycopg
import pytest

from engine.operators.debezium import Debezium
from engine.operators.decode import Decode
from engine.records import RawBatch
from engine.unavailable import carries, filled
from tests.integration.pg_types_table import (
    ABSENT,
    COLUMNS,
    ISO_INTERVAL,
    ROWS,
    SETUP,
    TOAST_COLUMNS,
    TOASTED,
    expected,
    same,
)
from tests.services.postgres import run_script, start_service
from tests.services.test_postgres_debezium import DBZ_SCRIPT, DBZ_START_TIMEOUT

confluent_kafka = pytest.importorskip("confluent_kafka")

STREAMED, MARKER = 100, 999  # a row's streamed copy is id + STREAMED; the last row written
TABLES = ("pg_types", "pg_types_full")  # REPLICA IDENTITY DEFAULT, FULL
_NUMERIC = ("n", "n102", "n40", "n0")
MODES = {  # connector settings, and the columns whose rule they change: (SELECT or None, rule)
    "default": ({}, {}),
    "string": ({"decimal.handling.mode": "string", "time.precision.mode": "connect",
                "interval.handling.mode": "string", "hstore.handling.mode": "map"},
               {**{c: (None, "numeric_text") for c in _NUMERIC}, "m": ("m::numeric", "numeric_text"),
                "nneg": ("nneg::text || '.' || repeat('0', 2046)", "same"),  # Debezium's scale 2046
                "an": ("array_to_json(an)::text", "[numeric_text]"),
                "an51": ("array_to_json(an51)::text", "[numeric_text]"), "iv": (ISO_INTERVAL.format(c="iv"), "same"),
                "tm": ("tm::text", "time_ms"), "tm3": ("tm3::text", "time_ms"), "ts": ("ts::text", "timestamp_ms"),
                "ts3": ("ts3::text", "timestamp_ms"), "ts0": ("ts0::text", "timestamp_ms"),
                "atp": ("array_to_json(atp)::text", "[timestamp_ms]")}),
    "double": ({"decimal.handling.mode": "double", "time.precision.mode": "adaptive_time_microseconds"},
               {**{c: (None, "numeric_double") for c in (*_NUMERIC, "nneg")}, "m": ("m::numeric", "numeric_double"),
                "an": ("array_to_json(an)::text", "[numeric_double]"),
                "an51": ("array_to_json(an51)::text", "[numeric_double]")}),
}
# unchanged TOAST values Debezium sends as null, not as a placeholder (docs/debezium.md): a date[]
# with time.precision.mode=connect; the value is lost there, the sinks write null
TOAST_NULLED = {"string": ("ad",)}


def _insert(table: str, row_id: int, values: dict) -> str:
    names = "".join(f", {name}" for name in values)
    return f"INSERT INTO {table} (id{names}) VALUES ({row_id}{''.join(f', {v}' for v in values.values())});\n"


def _run(dsn: str, sql: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql)


def _add_connector(state: str, name: str, settings: dict) -> str:
    """Another connector on scripts/debezium's worker (its REST API): scripts/debezium's settings,
    its own topic prefix, slot and publication, table pg_types only, ``settings`` over them."""
    config = {}
    with open(os.path.join(state, "connector.properties"), encoding="utf-8") as lines:
        for line in lines:
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.strip().partition("=")
                config[key] = value
    with open(os.path.join(state, "debezium.json"), encoding="utf-8") as info:
        port = json.load(info)["rest_port"]
    config.update({"name": name, "topic.prefix": name, "slot.name": name, "publication.name": name + "_publication",
                   "table.include.list": "public.pg_types", "provide.transaction.metadata": "false", **settings})
    request = urllib.request.Request(f"http://127.0.0.1:{port}/connectors", method="POST",
                                     data=json.dumps({"name": name, "config": config}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201, response.read()
    return name


def _wait_streaming(dsn: str, slots: list, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            found = conn.execute("SELECT slot_name, active FROM pg_replication_slots").fetchall()
            active = {slot for slot, on in found if on}
            if set(slots) <= active:
                return
            assert time.monotonic() < deadline, f"slots not streaming: {sorted(set(slots) - active)}"
            time.sleep(0.5)


@pytest.fixture(scope="module")
def pg_types_topics(kafka_bootstrap, postgres_dsn, tmp_path_factory):
    """{(mode, table): topic} once every change, the marker row last, is written."""
    _run(postgres_dsn, SETUP + "".join(_insert(t, row_id, values) for t in TABLES
                                       for row_id, values, in_snapshot, _ in ROWS if in_snapshot))
    state = str(tmp_path_factory.mktemp("debezium-pg-types"))
    prefix = "pgtypes" + uuid.uuid4().hex[:8]
    start_service("Debezium", DBZ_SCRIPT, state, ["--bootstrap", kafka_bootstrap, "--dsn", postgres_dsn,
                                                   "--topic-prefix", prefix], timeout=DBZ_START_TIMEOUT)
    try:
        others = {mode: _add_connector(state, f"{prefix}_{mode}", settings)
                  for mode, (settings, _) in MODES.items() if settings}
        _wait_streaming(postgres_dsn, list(others.values()))
        for sql in ("".join(_insert(t, row_id + STREAMED, values) for t in TABLES for row_id, values, _, _ in ROWS),
                    "".join(f"UPDATE {t} SET t = 'changed' WHERE id IN (1, {1 + STREAMED}, {TOASTED},"
                            f" {TOASTED + STREAMED}); UPDATE {t} SET i4 = 5 WHERE id IN (4, {4 + STREAMED});"
                            f" DELETE FROM {t} WHERE id IN (3, {3 + STREAMED});" for t in TABLES),
                    "".join(_insert(t, MARKER, {}) for t in TABLES)):
            _run(postgres_dsn, sql)
        topics = {("default", t): f"{prefix}.public.{t}" for t in TABLES}
        topics.update({(mode, "pg_types"): f"{name}.public.pg_types" for mode, name in others.items()})
        yield topics
    finally:
        run_script(DBZ_SCRIPT, "stop", "--state-dir", state, timeout=90)


def _values(bootstrap: str, topic: str, timeout: float = 120) -> list:
    """Every message value of ``topic`` (None for a tombstone) up to the marker row's."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    values, deadline, marker = [], time.monotonic() + timeout, f'"after":{{"id":{MARKER},'.encode()
    try:
        while not (values and values[-1] is not None and marker in values[-1]):
            assert time.monotonic() < deadline, f"{topic}: no marker row after {len(values)} messages"
            message = consumer.poll(0.2)
            if message is not None and not message.error():
                values.append(message.value())
    finally:
        consumer.close()
    return values


def _decoded(values: list, topic: str):
    """The flow's decode and the debezium step (both of its paths) on ``values``."""
    events, deads = Decode("source").process(RawBatch(values, topic, offsets=range(len(values))))
    assert [d.error for d in deads] == []
    oks, dead = Debezium("changes", {}, None).process(events)
    owned, owned_dead = Debezium("changes", {}, None).process_owned(copy.deepcopy(events))
    assert owned == oks and [d.error for d in owned_dead] == [d.error for d in dead]
    return oks, [d.error for d in dead]


def _in_postgres(dsn: str, table: str, columns: list) -> dict:
    select = ", ".join(sql or name for name, _, sql, _ in columns)
    with psycopg.connect(dsn, options="-c TimeZone=UTC") as conn:
        return {row[0]: row[1:] for row in conn.execute(f"SELECT id, {select} FROM {table} ORDER BY id").fetchall()}


@pytest.mark.parametrize("mode, table", [("default", "pg_types"), ("default", "pg_types_full"),
                                         ("string", "pg_types"), ("double", "pg_types")])
def test_every_column_decodes_to_what_postgresql_holds(kafka_bootstrap, postgres_dsn, pg_types_topics, mode, table):
    topic = pg_types_topics[(mode, table)]
    changes, dead = _decoded(_values(kafka_bootstrap, topic), topic)
    dead_rows = {row_id + STREAMED: reason for row_id, _, _, reason in ROWS if reason}
    wrong = [f"dead letter: {d:.200}" for d in dead if not any(d.startswith(r) for r in dead_rows.values())]
    wrong += [f"no dead letter: {r}" for r in dead_rows.values() if not any(d.startswith(r) for d in dead)]

    rows: dict = {}
    for change in changes:  # applied in order; a placeholder keeps the value before it
        before = change["before"]
        if table == "pg_types_full" and before is not None:  # REPLICA IDENTITY FULL: the whole row before
            wrong += [f"id {before['id']} before.{c}: {before[c]!r:.80}, not {v!r:.80}"
                      for c, v in rows[before["id"]].items() if not same(before[c], v)]
        if change["op"] in "cur":
            rows[change["after"]["id"]] = filled(change["after"], rows.get(change["after"]["id"], {}))
        elif change["op"] == "d":
            rows.pop(before["id"])
    if table == "pg_types":  # REPLICA IDENTITY DEFAULT: the update sent Debezium's placeholders
        for toasted in (TOASTED, TOASTED + STREAMED):
            [after] = [c["after"] for c in changes if c["op"] == "u" and c["after"]["id"] == toasted]
            nulled = TOAST_NULLED.get(mode, ())
            wrong += [f"id {toasted} {c}: {after[c]!r:.80}, not a placeholder" for c in TOAST_COLUMNS
                      if not (carries({c: after[c]}) if c not in nulled else after[c] is None)]
            for c in nulled:
                rows[toasted][c] = "lost"
    overrides = MODES[mode][1]
    columns = [(name, kind, *overrides.get(name, (sql, rule))) for name, kind, sql, rule in COLUMNS]
    in_pg = _in_postgres(postgres_dsn, table, columns)
    wrong += [f"id {i}: not decoded" for i in sorted(set(in_pg) - set(dead_rows) - set(rows))]
    assert set(rows) <= set(in_pg)
    for row_id, row in sorted(rows.items()):
        assert not [name for name, _ in ABSENT if name in row]  # types Debezium does not send
        for (name, _, _, rule), value in zip(columns, in_pg[row_id], strict=True):
            wanted = expected(rule, value)
            if row[name] == "lost":  # (TOAST_NULLED)
                continue
            if not same(row[name], wanted, rule in ("json", "[json]")):
                wrong.append(f"id {row_id} {name} ({rule}): decoded {row[name]!r:.100}, PostgreSQL {wanted!r:.100}")
    assert wrong == []
