"""What a ``postgres`` sink will do to its tables when its flow starts, known before it starts.

The sink creates a missing table and checks an existing one against the declared columns (and,
for ``upsert`` and the ``tables`` form, the primary key): ``table_problems`` is that check, used
by the sink (``postgres.ensure_table``) and by ``deploy`` / ``deploy --plan``
(``plan_tables``), so a table that exists with other columns is a deploy error, not a flow
that starts and stops. ``validate`` connects to nothing: it cannot know.

``plan_tables`` reads the catalogs only: one connection per sink whose transactions are
read-only, nothing created (a schema that does not exist yet means every table is created).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from engine.connectors.duckdb_columns import Column
from engine.connectors.duckdb_positions import Positions
from engine.connectors.errors import ConnectorError
from engine.connectors.postgres_columns import POSITION_TYPES, pg_column
from engine.connectors.table_specs import TableSpec, single_table
from engine.connectors.table_sql import column_differences, key_difference
from engine.sql_names import quote  # a schema name holding '"' would break the search_path

LABEL = "postgres sink"
CREATE, AS_DECLARED, CONFLICT = "create", "as declared", "conflict"
_COLUMNS = """SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind IN ('r', 'p')
      AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""
_PRIMARY_KEY = """SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
    WHERE n.nspname = current_schema() AND c.relname = %s AND i.indisprimary"""


def table_problems(conn: Any, table: str, columns: List[Column], key: Optional[List[str]]) -> Optional[List[str]]:
    """None when ``table`` is missing from the current schema; else how it differs from ours."""
    existing = conn.execute(_COLUMNS, [table]).fetchall()
    if not existing:
        return None
    problems = column_differences(dict(existing), columns, {})
    if key:
        problems += key_difference([name for (name,) in conn.execute(_PRIMARY_KEY, [table]).fetchall()], key)
    return problems


def conflict_message(table: str, problems: List[str]) -> str:
    return f"table '{table}' exists with other columns: " + "; ".join(problems)


@dataclass
class TablePlan:
    sink: str
    table: str
    action: str  # CREATE, AS_DECLARED or CONFLICT
    differences: List[str] = field(default_factory=list)

    def line(self) -> str:
        where = f"postgres sink '{self.sink}': "
        if self.action == CONFLICT:
            return where + conflict_message(self.table, self.differences)
        return where + f"table '{self.table}' " + ("to create" if self.action == CREATE else "exists as declared")


def declared_tables(options: Dict[str, Any]) -> List[Tuple[str, List[Column], Optional[List[str]]]]:
    """(name, columns, key) of every table the sink writes, its positions side tables included."""
    if options.get("tables"):
        found: List[Tuple[str, List[Column], Optional[List[str]]]] = []
        for name, spec in options["tables"].items():
            table = TableSpec(LABEL, name, spec, pg_column)
            positions = Positions(name, table.columns, table.key, LABEL, POSITION_TYPES)
            found += [(name, table.columns, table.key), (positions.name, positions.columns, table.key)]
        return found
    columns, key = single_table(LABEL, options["table"], options.get("columns"), options.get("mode", "append"),
                                options.get("key"), pg_column)
    return [(options["table"], columns, key)]


def plan_tables(sinks: Dict[str, Dict[str, Any]], connect_timeout: int = 10) -> List[TablePlan]:
    """Sink name -> its options: what each declared table will be when the flows start."""
    import psycopg

    from engine.connectors.postgres_connection import describe
    from engine.postgres_errors import first_line

    plans = []
    for sink, options in sinks.items():
        dsn, schema = options.get("dsn") or "", options.get("schema")
        tables = declared_tables(options)
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=connect_timeout,
                                 application_name="velocity-flow deploy",
                                 options="-c default_transaction_read_only=on") as conn:
                if schema and conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s",
                                           [schema]).fetchone() is None:
                    plans += [TablePlan(sink, name, CREATE) for name, _, _ in tables]
                    continue
                if schema:
                    conn.execute("SELECT set_config('search_path', %s, false)", [f'{quote(schema)}, public'])
                for name, columns, key in tables:
                    problems = table_problems(conn, name, columns, key)
                    action = CREATE if problems is None else CONFLICT if problems else AS_DECLARED
                    plans.append(TablePlan(sink, name, action, problems or []))
        except psycopg.Error as exc:
            raise ConnectorError(f"postgres sink '{sink}': cannot check its tables on {describe(dsn)}: "
                                 f"{first_line(exc)}") from None
    return plans
