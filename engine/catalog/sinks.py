"""The built-in sinks: ``file``, ``stdout``, ``duckdb``, ``postgres`` and ``kafka``."""

from __future__ import annotations

from engine.catalog.component import Component, Option
from engine.catalog.fragments import KAFKA_BROKERS, KAFKA_SETTINGS

_TEXT = {"type": "string", "minLength": 1}

FILE = Component(
    "sink", "file",
    "Write events as JSON Lines into one file (exactly once under recovery: a resumed flow truncates what was "
    "written after the last snapshot). A deployment in shares writes a file per share: `out.share-0-of-2.jsonl`, "
    "`out.share-1-of-2.jsonl`.",
    "engine.connectors.files:JsonlSink",
    options=(
        Option("path", "The output file; parent directories are created.", _TEXT, required=True),
        Option("mode", "`overwrite` starts the file anew on a fresh run; `append` adds to it.",
               {"enum": ["overwrite", "append"]}, default="overwrite"),
    ), shares=True)

STDOUT = Component(
    "sink", "stdout", "Print events to standard output.", "engine.connectors.stdout:StdoutSink",
    options=(
        Option("format", "`json`: one compact JSON object per line; `pretty`: colored, indented (rich).",
               {"enum": ["json", "pretty"]}, default="json"),
    ), shares=True)

_TABLE = {"type": "object", "additionalProperties": False, "required": ["key", "columns"],
          "description": "A table of the set.",
          "properties": {"key": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                 "description": "Primary key columns."},
                         "columns": {"type": "object", "minProperties": 1,
                                     "additionalProperties": {"$ref": "#/$defs/columnType"},
                                     "description": "Column name -> type."}}}

# The table sinks' shared options (DuckDB and PostgreSQL take the same tables, modes and keys)
_TABLE_OPTION = Option("table", "The table; created from `columns` when missing.", _TEXT)
_TABLES_OPTION = Option(
    "tables", "Several tables, for row changes (`table`, `op`, `before`, `after`): upserts and deletes by key, all "
    "tables in one transaction per batch.", {"type": "object", "minProperties": 1, "additionalProperties": _TABLE})
_COLUMNS_OPTION = Option(
    "columns", "Column name -> type. Optional when the step's fields are known; events' extra fields are ignored, "
    "missing ones become NULL.", {"type": "object", "additionalProperties": {"$ref": "#/$defs/columnType"},
                                  "minProperties": 1})
_MODE_OPTION = Option("mode", "`append` inserts every event (at-least-once under recovery); `upsert` inserts or "
                      "updates by `key` (idempotent, so effectively once).", {"enum": ["append", "upsert"]},
                      default="append")
_KEY_OPTION = Option("key", "The primary key columns; required with `mode: upsert`.",
                     {"type": "array", "items": {"type": "string", "description": "A key column."}, "minItems": 1})
_ONE_OR_SEVERAL = {"oneOf": [{"required": ["table"]}, {"required": ["tables"]}]}

DUCKDB = Component(
    "sink", "duckdb",
    "Write events into a DuckDB table (`table`), or row changes into several tables (`tables`); one transaction per "
    "batch.",
    "engine.connectors.duckdb_tables:duckdb_sink",
    options=(
        Option("path", "The DuckDB database file; parent directories are created.", _TEXT, required=True),
        _TABLE_OPTION, _TABLES_OPTION,
        Option("views", "With `tables`: view name -> SQL query over the tables, (re)created when the flow starts "
               "(composite objects such as a Load). Exactly one SELECT (or WITH ... SELECT) statement each, created "
               "with external access disabled: a view cannot read or write files, attach databases or load "
               "extensions. `validate` creates the views over empty copies of the tables, so a view reading "
               "a file, or a table or column the sink lacks, is refused at its line.",
               {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}),
        _COLUMNS_OPTION, _MODE_OPTION, _KEY_OPTION,
    ),
    constraints=_ONE_OR_SEVERAL,
    check="engine.connectors.table_checks:check_duckdb")

POSTGRES = Component(
    "sink", "postgres",
    "Write events into a PostgreSQL table (`table`), or row changes into several tables (`tables`), with the DuckDB "
    "sink's modes, column types and source-position ordering; one transaction per batch, written with COPY. Tables "
    "are created, or checked against the declared columns, when the flow starts; other processes read them while "
    "the flow writes.",
    "engine.connectors.postgres_tables:postgres_sink",
    options=(
        Option("dsn", "A libpq connection string or URI (`postgresql://user@host:5432/db`); what it leaves out comes "
               "from the standard environment (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`, "
               "`PGSSLMODE`, ...). Passwords are never printed: keep them in `PGPASSWORD`, a `~/.pgpass` file or "
               "`${ENV}`. Without it, the environment says it all.", {"type": "string"}),
        Option("schema", "The schema of the tables, created when missing (default: the connection's current schema, "
               "usually `public`).", _TEXT),
        _TABLE_OPTION, _TABLES_OPTION,
        Option("views", "With `tables`: view name -> SQL query over the tables (PostgreSQL's SQL), dropped and created "
               "again when the flow starts (composite objects such as a Load). Exactly one SELECT (or WITH ... "
               "SELECT) statement each.",
               {"type": "object", "additionalProperties": {"type": "string", "minLength": 1}}),
        _COLUMNS_OPTION, _MODE_OPTION, _KEY_OPTION,
        Option("reconnect", "How long the sink keeps reconnecting, with growing pauses, after the server went away "
               "(a restart, a network cut) before the flow fails; the batch is written again on the new connection.",
               {"$ref": "#/$defs/duration"}, default="30s"),
    ),
    constraints=_ONE_OR_SEVERAL,
    # shares: upserts and row changes take turns under an advisory lock (engine/connectors/postgres_connection.py)
    check="engine.connectors.table_checks:check_postgres", shares=True)

KAFKA = Component(
    "sink", "kafka",
    "Write events as JSON messages to a Kafka topic: at-least-once (every batch's deliveries confirmed, acks=all, "
    "idempotent producer) or exactly-once (Kafka transactions bound to the flow's snapshots).",
    "engine.connectors.kafka_delivery:kafka_sink",
    options=(
        KAFKA_BROKERS,
        Option("topic", "The topic (fixed).", _TEXT),
        Option("topic_from", "An expression choosing each event's topic.", {"$ref": "#/$defs/expression"}),
        Option("key", "The message key, as text (default: the event's `_key` field when set).",
               {"$ref": "#/$defs/expression"}),
        Option("headers", "Header name -> expression.",
               {"type": "object", "additionalProperties": {"$ref": "#/$defs/expression"}}),
        Option("timeout", "How long a batch may wait for its deliveries (exactly-once: a durable epoch for its "
               "commit) before the flow fails.", {"$ref": "#/$defs/duration"}, default="30s"),
        Option("delivery", "`at-least-once`: each batch is written as it comes (a crash may write it again). "
               "`exactly-once`: each epoch's messages are committed in one Kafka transaction once the flow's "
               "snapshot of that epoch is durable, so `read_committed` consumers see every message once, about "
               "one epoch later; needs a recovery store (docs/deploy.md).",
               {"enum": ["at-least-once", "exactly-once"]}, default="at-least-once"),
        KAFKA_SETTINGS,
    ), shares=True)  # exactly-once: a transactional.id per share (engine/connectors/kafka_exactly_once.py)

SINKS = (FILE, STDOUT, DUCKDB, POSTGRES, KAFKA)
