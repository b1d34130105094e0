"""``velocity-flow query TOPOLOGY "SQL"``: a read-only query on a DuckDB sink of the topology,
while its flow runs (the flow answers it) or after (the file is opened read-only); on a
PostgreSQL sink, in a read-only transaction on its database (engine/connectors/postgres_query.py).

Consistency (engine/connectors/duckdb_live.py): the query sees the database as of the last
batch committed when it started, every table at that batch; never part of a batch. Paths in
the topology are relative to the current directory, as for ``run``: query from where the flow
runs. Exit 0 with the rows; 2 when the topology has no such sink (or ``--sink`` names none);
3 when the query is refused (not one SELECT), fails, or the database cannot be read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error_line
from engine.hints import did_you_mean

if TYPE_CHECKING:  # the parser imports this module for every command
    from rich.console import Console

    from engine.binding.model import Topology


def add_query_command(commands):
    """The ``query`` parser."""
    query = commands.add_parser("query", help="a read-only SQL query on a DuckDB sink (also while its flow runs) "
                                              "or a PostgreSQL sink")
    query.add_argument("path", metavar="TOPOLOGY", help="the topology file whose DuckDB or PostgreSQL sink to query")
    query.add_argument("sql", metavar="SQL", help="one read-only statement: SELECT (DuckDB also WITH, SHOW, "
                                                  "DESCRIBE, SUMMARIZE)")
    query.add_argument("--sink", default=None, metavar="NAME",
                       help="which sink (default: the only DuckDB or PostgreSQL one; dead_letter: the "
                            "dead-letter sink)")
    query.add_argument("--format", choices=["table", "json"], default="table",
                       help="table (default), or json: one JSON object per row")
    return query


def databases(topology: Topology) -> Dict[str, Dict[str, Any]]:
    """Sink name -> the options of every DuckDB or PostgreSQL sink (the dead-letter sink as
    ``dead_letter``), with its ``kind``."""
    specs = dict(topology.sinks)
    if topology.dead_letter is not None:
        specs["dead_letter"] = topology.dead_letter
    return {name: {**spec.options, "kind": spec.kind} for name, spec in specs.items()
            if spec.kind in ("duckdb", "postgres")}


class QueryRefused(Exception):
    """A query that cannot be answered, in one line; ``usage``: the topology has no such sink."""

    def __init__(self, message: str, usage: bool) -> None:
        super().__init__(message)
        self.usage = usage


def query_sink(topology: Topology, name: Optional[str], sql: str, path: str) -> Tuple[str, Dict[str, Any]]:
    """The sink queried (``name``, or the only one) and ``{"columns", "types", "rows"}`` of ``sql``
    on it: the one path of ``velocity-flow query`` and ``POST /api/v1/query`` (cli/observe)."""
    found = databases(topology)
    if not found:
        raise QueryRefused(f"{path} has no duckdb or postgres sink to query", usage=True)
    if name is None and len(found) > 1:
        raise QueryRefused(f"{path} has several sinks to query ({', '.join(found)}): choose one with --sink",
                           usage=True)
    if name is not None and name not in found:
        hint = did_you_mean(name, list(found))
        raise QueryRefused(f"no duckdb or postgres sink '{name}' in {path} (it has: {', '.join(found)})"
                           + (f"; {hint}" if hint else ""), usage=True)
    name = name if name is not None else next(iter(found))
    sink = found[name]
    from engine.connectors.errors import QueryError

    try:
        if sink["kind"] == "postgres":
            from engine.connectors.postgres_query import query as query_postgres

            where = "postgres sink"
            result = query_postgres(sink.get("dsn") or "", sink.get("schema"), sql)
        else:
            from engine.connectors.duckdb_live import query  # DuckDB is loaded for this command only

            where = str(sink["path"])
            result = query(where, sql)
    except QueryError as exc:
        raise QueryRefused(f"query on {where}: {exc}", usage=False) from None
    return name, result


def run_query(topology: Topology, args, out: Console, err: Console) -> int:
    try:
        _, result = query_sink(topology, args.sink, args.sql, args.path)
    except QueryRefused as exc:
        err.print(error_line(str(exc)), highlight=False, markup=False)
        return EXIT_USAGE if exc.usage else EXIT_FAILED
    _print(result, args.format, out)
    return EXIT_OK


def _print(result: Dict[str, Any], form: str, out: Console) -> None:
    from rich.table import Table  # only to print: not when the parser is built

    from engine.connectors.jsonl import encode_value

    columns: List[str] = result["columns"]
    if form == "json":
        for row in result["rows"]:
            out.file.write(encode_value(dict(zip(columns, row, strict=False))).decode("utf-8") + "\n")
        out.file.flush()
        return
    table = Table(*columns, show_lines=False)
    for row in result["rows"]:
        table.add_row(*("NULL" if v is None else str(v) for v in row))
    out.print(table)
    out.print(f"({len(result['rows'])} row{'s' if len(result['rows']) != 1 else ''})", highlight=False)
