"""Unchanged TOAST values (engine/connectors/unchanged.py) in the PostgreSQL sink's upserts and row
changes (tests/services/postgres.py's server): a text, jsonb or array column whose value is
Debezium's placeholder keeps the stored value; a new row gets NULL there. The DuckDB sink's, and
the model the Hypothesis test compares with, are tests/connectors/test_unchanged.py."""

from __future__ import annotations

import uuid

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import open_part, query
from test_unchanged import COLUMNS, EVENTS, FULL, INT_ARRAY, KEEPING, TEXT_ARRAY, P, batched, change, model, row

from engine.connectors.postgres_tables import postgres_sink

SELECT = "SELECT id, note, attrs, tags, nums, n FROM t ORDER BY id"


def write(dsn, schema, *batches, tables=False):
    options = {"tables": {"t": {"key": ["id"], "columns": COLUMNS}}} if tables else \
        {"table": "t", "columns": COLUMNS, "mode": "upsert", "key": ["id"]}
    part = open_part(postgres_sink(dsn=dsn, schema=schema, reconnect="5s", **options))
    for batch in batches:
        part.write_batch(batch if batch and isinstance(batch[0], list) else [batch])
    part.close()
    return query(dsn, schema, SELECT)


def test_an_update_with_placeholders_keeps_the_stored_text_jsonb_and_array_values(postgres_dsn, postgres_schema):
    got = write(postgres_dsn, postgres_schema, [FULL, {**FULL, "id": 2}],
                [KEEPING, {**FULL, "id": 2, "note": "new", "n": 5}, {**KEEPING, "id": 3}])
    assert got == [row({**FULL, "n": 2}), row({**FULL, "id": 2, "note": "new", "n": 5}), (3, None, None, None, None, 2)]


def test_rows_keeping_other_columns_and_a_second_batch_on_the_same_connection(postgres_dsn, postgres_schema):
    first = [{**FULL, "id": i} for i in range(1, 4)]
    second = [{"id": 1, "note": P, "attrs": {"b": 2}, "tags": None, "nums": [3], "n": 2},
              {"id": 2, "note": "two", "attrs": P, "tags": ["z"], "nums": INT_ARRAY, "n": 2},
              {"id": 3, "note": "three", "attrs": None, "tags": [], "nums": [], "n": 3}]
    third = [{"id": 2, "note": P, "attrs": P, "tags": TEXT_ARRAY, "nums": INT_ARRAY, "n": 4}]
    assert write(postgres_dsn, postgres_schema, first, second, third) == [
        (1, "long text", {"b": 2}, None, [3], 2), (2, "two", {"a": 1}, ["z"], [1, 2], 4),
        (3, "three", None, [], [], 3)]


def test_two_rows_of_one_key_in_one_batch_end_as_the_later_says(postgres_dsn, postgres_schema):
    got = write(postgres_dsn, postgres_schema, [FULL, {**KEEPING, "note": "b"}, {**KEEPING, "n": 3}])
    assert got == [row({**FULL, "note": "b", "n": 3})]
    # chunks of one write_batch call are one batch too
    got = write(postgres_dsn, postgres_schema, [[{**FULL, "attrs": [1]}], [{**KEEPING, "n": 4}]])
    assert got == [row({**FULL, "attrs": [1], "n": 4})]


def test_a_batch_without_placeholders_overwrites_every_column(postgres_dsn, postgres_schema):
    got = write(postgres_dsn, postgres_schema, [FULL], [{"id": 1, "note": P + " ", "tags": [P, P], "n": 2}])
    assert got == [(1, P + " ", None, [P, P], None, 2)]


def test_row_changes_with_placeholders_apply_one_after_the_other(postgres_dsn, postgres_schema):
    got = write(postgres_dsn, postgres_schema, [change(FULL, 1, "c"), change({**FULL, "id": 2}, 2, "c")],
                [change(KEEPING, 3), change({**KEEPING, "note": "b", "n": 3}, 4), change({**KEEPING, "id": 3}, 5),
                 change({**FULL, "id": 2}, 6, "d"), change({**KEEPING, "id": 2}, 7, "c")], tables=True)
    assert got == [row({**FULL, "note": "b", "n": 3}), (2, None, None, None, None, 2), (3, None, None, None, None, 2)]
    # an older change redelivered before a newer placeholder: it does not apply, nor lend its values
    got = write(postgres_dsn, postgres_schema, [change({**FULL, "note": "older"}, 2), change({**KEEPING, "n": 9}, 8)],
                tables=True)
    assert got[0] == row({**FULL, "note": "b", "n": 9})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, data=st.data())
def test_any_upserts_in_any_batches_give_the_model(postgres_dsn, events, data):
    schema = "u_" + uuid.uuid4().hex[:12]
    try:
        assert write(postgres_dsn, schema, *batched(data, events)) == model(events)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
