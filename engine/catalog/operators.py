"""The built-in operators, in the order ``validate`` lists them."""

from __future__ import annotations

from engine.catalog.component import Component, Option
from engine.catalog.fragments import ID, expression, mapping, ref

_EXPRESSION = {"$ref": "#/$defs/expression"}
_DURATION = {"$ref": "#/$defs/duration"}
_NAMES = {"type": "array", "items": {"type": "string"}}


def _operator(name: str, description: str, factory: str, *options: Option, **kw) -> Component:
    return Component("operator", name, description, factory, options=tuple(options), **kw)


def _expression_operator(name: str, description: str, factory: str) -> Component:
    return _operator(name, description, factory, config=_EXPRESSION, shares=True)  # filter, key: per event


def _routing(name: str, description: str, factory: str) -> Component:
    return _operator(
        name, description, factory,
        Option("when", "Output name -> predicate, tried in order. Other steps read an output as `step.output`.",
               {"type": "object", "additionalProperties": _EXPRESSION, "propertyNames": {"pattern": ID},
                "minProperties": 1}, required=True),
        Option("otherwise", "Name of the output that receives events matching no predicate (default: they are "
               "dropped).", {"type": "string", "pattern": ID}), shares=True)


_ON_ERROR = Option("on_error", "What a failed conversion does: dead-letter the event, or set the field to null.",
                  {"enum": ["dead_letter", "null"]}, default="dead_letter")

CAST = _operator(
    "cast", "Convert field values to types; a value that does not convert sends the event to the dead-letter sink "
    "with the field and the value. Nulls stay null.", "engine.operators.cast:Cast",
    Option("fields", "Field (or dotted path into nested objects) -> target type.",
           {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/castType"}}),
    _ON_ERROR,
    Option("debezium", "Moved: Debezium change events are decoded by the `debezium` step (validate says how to "
           "rewrite a file that still has it here)."),
    constraints={"anyOf": [{"required": ["fields"]}, {"required": ["debezium"]}]}, shares=True)

DEBEZIUM = _operator(
    "debezium", "Decode Debezium PostgreSQL change events (JsonConverter output, with or without the schema) into "
    "`op`, `before`, `after` (typed by each column's logical type), `source`, `ts_ms`, `transaction`, `table`, "
    "`tx_id`, `lsn` (docs/debezium.md). `debezium: {}` when the events carry their schema.",
    "engine.operators.debezium:Debezium",
    Option("decimal", "For events without a schema: the connector's `decimal.handling.mode`: `precise` = base64 "
           "unscaled bytes (a `decimal(p,s)` cast reads them with scale s), `string` = text, `double` = numbers.",
           {"enum": ["precise", "string", "double"]}, default="precise"),
    Option("time", "For events without a schema: the connector's `time.precision.mode`: a `timestamp` cast reads "
           "epoch numbers as microseconds (`adaptive`, `adaptive_time_microseconds`) or milliseconds (`connect`).",
           {"enum": ["adaptive", "adaptive_time_microseconds", "connect"]}, default="adaptive"),
    Option("fields", "Casts applied after decoding (`after.weight_kg: decimal(10,2)`), reading Debezium's encodings "
           "of values a schema does not describe.",
           {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/castType"}}),
    _ON_ERROR, shares=True)  # what it remembers (converted values) is a cache of this process

FILTER = _expression_operator(
    "filter", "Keep the events for which this predicate is true; others are dropped (null counts as false).",
    "engine.operators.filter:Filter")

MAP = _operator(
    "map", "Compute a new event: start from the kept input fields, rename, drop, then set computed fields.",
    "engine.operators.map:Map",
    Option("fields", "Output field (dotted for nested) -> expression evaluated on the input event.",
           {"type": "object", "additionalProperties": _EXPRESSION}),
    Option("keep", "Input fields carried over: `all`, `none` (default), or a list of names.",
           {"oneOf": [{"enum": ["all", "none"]}, _NAMES]}),
    Option("drop", "Fields removed from the kept ones.", _NAMES),
    Option("rename", "Kept field -> new name.", {"type": "object", "additionalProperties": {"type": "string"}}),
    Option("key", "Sets the event's key (`_key`), used by `aggregate` and keyed sinks.", _EXPRESSION),
    Option("schema", "Validate every output event against this JSON Schema.", {"$ref": "#/$defs/schemaPath"}),
    shares=True)

KEY = _expression_operator("key", "Set the event's key (the `_key` field) from this expression, as a string.",
                           "engine.operators.key:Key")

VALIDATE = _operator(
    "validate", "Validate events against a JSON Schema with a compiled validator.",
    "engine.operators.validate:Validate",
    Option("schema", "", {"$ref": "#/$defs/schemaPath"}, required=True), shares=True)

ROUTE = _routing("route", "Send each event to the first output whose predicate is true.",
                 "engine.operators.route:Route")
BRANCH = _routing("branch", "Send each event to every output whose predicate is true.",
                  "engine.operators.route:Branch")

UNION = _operator("union", "Merge these streams into one (no `from` needed).", "engine.operators.union:Union",
                  config={"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 2}, shares=True)

_WINDOW = mapping(
    "Group events into windows instead of one running result per key: exactly one of tumbling, sliding, session, "
    "count.", {
        "tumbling": ref("duration", "Fixed, non-overlapping windows of this length."),
        "sliding": mapping("Overlapping windows.", {"size": ref("duration", "Window length."),
                                                    "every": ref("duration", "How often a new window starts.")},
                           ["size", "every"]),
        "session": mapping("A window per burst of activity.",
                           {"gap": ref("duration", "Inactivity that closes a session.")}, ["gap"]),
        "count": {"type": "integer", "minimum": 1, "description": "A window every N events of a key."},
        "time": {"enum": ["event", "processing"], "description": "Event time (from `event_time`) or the system "
                 "clock. Default: event when `event_time` is given."},
        "event_time": expression("Expression giving the event's timestamp."),
        "allowed_lateness": ref("duration", "How long to wait for out-of-order events before closing a window; later "
                                "events are reported as late dead letters.")})

AGGREGATE = _operator(
    "aggregate", "Per-key stateful fold, optionally windowed (docs/aggregate.md).",
    "engine.operators.aggregate:Aggregate",
    Option("key", "The group key (default: the `_key` field set by a `key` step or `map.key`).", _EXPRESSION),
    Option("compute", "Output field -> aggregation: count(), count(x), sum(x), min(x), max(x), avg(x), first(x), "
           "last(x), collect(x), where x is an expression.",
           {"type": "object", "minProperties": 1,
            "additionalProperties": {"$ref": "#/$defs/aggregation"}},
           required=True),
    Option("window", _WINDOW["description"], {k: v for k, v in _WINDOW.items() if k != "description"}),
    Option("emit", "Without a window: `updates` emits a key's new result after each batch that changed it; `final` "
           "emits once per key at the end of a bounded input.", {"enum": ["updates", "final"]}))

MERGE_TRANSACTIONS = _operator(
    "merge_transactions", "Merge the row changes of each database transaction into one event per (transaction, "
    "domain key) with the net change of every row (docs/transactions.md).",
    "engine.operators.merge_transactions:MergeTransactions",
    Option("row", "Identity of a row (default: `table + ':' + str(coalesce(after.id, before.id))`).", _EXPRESSION),
    Option("group", "The domain key the row changes are grouped by (default: the row).", _EXPRESSION),
    Option("markers", "The input also carries Debezium's transaction metadata (BEGIN/END): a transaction is complete "
           "when END's per-table counts are reached.", {"type": "boolean"}, default=False),
    Option("tables", "With markers: the tables this step reads; END's counts for other tables are ignored, and "
           "transactions touching none of them are dropped at once.", _NAMES),
    Option("idle", "Release a transaction that received nothing for this long.", _DURATION))

UNNEST = _operator(
    "unnest", "One output event per item of a list field.", "engine.operators.unnest:Unnest",
    Option("field", "The list field.", {"type": "string", "minLength": 1}, required=True),
    Option("as", "Name of the item in the output event (default: the list's name); null merges an object item's "
           "fields into the event.", {"type": ["string", "null"]}),
    Option("keep", "Input fields copied into every output event.", _NAMES), shares=True)

MICRO_BATCH = _operator(
    "micro_batch", "Hold events for an interval (processing time), then release them together as one batch per "
    "chunk: a sink writing one transaction per batch applies them atomically.",
    "engine.operators.micro_batch:MicroBatch",
    Option("every", "The interval (default 5s).", _DURATION),
    Option("chunks", "Number of chunks; events with the same key always share a chunk.",
           {"type": "integer", "minimum": 1}, default=1),
    Option("key", "The key that keeps related events in one chunk (default: `_key`).", _EXPRESSION))

WITH_PREVIOUS = _operator(
    "with_previous", "Attach to each event the previous event of the same key (null for the first), to compare old "
    "and new state.", "engine.operators.with_previous:WithPrevious",
    Option("key", "The key (default: `_key`).", _EXPRESSION),
    Option("as", "Name of the attached field (default `previous`).", {"type": "string"}),
    Option("fields", "Only these fields are remembered per key.", _NAMES),
    Option("remember_if", "A predicate over the emitted event (the previous one attached): only the events for "
           "which it is exactly true are remembered, e.g. the newest of events that may come again or out of "
           "order (default: every event).", _EXPRESSION))

SEQUENCE = _operator(
    "sequence", "Number each key's events 1, 2, 3, ... in the order they come (for `resequence` after steps that "
    "may reorder them, e.g. a join keyed by another key).", "engine.operators.sequence:Sequence",
    Option("key", "The key whose events are numbered.", _EXPRESSION, required=True),
    Option("as", "Name of the number's field (default `_seq`).", {"type": "string", "pattern": ID}))

RESEQUENCE = _operator(
    "resequence", "Give each key's events on in the order `sequence` numbered them: an event whose predecessors "
    "have not all come waits, at most `wait`; then the missing ones are given up (one that comes later goes on at "
    "once).", "engine.operators.sequence:Resequence",
    Option("key", "The key (the one `sequence` numbered by).", _EXPRESSION, required=True),
    Option("by", "The number's field (default `_seq`).", {"type": "string", "pattern": ID}),
    Option("wait", "How long an event waits for its predecessors: at least the longest hold of the steps between.",
           _DURATION, required=True))

JOIN = _operator(
    "join", "Stream-table join: enrich each event with the current row of its key in a changelog (`table`), kept "
    "as keyed state that survives restarts (docs/joins.md).", "engine.operators.joins.stream_table:StreamTableJoin",
    Option("table", "The changelog: a source, a step or `step.output`, materialized per key (the last row of a key "
           "wins; a delete removes it).", {"$ref": "#/$defs/ref"}, required=True),
    Option("on", "The key of each event: the table row it is enriched with (null: no row).", _EXPRESSION,
           required=True),
    Option("table_key", "The key of each table row, an expression over the row.", _EXPRESSION, required=True),
    Option("changelog", "What the table's events are: `upsert`, each event is the row (deleted when `delete_when` "
           "holds); `rows`, row changes `op`/`before`/`after` (Debezium's or a domain event's `changes`), `op: d` "
           "deletes the row of `before`.", {"enum": ["upsert", "rows"]}, default="upsert"),
    Option("delete_when", "With `changelog: upsert`: a predicate over the table event that deletes its key.",
           _EXPRESSION),
    Option("fields", "Output field -> expression over the table row, added to each event (null without a row). Only "
           "these values are kept per key.",
           {"type": "object", "minProperties": 1, "additionalProperties": _EXPRESSION}),
    Option("as", "Attach the whole row under this field (null without a row).", {"type": "string", "minLength": 1}),
    Option("how", "`left`: every event goes on, with nulls when its key has no row; `inner`: only events whose key "
           "has a row.", {"enum": ["left", "inner"]}, default="left"),
    Option("wait", "Hold an event whose key has no row yet for up to this long (processing time), for a table "
           "update that arrives late; without it an event sees the table as it is when the event arrives.",
           _DURATION),
    constraints={"anyOf": [{"required": ["fields"]}, {"required": ["as"]}]})

LOOKUP = _operator(
    "lookup", "Enrich each event with a row of a table (reference data, a Fast Storage) read by key, from a DuckDB "
    "file (`duckdb`) or a PostgreSQL database (`postgres`): one read-only query per batch for the keys not in the "
    "cache (docs/joins.md).", "engine.operators.joins.lookup:Lookup",
    Option("duckdb", "The DuckDB database file, opened read-only for each query.", {"type": "string", "minLength": 1}),
    Option("postgres", "A libpq connection string or URI of the PostgreSQL database (`postgresql://user@host:5432/db`"
           "); what it leaves out comes from the standard environment (`PGHOST`, `PGPASSWORD`, ...), as for the "
           "`postgres` sink; empty: the environment says it all. Passwords are never printed. Read-only "
           "transactions; `validate` connects to nothing.", {"type": "string"}),
    Option("schema", "With `postgres`: the table's schema (default: the connection's search path, usually "
           "`public`).", {"type": "string", "minLength": 1}),
    Option("table", "The table (or view) holding the rows.", {"type": "string", "minLength": 1}, required=True),
    Option("key", "The table's key column.", {"type": "string", "minLength": 1}, required=True),
    Option("on", "The key of each event (null: no row).", _EXPRESSION, required=True),
    Option("fields", "Output field -> column of the row (null without a row).",
           {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string", "minLength": 1}},
           required=True),
    Option("how", "`left`: every event goes on, with nulls when the table has no row for its key; `inner`: only "
           "events with a row.", {"enum": ["left", "inner"]}, default="left"),
    Option("ttl", "How long a row read (or its absence) is reused before it is read again.", _DURATION,
           default="60s"),
    Option("cache", "How many keys the cache holds at most; the least recently used leave first.",
           {"type": "integer", "minimum": 0}, default=10000),
    Option("reconnect", "With `postgres`: how long a batch waits for the server after the connection was lost (a "
           "restart), reconnecting with growing pauses, before its events are dead letters; while the server stays "
           "away, later batches are dead-lettered at once (one connection attempt a second at most).", _DURATION,
           default="30s"),
    constraints={"oneOf": [{"required": ["duckdb"]}, {"required": ["postgres"]}]},
    shares=True)  # each process reads the table, as each worker of a cluster does

INTERVAL_JOIN = _operator(
    "interval_join", "Windowed stream-stream join on event time: each event of `from` with every event of `with` of "
    "the same key whose time is within `before`/`after` of its own, one output per pair; late events are dead letters, "
    "a key's state is freed once its window has passed (docs/joins.md).",
    "engine.operators.joins.interval:IntervalJoin",
    Option("with", "The other stream: a source, a step or `step.output`.", {"$ref": "#/$defs/ref"}, required=True),
    Option("on", "The key of each event of `from`.", _EXPRESSION, required=True),
    Option("with_key", "The key of each event of `with`.", _EXPRESSION, required=True),
    Option("time", "The event time of each event of `from` (a timestamp or ISO-8601 text).", _EXPRESSION,
           required=True),
    Option("with_time", "The event time of each event of `with`.", _EXPRESSION, required=True),
    Option("before", "How long before an event of `from` a matching event of `with` may be.", _DURATION,
           default="0s"),
    Option("after", "How long after an event of `from` a matching event of `with` may be.", _DURATION, default="0s"),
    Option("allowed_lateness", "How far behind a key's latest event time an event may be and still join.", _DURATION,
           default="0s"),
    Option("fields", "Output field -> expression over the matching event of `with`, added to the event of `from`.",
           {"type": "object", "minProperties": 1, "additionalProperties": _EXPRESSION}, required=True))

OPERATORS = (CAST, DEBEZIUM, FILTER, MAP, KEY, VALIDATE, ROUTE, BRANCH, UNION, AGGREGATE, MERGE_TRANSACTIONS, UNNEST,
             MICRO_BATCH, WITH_PREVIOUS, SEQUENCE, RESEQUENCE, JOIN, LOOKUP, INTERVAL_JOIN)
