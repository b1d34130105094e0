"""table_checks makes each declared table once per process for equal specs (validate checks
every environment of a file, and they mostly declare the same tables); a spec that fails fails
each time, and specs that compare equal but differ in type are kept apart."""

import pytest

from engine.connectors import table_checks
from engine.errors import ConfigError
from engine.topology.interpolate import EnvText

SPEC = {"key": ["id"], "columns": {"id": "int", "name": "str"}}


def test_equal_specs_are_made_once():
    one = table_checks._duckdb_table_and_positions("t_once", {"key": ["id"], "columns": {"id": "int", "name": "str"}})
    two = table_checks._duckdb_table_and_positions("t_once", {"key": ["id"], "columns": {"id": "int", "name": "str"}})
    assert one is two
    assert table_checks._postgres_table("t_once", dict(SPEC)) is table_checks._postgres_table("t_once", dict(SPEC))


def test_other_specs_names_and_kinds_are_made_apart():
    base = table_checks._duckdb_table("t_apart", SPEC)
    assert table_checks._duckdb_table("t_apart", {**SPEC, "columns": {"id": "int", "name": "date"}}) is not base
    assert table_checks._duckdb_table("t_apart2", SPEC) is not base
    assert table_checks._duckdb_table("t_apart", {**SPEC, "key": [EnvText(["id"])]}) is not base
    assert table_checks._frozen([1]) != table_checks._frozen([True]) != table_checks._frozen([1.0])


def test_a_failing_spec_fails_every_time():
    options = {"tables": {"t_bad": {"key": ["id"], "columns": {"id": "int", "__vf_lsn": "str"}}}}
    for _ in range(2):
        with pytest.raises(ConfigError, match="reserved"):
            table_checks.check_duckdb(options)
