"""What DuckDB itself says of a table sink's views: each is exactly one SELECT (its parser), and
each can be created, in declared order, over the sink's tables made empty in memory with
external access disabled.

The part of table_checks.py that runs DuckDB. It is given SQL text only and imports nothing else
of the engine's, so that the views helper (views_helper.py), which runs it in another process,
starts in DuckDB's own time (table_checks with the column types it imports: ~32M instructions).
"""

from __future__ import annotations

import functools
import importlib
import json
import threading
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from engine.sql_names import quote

Refusal = Tuple[str, Tuple[Union[str, int], ...], Optional[str]]  # a ConfigError's message, path and hint
_CREATE_HINT = "a view reads the sink's tables (and the views above it) only: no files, URLs or extensions"
# Functions a SELECT may call that change the database or its connection for what follows, whatever
# the transaction: checkpoints, profiling and logging (logging to an unwritable place made every later
# statement of the database fail, the flow's writes included), registries, and SQL run from a string.
EFFECTS = frozenset({
    "checkpoint", "force_checkpoint", "enable_profiling", "disable_profiling", "enable_logging", "disable_logging",
    "truncate_duckdb_logs", "write_log", "setval", "nextval", "query", "json_execute_serialized_sql",
    "add_grammar_extension", "remove_grammar_extension", "create_external_resource", "register_external_resource",
    "register_external_resource_type", "deregister_external_resource", "destroy_external_resource",
})


def duckdb() -> Any:
    """DuckDB's C extension: the same connect, Error and StatementType that the ``duckdb``
    package re-exports, without the package's Python side (~50 ms to import, importlib.metadata
    and email among it), which validate does not need."""
    try:
        return importlib.import_module("_duckdb")
    except ImportError:  # a duckdb laid out otherwise
        return importlib.import_module("duckdb")


def read_only_problem(sql: object, con: Any = None) -> Optional[str]:
    """Why ``sql`` is not a read-only query (None when it is); parsed by ``con``, else by the
    default connection."""
    module = duckdb()
    if not isinstance(sql, str) or not sql.strip():
        return "the query is empty"
    try:
        statements = module.extract_statements(sql, connection=con)
    except module.Error as exc:
        return f"the query does not parse: {str(exc).splitlines()[0]}"
    if len(statements) != 1:
        return f"one statement at a time, not {len(statements)}"
    if statements[0].type != module.StatementType.SELECT:
        return f"only SELECT queries (read-only), not a {statements[0].type.name} statement"
    return _effect_problem(sql, con if con is not None else module.default_connection())


def _effect_problem(sql: str, con: Any) -> Optional[str]:
    """Why the one SELECT ``sql`` is not read-only after all: a function of ``EFFECTS`` anywhere in
    its syntax tree (a subquery, a CTE, a lateral join included)."""
    tree = json.loads(con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if tree.get("error"):
        return f"the query cannot be checked: {str(tree.get('error_message', '')).splitlines()[0]}"
    found: List[str] = []
    pending: List[Any] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            if str(node.get("function_name", "")).lower() in EFFECTS:
                found.append(str(node["function_name"]).lower())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    if found:
        return f"a read-only query may not call {min(found)}() (it changes the database or runs SQL given as text)"
    return None


def view_problem(query: object) -> Optional[str]:
    """Why ``query`` cannot be a view (None when it can): a view is exactly one ``SELECT``
    (or ``WITH ... SELECT``, ``VALUES``, ``FROM ...``) statement, as ``velocity-flow query``
    takes. Checked by DuckDB's parser (``database``'s); what the query reads is checked when
    the view is created, with external access disabled (no file, URL or extension)."""
    with LOCK:
        problem = read_only_problem(query, database())
    return None if problem is None else f"a view must be exactly one SELECT statement: {problem}"


def first_view_problem(queries: Sequence[object]) -> Optional[Tuple[int, str]]:
    """The index of the first query that cannot be a view, and why (None when all can)."""
    for index, query in enumerate(queries):
        problem = view_problem(query)
        if problem:
            return index, problem
    return None


@functools.lru_cache(maxsize=1)
def database() -> Any:
    """The in-memory DuckDB, external access disabled, that parses and binds the views: one per
    process (used under LOCK), as starting one costs 30 ms of cpu or more (parsing without a
    connection started the default one, a second instance)."""
    return duckdb().connect(":memory:", config={"enable_external_access": False})


LOCK = threading.Lock()


def bind_views(tables_sql: Sequence[str], views: Sequence[Tuple[Any, Any]]) -> Optional[Refusal]:
    """Create the sink's tables (``tables_sql``: their ``CREATE TABLE`` statements and their
    positions tables', empty) and then its views (name, query), in declared order, with
    external access disabled (``database``, in a transaction rolled back after), as the sink
    does at start: a view naming an unknown table or column, or reading a file or a URL, is
    refused at the view's line by ``validate`` instead of stopping the run."""
    module = duckdb()
    with LOCK:
        con = database()
        con.execute("BEGIN TRANSACTION")
        try:
            try:
                con.execute(";\n".join(tables_sql))  # one call: ~5x faster than one per statement
            except module.Error:  # e.g. a key naming no column: reported at the key (binding's check)
                return None  # the views cannot be checked without the table: one error, not two
            for view, query in views:
                try:
                    con.execute(f"CREATE VIEW {quote(view)} AS {query}")
                except module.Error as exc:
                    reason = str(exc).strip().splitlines()[0]
                    return (f"view '{view}' cannot be created: {reason}", ("views", view), _CREATE_HINT)
        finally:
            try:
                con.execute("ROLLBACK")
            except module.Error:  # a fatal error invalidated the database: a new one next time
                database.cache_clear()
    return None


def warm_up() -> None:
    """Start the database and DuckDB's SQL parser (the views helper's start, before any
    request): parsing alone changes nothing in the database."""
    duckdb().extract_statements("CREATE TABLE t (a INTEGER PRIMARY KEY); CREATE VIEW v AS SELECT a FROM t",
                                connection=database())


def _bind(payload: List[Any]) -> Optional[Refusal]:
    return bind_views(*payload)


# What the views helper answers, by request kind (the payload is JSON): these checks, made there
ANSWERS: Dict[str, Any] = {"select": first_view_problem, "bind": _bind}
