"""SQL identifiers in generated SQL (DuckDB and PostgreSQL alike)."""

from __future__ import annotations


def quote(identifier: str) -> str:
    """A SQL identifier, double-quoted with embedded quotes doubled: any text is just a name."""
    return '"' + identifier.replace('"', '""') + '"'
