"""The errors a connector raises: it cannot open what the topology points at, or a query on
what a sink wrote cannot be answered."""


class ConnectorError(Exception):
    """A one-line message for users, raised when a connector is built or opened, never per event.

    Example: ``file source: no file matches 'samples/*.jsonl'``.
    """


class ReservedName(ConnectorError):
    """A table or column name a table sink keeps for itself (``_positions_<table>``, ``_lsn``,
    ``_seq``, ``_deleted``, ``__vf_*``): validate's message says to rename it."""


class Unwritable(ValueError):
    """An event that cannot be written as a sink writes it (JSON, a column's type); the message
    says why, in one line, and the event becomes a dead letter. Here, not in ``jsonl``, so that
    checking a table's columns (``validate``) does not import orjson."""


class QueryError(Exception):
    """A read-only query on a sink's database that was refused, failed, or found no database (one line)."""
