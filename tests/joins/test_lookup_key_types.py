"""The DuckDB lookup driven through the error boundary as the compiled flow runs it, against a plain model:
what an event gets (its key's row, nulls, or a dead letter for a key of another type than the column)
depends on the event alone, never on the other keys of its batch, nor on what the cache holds."""

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators.boundary import guard
from engine.operators.joins.lookup import Lookup

ROWS = {"VARCHAR": [("1", "one"), ("ü", "u"), ("True", "true")], "BIGINT": [(1, "one"), (2, "two"), (0, "zero")]}
KEYS = [1, "1", 1.0, True, None, 10 ** 25, "ü", 2, "2", -0.0, 0, "True"]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("lookup") / "ref.duckdb")
    with duckdb.connect(path) as con:
        for column, rows in ROWS.items():
            con.execute(f"CREATE TABLE t_{column} (id {column}, name VARCHAR)")
            con.executemany(f"INSERT INTO t_{column} VALUES (?, ?)", rows)
    return path


@pytest.fixture(scope="module")
def reference(tables):
    """Per column type and key: what one event of that key gives alone."""
    return {(column, repr(key)): alone(lookup(tables, column, "left"), {"k": key}) for column in ROWS for key in KEYS}


def lookup(path, column, how):
    return Lookup("l", {"duckdb": path, "table": f"t_{column}", "key": "id", "on": "k", "fields": {"name": "name"},
                        "how": how}, None)


def alone(step, event):
    """What one event gives on its own, through the boundary, the cache empty: the reference."""
    step.forget()
    oks, deads = guard("l", step.process, keep_lineage=False)([event])
    return ("dead",) if deads else ("ok", oks[0]["name"]) if oks else ("dropped",)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(batches=st.lists(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6), min_size=1, max_size=4),
       column=st.sampled_from(list(ROWS)), how=st.sampled_from(["left", "inner"]))
def test_what_an_event_gets_depends_on_its_key_alone(tables, reference, batches, column, how):
    step = lookup(tables, column, how)
    run = guard("l", step.process, keep_lineage=False)
    number = 0
    for keys in batches:  # the cache warm from the batches before
        batch = [{"k": key, "n": number + index} for index, key in enumerate(keys)]
        number += len(batch)
        oks, deads = run(batch)
        got = {e["n"]: ("ok", e["name"]) for e in oks} | {d.event["n"]: ("dead",) for d in deads}
        for event in batch:
            want = reference[column, repr(event["k"])]
            if want == ("ok", None) and how == "inner":
                want = ("dropped",)
            assert got.get(event["n"], ("dropped",)) == want, (event, keys)


def test_a_key_of_another_type_is_a_dead_letter_beside_keys_of_the_columns_type(tables):
    """Mixed with a text key, an int key used to be read as text by DuckDB: nulls and a cached absence,
    where alone it is a dead letter."""
    step = lookup(tables, "VARCHAR", "left")
    oks, deads = guard("l", step.process, keep_lineage=False)([{"k": 1}, {"k": "1"}])
    assert oks == [{"k": "1", "name": "one"}]
    assert [d.event for d in deads] == [{"k": 1}] and "Cannot compare" in deads[0].error
