"""The DuckDB lookup (engine/operators/joins/lookup.py): one read-only query per batch with the
keys the cache lacks, the cache's TTL and size, validation against the table, and a database
that cannot be read turning its events into dead letters."""

import json

import duckdb
import pytest

from engine.binding import validate_text
from engine.errors import ConfigError
from engine.operators.joins.lookup import Lookup


@pytest.fixture
def database(tmp_path):
    path = str(tmp_path / "ref.duckdb")
    with duckdb.connect(path) as con:
        con.execute("CREATE TABLE customer (id VARCHAR PRIMARY KEY, name VARCHAR, credit DECIMAL(10,2), since DATE)")
        con.execute("INSERT INTO customer VALUES ('c1', 'ACME', 10.50, '2020-01-02'), ('c2', 'Globex', NULL, NULL)")
    return path


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def lookup(path, clock=None, **config):
    options = {"duckdb": path, "table": "customer", "key": "id", "on": "customer", "fields": {"who": "name"},
               **config}
    return Lookup("l", options, None, **({"clock": clock} if clock else {}))


def test_a_batch_is_one_query_and_the_cache_answers_until_its_ttl(database):
    clock = Clock()
    step = lookup(database, clock, ttl="10s")
    out, dead = step.process([{"customer": "c1"}, {"customer": "c9"}, {"customer": "c1"}, {"customer": None}])
    assert [e["who"] for e in out] == ["ACME", None, "ACME", None] and dead == [] and step.queries == 1
    step.process([{"customer": "c1"}, {"customer": "c9"}])
    assert step.queries == 1  # both cached: a row and an absence
    with duckdb.connect(database) as con:
        con.execute("UPDATE customer SET name = 'ACME Corp' WHERE id = 'c1'")
    clock.now = 11
    assert step.process([{"customer": "c1"}])[0] == [{"customer": "c1", "who": "ACME Corp"}] and step.queries == 2


def test_the_cache_keeps_the_most_recently_used_keys(database):
    step = lookup(database, cache=1)
    step.process([{"customer": "c1"}])
    step.process([{"customer": "c2"}])
    step.process([{"customer": "c2"}])
    assert step.queries == 2
    step.process([{"customer": "c1"}])
    assert step.queries == 3


def test_inner_drops_events_without_a_row(database):
    assert lookup(database, how="inner").process([{"customer": "c2"}, {"customer": "x"}])[0] == [
        {"customer": "c2", "who": "Globex"}]


def test_output_fields_take_the_columns_types(database):
    step = Lookup("l", {"duckdb": database, "table": "customer", "key": "id", "on": "customer",
                        "fields": {"who": "name", "credit": "credit", "since": "since"}}, {"customer": "str"})
    assert step.output_fields == {"customer": "str", "who": "str", "credit": "decimal(10,2)", "since": "date"}


@pytest.mark.parametrize("config,path,message", [
    ({"table": "customers"}, ("table",), "no table 'customers'"),
    ({"key": "idd"}, ("key",), "no column 'idd' in table 'customer'"),
    ({"fields": {"who": "nmae"}}, ("fields", "who"), "no column 'nmae' in table 'customer'"),
])
def test_a_typo_against_an_existing_database_is_located(database, config, path, message):
    with pytest.raises(ConfigError) as caught:
        lookup(database, **config)
    assert caught.value.path == path and caught.value.message.startswith(message)


TOPOLOGY = """\
version: 1
name: lookup
sources:
  orders: {{file: {{path: {dir}/orders.jsonl}}}}
steps:
  - id: typed
    map: {{fields: {{order: order, customer: str(customer)}}}}
  - id: enriched
    lookup: {{duckdb: "{db}", table: customer, key: id, on: customer, fields: {{who: name}}}}
  - id: shaped
    map: {{fields: {{order: order, who: {who}}}}}
sinks:
  out: {{from: shaped, file: {{path: {dir}/out.jsonl}}}}
dead_letter: {{file: {{path: {dir}/dead.jsonl}}}}
"""


def test_a_typo_in_a_looked_up_field_is_a_validate_error_at_its_place(database, tmp_path):
    text = TOPOLOGY.format(dir=tmp_path, db=database, who="who")
    assert [d.message for d in validate_text("t.yaml", text).diagnostics] == []
    typo = text.replace("{who: name}", "{who: nme}")
    found = [(d.line, d.column, d.message) for d in validate_text("t.yaml", typo).diagnostics]
    assert found == [(9, typo.splitlines()[8].index("nme") + 1, "no column 'nme' in table 'customer'")]
    found = [(d.line, d.column, d.message) for d in validate_text("t.yaml", text.replace("who: who", "who: woh"))
             .diagnostics]
    assert found == [(11, 39, "unknown field 'woh'")]


def test_a_flow_enriches_and_an_unreadable_database_dead_letters_the_events(flow, database, tmp_path):
    flow.write("orders.jsonl", [{"order": n, "customer": f"c{n % 3}"} for n in range(6)])
    outcome = flow.run(TOPOLOGY, db=database, who="who")
    assert [(e["order"], e["who"]) for e in outcome.rows("out")] == [
        (0, None), (1, "ACME"), (2, "Globex"), (3, None), (4, "ACME"), (5, "Globex")]
    missing = str(tmp_path / "gone.duckdb")
    outcome = flow.run(TOPOLOGY, db=missing, who="who")
    assert outcome.rows("out") == [] and len(outcome.dead) == 6
    assert all(d["step"] == "enriched" and "gone.duckdb" in d["error"] for d in outcome.dead)
    json.dumps(outcome.dead)
