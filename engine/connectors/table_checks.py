"""What ``validate`` checks of the table sinks' options (``duckdb``, ``postgres``), declared as
their ``check`` in engine/catalog/sinks.py: table and column names, views, the DSN's syntax.

Kept apart from the sinks themselves so that validating a topology loads neither Bytewax nor a
database client (a DSN is parsed by psycopg only when one is given): ``validate`` of the
Velocity topologies imported both through these checks.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, List, Optional, Tuple

from engine.connectors import duckdb_view_checks, views_helper
from engine.connectors.duckdb_columns import Column
from engine.connectors.duckdb_positions import Positions
from engine.connectors.duckdb_view_checks import Refusal, bind_views, first_view_problem
from engine.connectors.errors import ConnectorError
from engine.connectors.postgres_columns import POSITION_TYPES, SIDE_PREFIX_BYTES, check_name, pg_column
from engine.connectors.table_specs import TableSpec, check_tables
from engine.connectors.table_views_cache import accepted_before, check_key, remember_accepted
from engine.errors import ConfigError
from engine.table_rules import case_twin, case_twin_message

DUCKDB_LABEL, POSTGRES_LABEL = "duckdb sink", "postgres sink"


# the options of one form that the other form does not take (the sink's class would refuse them at run time)
_SINGLE_ONLY = ("columns", "mode", "key")


def check_form(options) -> None:
    """A table sink is one ``table`` (with ``columns``, ``mode``, ``key``) or several ``tables``
    (each declaring its key and columns, with ``views``): an option of the other form is refused."""
    if "tables" in options:
        for name in _SINGLE_ONLY:
            if name in options:
                raise ConfigError(f"'{name}' belongs to a sink writing one 'table'; with 'tables' each table "
                                  f"declares its own key and columns", (name,),
                                  hint="move it into the table's entry under tables: {name: {key: [...], "
                                       "columns: {...}}}, or drop it")
    elif options.get("views"):
        raise ConfigError("'views' needs 'tables': a sink writing one 'table' makes no views", ("views",),
                          hint="declare the table under tables: {name: {key: [...], columns: {...}}}, or drop 'views'")


def check_case(options, table_names: bool) -> None:
    """No two declared columns of one table, nor (``table_names``) two of the ``tables``, whose names
    differ only by case (engine/table_rules.py; columns inferred from fields: binding/sink_checks.py)."""
    declared = options.get("tables")
    declared = declared if isinstance(declared, dict) else {}
    twin = case_twin(declared) if table_names else None
    if twin is not None:
        raise ConfigError(case_twin_message(twin, "table"), ("tables", twin[1]), hint="rename one of them")
    named: List[Tuple[tuple, str, Any]] = [((), "", options.get("columns"))]
    named += [(("tables", name), f"table '{name}': ", spec.get("columns")) for name, spec in declared.items()
              if isinstance(spec, dict)]
    for where, table, columns in named:
        twin = case_twin(columns) if isinstance(columns, dict) else None
        if twin is not None:
            raise ConfigError(table + case_twin_message(twin), (*where, "columns", twin[1]), hint="rename one of them")


def check_views(options) -> None:
    """Every view is one SELECT (DuckDB's parser says)."""
    views = list((options.get("views") or {}).items())
    asked = views_helper.ask("select", _queries(views))
    found = asked[0] if asked is not None else first_view_problem([query for _, query in views])
    if found is not None:
        index, problem = found
        raise ConfigError(problem, ("views", views[index][0]),
                          hint="views are queries over the sink's tables: one SELECT (or WITH ... SELECT); "
                               "they cannot read files, write or change settings")


def _queries(views: List[Tuple[Any, Any]]) -> List[Optional[str]]:
    """The views' queries as the helper is sent them (JSON): one that is no str is refused as
    empty either way."""
    return [query if isinstance(query, str) else None for _, query in views]


def _duckdb_table(name: str, spec: dict) -> TableSpec:
    return _duckdb_table_and_positions(name, spec)[0]


def _duckdb_table_and_positions(name: str, spec: dict) -> Tuple[TableSpec, Positions]:
    return _made_once(DUCKDB_LABEL, name, spec, _make_duckdb_table)


def _make_duckdb_table(name: str, spec: dict) -> Tuple[TableSpec, Positions]:
    table = TableSpec(DUCKDB_LABEL, name, spec, Column.in_duckdb)
    return table, Positions(name, table.columns, table.key)


def _postgres_table(name: str, spec: dict) -> TableSpec:
    return _made_once(POSTGRES_LABEL, name, spec, _make_postgres_table)


def _make_postgres_table(name: str, spec: dict) -> TableSpec:
    check_name("table", name, SIDE_PREFIX_BYTES)  # as the sink does when built: at validate, at its line
    table = TableSpec(POSTGRES_LABEL, name, spec, pg_column)
    Positions(name, table.columns, table.key, POSTGRES_LABEL, POSITION_TYPES)
    return table


_MADE: dict = {}  # (label, name, frozen spec) -> the table (and positions) made of it


def _made_once(label: str, name: str, spec: dict, make: Callable[[str, dict], Any]) -> Any:
    """``make(name, spec)``, made once per process for equal specs: validate checks the
    environments of a file one by one, and they mostly declare the same tables (the checks and
    the views cache's key made each table again, five times per environment). Only what was
    made is kept: a spec that fails is made (and fails) again each time."""
    try:
        key = (label, name, _frozen(spec))
        made = _MADE.get(key)
    except TypeError:  # something unhashable in the spec: made each time
        return make(name, spec)
    if made is None:
        made = make(name, spec)
        if len(_MADE) >= 256:
            _MADE.clear()
        _MADE[key] = made
    return made


def _frozen(value: Any) -> Any:
    """A hashable image of YAML data that tells apart what compares equal but differs in type
    (1 and True and 1.0, a str and an interpolated EnvText)."""
    if isinstance(value, dict):
        return (dict, tuple((_frozen(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return (list, tuple(_frozen(v) for v in value))
    return (value.__class__, value)


def check_duckdb(options) -> None:
    """The ``duckdb`` sink's declared check: the tables' names and the views (DuckDB's check of
    the same tables and views accepted before is not made again: table_views_cache.py)."""
    check_form(options)
    check_tables(DUCKDB_LABEL, options, _duckdb_table)
    check_case(options, table_names=True)  # DuckDB's names are case-insensitive: two tables would be one
    for name, kind in (options.get("columns") or {}).items():  # one table's (``tables``' are checked above)
        try:
            Column.in_duckdb(name, kind)
        except ConnectorError as exc:
            raise ConfigError(str(exc).removeprefix(f"{DUCKDB_LABEL}: "), ("columns", name)) from None
    if not options.get("views"):
        return
    _checked_once("duckdb views", _duckdb_checked(options), lambda: _check_duckdb_views(options))


def _duckdb_checked(options) -> list:
    """What DuckDB is given to check a duckdb sink's views (the views cache's key)."""
    return [_tables_sql(options["tables"]), list(options["views"].items())]


def _check_duckdb_views(options) -> None:
    check_views(options)
    problem = _bound_views(_tables_and_views(options))
    if problem is not None:
        raise ConfigError(*problem[:2], hint=problem[2])


def _tables_and_views(options) -> str:
    return json.dumps([options["tables"], options["views"]], default=str)


def prefetch(kind: str, options) -> None:
    """Hand the views helper now, ahead, the checks that ``check_<kind>`` of these options will
    ask of DuckDB (but those accepted before), so that their answers are ready when asked: the
    file is loaded, the topology not yet read and bound. A guess: what is asked is answered as
    asked; options the checks refuse on their own are not handed."""
    views = options.get("views")
    if not views_helper.started() or not isinstance(views, dict) or not views or kind not in ("duckdb", "postgres"):
        return
    try:
        checked = _duckdb_checked(options) if kind == "duckdb" else list(views.items())
        if accepted_before(check_key("duckdb views" if kind == "duckdb" else "select", checked, _CHECKS)):
            return
        bind = _bind_request(_tables_and_views(options)) if kind == "duckdb" else None
    except (ConfigError, TypeError, ValueError, AttributeError, KeyError):
        return
    views_helper.ahead("select", _queries(list(views.items())))
    if bind is not None:
        views_helper.ahead("bind", bind)


def _checked_once(kind: str, checked: Any, check: Callable[[], None]) -> None:
    """``check()``, unless it accepted the same ``checked`` before (in this process or another:
    the environments of a file mostly share their sinks, and the views cache may be off)."""
    here = json.dumps([kind, checked], default=str)
    if here in _ACCEPTED:
        return
    key = check_key(kind, checked, _CHECKS)
    if not accepted_before(key):
        check()
        remember_accepted(key)
    if len(_ACCEPTED) >= 64:
        _ACCEPTED.clear()
    _ACCEPTED.add(here)


_ACCEPTED: set = set()  # the checks accepted in this process (JSON of kind and what was checked)
_CHECKS = (__file__, duckdb_view_checks.__file__)  # the code of the checks, part of the views cache's key


def _tables_sql(tables) -> List[str]:
    """The ``CREATE TABLE`` statements of a sink's tables and their positions tables, in order."""
    from engine.connectors.table_sql import create_sql

    statements = []
    for name, spec in tables.items():
        table, positions = _duckdb_table_and_positions(name, spec)
        statements += [create_sql(name, table.columns, table.key),
                       create_sql(positions.name, positions.columns, table.key)]
    return statements


def _bind_request(tables_and_views: str) -> list:
    """What ``bind_views`` is given: the tables' ``CREATE TABLE`` statements and the views, as
    read back from JSON (names and queries as text)."""
    tables, views = json.loads(tables_and_views)
    return [_tables_sql(tables), list(views.items())]


@functools.lru_cache(maxsize=16)
def _bound_views(tables_and_views: str) -> Optional[Refusal]:
    """``bind_views`` once per distinct tables and views (validate checks the environments of a
    file one by one, and they mostly share their sink): None, or the ConfigError's arguments.
    Made by the views helper when there is one, else here."""
    try:
        checked = _bind_request(tables_and_views)
    except ConfigError as exc:
        return exc.message, tuple(exc.path), exc.hint
    asked = views_helper.ask("bind", checked)
    if asked is None:
        return bind_views(*checked)
    return None if asked[0] is None else (asked[0][0], tuple(asked[0][1]), asked[0][2])


def check_postgres(options) -> None:
    """The ``postgres`` sink's declared check: the DSN reads as one, the tables' names, every view one SELECT."""
    if options.get("dsn"):
        from engine.connectors.errors import ConnectorError
        from engine.connectors.postgres_connection import describe

        try:
            describe(options["dsn"])
        except ConnectorError:
            raise ConfigError("'dsn' is not a libpq connection string or URI", ("dsn",),
                              hint="e.g. postgresql://user@host:5432/database, or host=... dbname=...; "
                                   "PGHOST, PGPASSWORD, ... fill in the rest") from None
    check_form(options)
    check_tables(POSTGRES_LABEL, options, _postgres_table)
    check_case(options, table_names=False)  # quoted, PostgreSQL's are case-sensitive: a table each
    _check_postgres_names(options)
    if options.get("views"):
        _checked_once("select", list(options["views"].items()), lambda: check_views(options))


def _check_postgres_names(options) -> None:
    """The names of the one-table form and the schema, as the sink checks them when built (a name
    PostgreSQL would cut to 63 bytes, or holding NUL): at validate, at their line."""
    checks: List[Tuple[tuple, Callable[[], Any]]] = []
    for what, room in (("schema", 0), ("table", SIDE_PREFIX_BYTES)):
        value = options.get(what)
        if isinstance(value, str) and value:
            checks.append(((what,), functools.partial(check_name, what, value, room)))
    columns = options.get("columns")
    for name, kind in columns.items() if isinstance(columns, dict) and "tables" not in options else ():
        checks.append((("columns", name), functools.partial(pg_column, str(name), kind)))
    for path, check in checks:
        try:
            check()
        except ConnectorError as exc:
            raise ConfigError(str(exc).removeprefix(f"{POSTGRES_LABEL}: "), path) from None
