"""One mistake, one error (issue 13), on the shipped topologies: each is broken one way (a wrong
field name, a wrong type, a missing or misspelt reference, a bad expression, a wrong option...)
and validate must report exactly that one error, not also its consequences at the steps and
sinks downstream (an inferred DuckDB table that "cannot infer a column type", an unknown
reference to a step whose id was misspelt)."""

import pathlib

import pytest

from engine.binding import validate_text

ROOT = pathlib.Path(__file__).parents[2]
EX, TO, TR = "examples/transport_orders", "velocity/transport_order_domain", "velocity/trip_domain"
PK, EE, FS = "velocity/pickup_domain", "velocity/event_engine", "velocity/fast_storage"

# (topology, text replaced, replacement, the start of the one error)
VARIANTS = [
    (EX, "status: upper(status)", "status: upper(status", "expected ')' to close upper("),
    (EX, "heavy: weight_kg > 1000", "heavy: weight_kg > 'x'", "cannot compare decimal(10,3) with str"),
    (EX, "  - id: active\n", "  - id: active\n    from: parsee\n", "unknown reference 'parsee'"),
    (EX, "key: status\n", "key: statuss\n", "unknown field 'statuss'"),
    (EX, "heavy: heavy\n", "heavy: heavyy\n", "unknown field 'heavyy'"),
    (EX, "order_id: int,", "order_id: integer,", "unknown type 'integer'"),
    (EX, "sum(weight_kg)", "sum(status)", "sum() needs numbers, not str"),
    (EX, "city: destination.city", "city: destination..city", "expected a field name after '.'"),
    (EX, "{order_id: int, weight_kg: \"decimal(10,3)\", planned_at: timestamp}", "5", "'fields' must be a mapping"),
    (EX, "  - id: to-domain\n", "  - idd: to-domain\n", "unknown option 'idd'"),
    (EX, "    map:\n      key:", "    map:\n      bogus: 1\n      key:", "unknown option 'bogus'"),
    (EX, "      emit: final", "      emit: sometimes", "'emit' must be one of"),
    (EX, "    from: to-domain\n    aggregate", "    from: [to-domain, to-domain2]\n    aggregate",
     "unknown reference 'to-domain2'"),
    (EX, "    from: to-domain\n    aggregate", "    from: by-weight\n    aggregate", "'by-weight' is a routing step"),
    (EX, "      key: status\n", "      key: [status]\n", "'key' must be a string, not a list"),
    (EX, "filter: \"upper(status) != 'DRAFT' and weight_kg > 0\"", "filter: \"weight_kg\"",
     "a filter must be a condition (bool), got decimal(10,3)"),
    (TO, "debezium: {}", "debeziumm: {}", "unknown operator 'debeziumm'"),
    (TO, "      markers: true\n", "      markers: yes please\n", "'markers' must be true or false"),
    (TO, "source_ts_ms, ts_ms), 'ms')", "source_ts_ms, ts_ms), 'msx')", "from_epoch(): unknown epoch unit 'msx'"),
    (TO, "schemas/domain/transport_order.schema.json", "schemas/domain/nope.json", "cannot read schema file"),
    (TR, "      idle: 30s\n", "      idle: 30 secs\n", "invalid duration '30 secs'"),
    (TR, "group: \"if(", "group: \"iff(", "unknown function 'iff'"),
    (TR, "    from: [changes, transactions]\n", "    from: [changess, transactions]\n", "unknown reference 'changess'"),
    (PK, "    debezium: {}\n", "    debezium: {decimal: wrong}\n", "'decimal' must be one of"),
    (EE, "filter: \"not coalesce(snapshot, false) and op != 'r'\"", "filter: \"coalesce(snapshot, false) +\"",
     "expected a value"),
    (EE, "join: {table: order-rows,", "join: {table: order-rowz,", "unknown reference 'order-rowz'"),
    (EE, "    from: business-events\n", "    from: business-event\n", "unknown reference 'business-event'"),
    (EE, "    filter: \"table == 'trip'\"", "    filter: \"table == 'trip'\"\n    key: x", "step 'trip-rows' has more"),
    (EE, "  - id: enriched\n", "  - id: enriched\n    from: with-tripp\n", "unknown reference 'with-tripp'"),
    (FS, "micro_batch: {every: 5s, chunks: 2,", "micro_batch: {every: 5s, chunks: two,", "'chunks' must be an integer"),
    (FS, "key: \"domain + ':' + key\"", "key: \"domain + ':' + \"", "expected a value"),
]


@pytest.mark.parametrize("topology, old, new, expected", VARIANTS,
                         ids=[f"{t.split('/')[1]}:{n.strip()[:30]}" for t, _, n, _ in VARIANTS])
def test_a_shipped_topology_broken_one_way_gives_one_error(topology, old, new, expected, monkeypatch):
    monkeypatch.chdir(ROOT)  # schema paths are relative to the working directory
    text = (ROOT / "topologies" / f"{topology}.yaml").read_text()
    assert old in text
    result = validate_text(str(ROOT / "topologies" / f"{topology}.yaml"), text.replace(old, new, 1), env={})
    errors = [d.message for d in result.diagnostics if d.severity == "error"]
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_at_least_25_variants_over_every_shipped_topology():
    assert len(VARIANTS) >= 25 and len({t for t, *_ in VARIANTS}) == 6
