"""Rules of a table sink's (DuckDB, PostgreSQL) key and column names, stated once for the two rooms
that apply them: validate (engine/binding/sink_checks.py, engine/connectors/table_checks.py) and
the sinks when built (engine/connectors/table_specs.py). Plain Python: binding may not import the
connectors, nor they the binding.
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Optional, Tuple

JSON_KEY_HINT = "key on a str column (an id) instead"


def json_key(columns: Mapping[str, str], key: Iterable[str]) -> Optional[Tuple[int, str]]:
    """The first key column of (YAML) type json, as (its index in the key, its name), if any.

    Refused: values equal as JSON may differ as text (key order, 1 and 1.0), so a batch's
    last-per-key (by text) kept two rows PostgreSQL's jsonb holds equal, and its upsert failed the
    whole batch (``cannot affect row a second time``): the flow stopped."""
    for index, name in enumerate(key):
        if columns.get(name) == "json":
            return index, name
    return None


def json_key_message(name: str) -> str:
    return (f"key column '{name}' is of type json; a key is compared as its text, which equal JSON values "
            "need not share")


def case_twin(names: Iterable[str]) -> Optional[Tuple[str, str]]:
    """The first name equal but for case to an earlier one, as (the earlier, it), if any.

    Refused for columns: DuckDB's names are case-insensitive (``"Id"`` and ``"id"`` are one column:
    the table is not made), and the SQL both sinks share matches names regardless of case (a
    PostgreSQL upsert keyed on ``id`` never updated ``Id``). For DuckDB's tables too: two would be one."""
    seen: Dict[str, str] = {}
    for name in names:
        earlier = seen.setdefault(str(name).lower(), name)
        if earlier != name:
            return earlier, name
    return None


def case_twin_message(pair: Tuple[str, str], what: str = "column", whose: str = "") -> str:
    return (f"{what}s '{pair[0]}' and '{pair[1]}'{whose} differ only by case, which the sink's database or SQL "
            "does not tell apart")
