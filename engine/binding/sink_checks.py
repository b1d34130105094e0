"""Checks of sink options that need the topology around them (the connectors never see YAML)."""

from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional, Tuple

from engine.errors import ConfigError
from engine.expressions.types import kind
from engine.operators.expr import compile_option
from engine.operators.fields import Fields, fully_known
from engine.operators.map import Map
from engine.records import TOPIC_FIELD
from engine.table_rules import JSON_KEY_HINT, case_twin, case_twin_message, json_key, json_key_message

_COLUMN_TYPE = re.compile(r"^(int|float|bool|str|date|json|timestamp|decimal\(\d+, ?\d+\))$")
_AS_COLUMN = {"list": "json", "decimal": "decimal(38,9)"}  # computed decimals have no declared scale
TABLE_SINKS = ("duckdb", "postgres")  # sinks of typed columns: their columns are declared or inferred here
DEAD_LETTER_COLUMNS = {"step": "str", "error": "str", "origin": "str", "time": "timestamp", "event": "json"}


def duckdb_tables(options: Mapping[str, Any]) -> None:
    """Several tables (row changes): each declares its key and columns, the key among them."""
    for name, spec in options["tables"].items():  # a json key: the sink's declared check (table_specs.TableSpec)
        _check_key({"mode": "upsert", **spec}, spec.get("columns") or {}, ("tables", name))


def duckdb_columns(options: Mapping[str, Any], fields: Fields, feeder: str) -> Dict[str, str]:
    """The table's columns: declared, or inferred from the known fields of what feeds it."""
    declared: Optional[Dict[str, str]] = options.get("columns")
    if declared:
        columns = dict(declared)
        _check_types(columns, fields or {}, feeder)
    elif not fully_known(fields):
        which = "all " if fields else ""
        raise ConfigError(f"cannot infer the columns: the fields of '{feeder}' are not {which}known", (),
                          hint="declare them: columns: {name: type, ...}")
    else:
        assert fields is not None  # fully known
        columns = {name: _AS_COLUMN.get(kind, kind) for name, kind in fields.items() if not name.startswith("_")}
        unknown = [f"{n} ({k})" for n, k in columns.items() if not _COLUMN_TYPE.match(k)]
        if unknown:
            raise ConfigError(f"cannot infer a column type for {', '.join(unknown)}", (),
                              hint="declare the columns with their types: columns: {name: type, ...}")
        twin = case_twin(columns)  # declared columns: the sink's declared check (table_checks.py)
        if twin is not None:
            raise ConfigError(case_twin_message(twin, whose=f" (the fields of '{feeder}')"), (),
                              hint="rename one of the fields (a map step), or declare the columns (other fields "
                                   "are left out)")
    _check_key(options, columns)
    found = json_key(columns, options.get("key") or []) if options.get("mode", "append") == "upsert" else None
    if found is not None:
        raise ConfigError(json_key_message(found[1]), ("key", found[0]), hint=JSON_KEY_HINT)
    return columns


# Field type -> the column types that can hold its values (engine/connectors/duckdb_columns.py
# converts; a pair missing here fails for every non-null value). ``json`` holds anything.
_HOLDS = {
    "int": {"int", "float", "decimal"}, "float": {"int", "float", "decimal"}, "decimal": {"int", "float", "decimal"},
    "bool": {"bool", "int"}, "str": {"str", "decimal", "date", "timestamp"}, "date": {"date"},
    "timestamp": {"timestamp", "date"}, "list": set(), "duration": set(),
}


def _check_types(columns: Dict[str, str], fields: Dict[str, str], feeder: str) -> None:
    """A field known to be of a type its column cannot hold fails every event at the sink:
    refused at validate time (``any``/``json``/``null`` fields are known only per event)."""
    for name, column in columns.items():
        field = kind(fields.get(name, "any"))
        if field in _HOLDS and kind(column) != "json" and kind(column) not in _HOLDS[field]:
            raise ConfigError(f"column '{name}' is {column}, but field '{name}' of '{feeder}' is {fields[name]}: "
                              "no value of it fits", ("columns", name),
                              hint=f"declare the column as {_AS_COLUMN.get(field, field)}, or convert the field "
                                   "(cast, or a map expression)")


def kafka_envelope(options: Mapping[str, Any], fields: Fields, sink_name: str) -> Tuple[Optional[Map], Dict[str, Any]]:
    """The step that sets each message's topic, key and headers from the sink's expressions,
    and the options the connector gets: without ``key``, ``topic_from`` and ``headers`` (it
    only sees the resulting ``_key``/``_topic``/``_headers`` fields). No envelope when the sink
    has none of them."""
    rest = {k: v for k, v in options.items() if k not in ("key", "topic_from", "headers")}
    key, topic_from, headers = options.get("key"), options.get("topic_from"), options.get("headers")
    if not options.get("topic") and topic_from is None:
        raise ConfigError("a kafka sink needs 'topic' (fixed) or 'topic_from' (an expression)", (),
                          hint="add topic: <name>")
    computed: Dict[str, Tuple[Any, Tuple[str, ...]]] = {}
    if topic_from is not None:
        computed[TOPIC_FIELD] = (topic_from, ("topic_from",))
    computed.update({f"_headers.{name}": (text, ("headers", name)) for name, text in (headers or {}).items()})
    for text, path in [*computed.values(), *([(key, ("key",))] if key is not None else [])]:
        compile_option(text, fields, path)  # report errors at the sink's own options
    if not computed and key is None:
        return None, rest
    config: Dict[str, Any] = {"keep": "all", "fields": {name: text for name, (text, _) in computed.items()}}
    if key is not None:
        config["key"] = key
    return Map(f"sink:{sink_name}:envelope", config, fields), rest


def _check_key(options: Mapping[str, Any], columns: Dict[str, str], where: tuple = ()) -> None:
    key = options.get("key")
    if options.get("mode", "append") == "upsert" and not key:
        raise ConfigError("mode 'upsert' needs 'key'", (*where, "mode") if not where else where,
                          hint="add key: [<column>, ...]")
    for index, name in enumerate(key or []):
        if name not in columns:
            raise ConfigError(f"key column '{name}' is not among the columns", (*where, "key", index),
                              hint="columns: " + ", ".join(columns))
