"""Generates schemas/topology.schema.json, the JSON Schema of topology files.

Run `python scripts/topology_schema.py` after changing the format; a test checks that the
committed schema equals what this script generates.
"""
import json
import os
ID = r"^[A-Za-z_][A-Za-z0-9_-]*$"
REF = r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)?$"
DUR = r"^[0-9]+(\.[0-9]+)?(ms|s|m|h|d)$"
CAST = r"^(int|float|bool|str|date|json|timestamp(\((s|ms|us)\))?|decimal\([0-9]+, ?[0-9]+\))$"
def s(desc, **kw): return {"type": "string", "description": desc, **kw}
def obj(desc, props, required=(), extra=False, **kw):
    o = {"type": "object", "description": desc, "properties": props, "additionalProperties": extra, **kw}
    if required: o["required"] = list(required)
    return o
def expr(desc): return {"$ref": "#/$defs/expression", "description": desc}
refs = {"description": "Where the events come from: a source name, a step id, or a route output `step.output`; a list means the union of them.",
        "oneOf": [{"$ref": "#/$defs/ref"}, {"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 1}]}
defs = {
 "ref": s("A source name, a step id, or `step.output` for an output of a route or branch step.", pattern=REF),
 "expression": s("An expression in velocity-flow's expression language (docs/expressions.md), compiled once when the topology loads.", minLength=1),
 "duration": s("A duration: a number and a unit, ms, s, m, h or d (`500ms`, `5s`, `2m`).", pattern=DUR),
 "castType": s("Target type: int, float, bool, str, date, json, timestamp (ISO-8601 text), timestamp(s|ms|us) (epoch number in that unit), or decimal(precision,scale).", pattern=CAST),
 "columnType": s("Column type: int, float, bool, str, date, json, timestamp, or decimal(precision,scale).", pattern=r"^(int|float|bool|str|date|json|timestamp|decimal\([0-9]+, ?[0-9]+\))$"),
 "schemaPath": s("Path of a JSON Schema file (draft 2020-12 or earlier), relative to the working directory. Every event is validated with a compiled validator; a violating event goes to the dead-letter sink with the reason.", minLength=1),
 "fileSource": obj("Read JSON Lines from a file, every matching file of a directory, or a glob. Bounded: the flow ends when every file is read. Each file is a partition, so files spread over workers.", {
     "path": s("A file, a directory or a glob pattern.", minLength=1),
     "pattern": s("With a directory: the file names to read (glob).", default="*.jsonl"),
     "batch_size": {"type": "integer", "minimum": 1, "default": 1000, "description": "Lines read per batch."},
     "format": {"enum": ["json", "string"], "default": "json", "description": "Lines are JSON objects (default), or text as the event `{value: line}`."}}, ["path"]),
 "fileSink": obj("Write events as JSON Lines into one file (exactly once under recovery: a resumed flow truncates what was written after the last snapshot).", {
     "path": s("The output file; parent directories are created.", minLength=1),
     "mode": {"enum": ["overwrite", "append"], "default": "overwrite", "description": "`overwrite` starts the file anew on a fresh run; `append` adds to it."}}, ["path"]),
 "stdoutSink": obj("Print events to standard output.", {
     "format": {"enum": ["json", "pretty"], "default": "json", "description": "`json`: one compact JSON object per line; `pretty`: colored, indented (rich)."}}),
 "duckdbSink": obj("Write events into a DuckDB table (`table`), or row changes into several tables (`tables`); one transaction per batch.", {
     "path": s("The DuckDB database file; parent directories are created.", minLength=1),
     "table": s("The table; created from `columns` when missing.", minLength=1),
     "tables": {"type": "object", "minProperties": 1, "description": "Several tables, for row changes (`table`, `op`, `before`, `after`): upserts and deletes by key, all tables in one transaction per batch.",
                "additionalProperties": {"type": "object", "additionalProperties": False, "required": ["key", "columns"], "description": "A table of the set.",
                                         "properties": {"key": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Primary key columns."},
                                                        "columns": {"type": "object", "minProperties": 1, "additionalProperties": {"$ref": "#/$defs/columnType"}, "description": "Column name -> type."}}}},
     "views": {"type": "object", "description": "With `tables`: view name -> SQL query over the tables, (re)created when the flow starts (composite objects such as a Load). Exactly one SELECT (or WITH ... SELECT) statement each, created with external access disabled: a view cannot read or write files, attach databases or load extensions.", "additionalProperties": {"type": "string", "minLength": 1}},
     "columns": {"type": "object", "description": "Column name -> type. Optional when the step's fields are known; events' extra fields are ignored, missing ones become NULL.", "additionalProperties": {"$ref": "#/$defs/columnType"}, "minProperties": 1},
     "mode": {"enum": ["append", "upsert"], "default": "append", "description": "`append` inserts every event (at-least-once under recovery); `upsert` inserts or updates by `key` (idempotent, so effectively once)."},
     "key": {"type": "array", "items": s("A key column."), "minItems": 1, "description": "The primary key columns; required with `mode: upsert`."}}, ["path"]),
}
brokers = {"description": "Bootstrap servers (librdkafka `bootstrap.servers`): `host:port`, comma-separated, or a list.",
           "oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}
settings = {"type": "object", "description": "librdkafka properties passed through as they are (`security.protocol`, `sasl.mechanism`, `sasl.username`, ...). Take secrets from the environment: `sasl.password: \"${KAFKA_PASSWORD}\"`; they are never printed.",
            "additionalProperties": {"type": ["string", "integer", "boolean", "number"]}}
defs["kafkaSource"] = obj("Read messages from Kafka topics. Each topic partition is a Bytewax partition, so partitions spread over workers and processes; the next offset of each is kept in the recovery store.", {
    "brokers": brokers,
    "topic": s("One topic.", minLength=1),
    "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "Several topics."},
    "pattern": s("A regular expression; every topic whose whole name matches is read.", minLength=1),
    "group_id": s("Consumer group: offsets are committed to it at each snapshot (for lag monitoring and `start: committed`)."),
    "start": s("Where to start without a recovery snapshot: `earliest` (default), `latest`, `committed` (the group's offsets) or an ISO-8601 time.", default="earliest"),
    "format": {"enum": ["json", "string", "bytes"], "default": "json", "description": "Message values: JSON objects (default), or text/bytes as the event `{value: ...}`."},
    "metadata": {"type": "boolean", "default": False, "description": "Add each message's topic, partition, offset, key, timestamp and headers to its event as the field `_meta`."},
    "tail": {"type": "boolean", "default": True, "description": "Keep reading new messages (default); `false` stops at the end of every partition."},
    "batch_size": {"type": "integer", "minimum": 1, "default": 1000, "description": "Messages consumed per batch."},
    "timeout": {"$ref": "#/$defs/duration", "description": "How long to wait for the brokers before failing (default 10s)."},
    "align": {"oneOf": [{"$ref": "#/$defs/duration"}, {"const": False}], "default": "100ms",
              "description": "How far (by message timestamp) a partition may run ahead of a lagging partition that the same process reads with the same brokers and group_id, like Kafka Streams' stream time: after a backlog, topics read together stay together instead of piling up in the state of merge_transactions. `false` reads every partition on its own."},
    "settings": settings}, ["brokers"])
defs["kafkaSource"]["oneOf"] = [{"required": ["topic"]}, {"required": ["topics"]}, {"required": ["pattern"]}]
defs["kafkaSink"] = obj("Write events as JSON messages to a Kafka topic; every batch's deliveries are confirmed (acks=all, idempotent producer) before it counts as written: at-least-once.", {
    "brokers": brokers,
    "topic": s("The topic (fixed).", minLength=1),
    "topic_from": expr("An expression choosing each event's topic."),
    "key": expr("The message key, as text (default: the event's `_key` field when set)."),
    "headers": {"type": "object", "description": "Header name -> expression.", "additionalProperties": {"$ref": "#/$defs/expression"}},
    "timeout": {"$ref": "#/$defs/duration", "description": "How long a batch may wait for its deliveries before the flow fails (default 30s)."},
    "settings": settings}, ["brokers"])
defs["topic"] = obj("A Kafka topic's settings.", {
    "partitions": {"type": "integer", "minimum": 1, "default": 1, "description": "Number of partitions (the unit of parallelism across workers)."},
    "replication_factor": {"type": "integer", "minimum": 1, "default": 1, "description": "Copies of each partition (1 on a single broker)."},
    "config": {"type": "object", "description": "Topic configuration, e.g. `cleanup.policy: compact`, `retention.ms: 604800000`.",
               "additionalProperties": {"type": ["string", "integer", "boolean"]}},
    "brokers": {**brokers, "description": "Where the topic lives. Default: the brokers of the kafka sources and sinks that use it."}})
source_kinds = {"file": {"$ref": "#/$defs/fileSource"}, "kafka": {"$ref": "#/$defs/kafkaSource"}}
sink_kinds = {"file": {"$ref": "#/$defs/fileSink"}, "stdout": {"$ref": "#/$defs/stdoutSink"}, "duckdb": {"$ref": "#/$defs/duckdbSink"}, "kafka": {"$ref": "#/$defs/kafkaSink"}}
defs["source"] = obj("A source of events: exactly one connector (`file`, `kafka`), plus optional settings.", {
    **source_kinds,
    "schema": {"$ref": "#/$defs/schemaPath", "description": "Validate every decoded event against this JSON Schema; its `properties` types also tell validation which fields exist."},
    "description": s("Free text for people.")}, minProperties=1)
defs["sink"] = obj("A sink: `from` plus exactly one connector (`file`, `stdout`, `duckdb`, `kafka`).", {
    "from": refs, **sink_kinds, "description": s("Free text for people.")}, ["from"])
defs["deadLetter"] = obj("Where events that a step could not process go, with the step id, the error, the origin and the time. Default: a JSON Lines file `dead-letter/<name>.jsonl`.", {
    **sink_kinds, "description": s("Free text for people.")})
route_cfg = lambda what: obj(what, {
    "when": {"type": "object", "description": "Output name -> predicate, tried in order. Other steps read an output as `step.output`.", "additionalProperties": {"$ref": "#/$defs/expression"}, "propertyNames": {"pattern": ID}, "minProperties": 1},
    "otherwise": s("Name of the output that receives events matching no predicate (default: they are dropped).", pattern=ID)}, ["when"])
agg = obj("Per-key stateful fold, optionally windowed (docs/aggregate.md).", {
    "key": expr("The group key (default: the `_key` field set by a `key` step or `map.key`)."),
    "compute": {"type": "object", "minProperties": 1, "description": "Output field -> aggregation: count(), count(x), sum(x), min(x), max(x), avg(x), first(x), last(x), collect(x), where x is an expression.", "additionalProperties": s("An aggregation call such as `sum(weight_kg)`.")},
    "window": obj("Group events into windows instead of one running result per key: exactly one of tumbling, sliding, session, count.", {
        "tumbling": {"$ref": "#/$defs/duration", "description": "Fixed, non-overlapping windows of this length."},
        "sliding": obj("Overlapping windows.", {"size": {"$ref": "#/$defs/duration", "description": "Window length."}, "every": {"$ref": "#/$defs/duration", "description": "How often a new window starts."}}, ["size", "every"]),
        "session": obj("A window per burst of activity.", {"gap": {"$ref": "#/$defs/duration", "description": "Inactivity that closes a session."}}, ["gap"]),
        "count": {"type": "integer", "minimum": 1, "description": "A window every N events of a key."},
        "time": {"enum": ["event", "processing"], "description": "Event time (from `event_time`) or the system clock. Default: event when `event_time` is given."},
        "event_time": expr("Expression giving the event's timestamp."),
        "allowed_lateness": {"$ref": "#/$defs/duration", "description": "How long to wait for out-of-order events before closing a window; later events are reported as late dead letters."}}),
    "emit": {"enum": ["updates", "final"], "description": "Without a window: `updates` emits a key's new result after each batch that changed it; `final` emits once per key at the end of a bounded input."}}, ["compute"])
operators = {
 "cast": obj("Convert field values to types; a value that does not convert sends the event to the dead-letter sink with the field and the value. Nulls stay null. With `debezium`, decode Debezium PostgreSQL change events into typed row changes first (docs/debezium.md).", {
    "fields": {"type": "object", "minProperties": 1, "description": "Field (or dotted path into nested objects) -> target type. With `debezium`, applied after decoding (`after.weight_kg: decimal(10,2)`), reading Debezium's encodings of schemaless values.", "additionalProperties": {"$ref": "#/$defs/castType"}},
    "debezium": {"description": "Decode Debezium change events (JsonConverter output of the PostgreSQL connector, with or without the schema) into `op`, `before`, `after` (typed by each column's logical type), `source`, `ts_ms`, `transaction`, `table`, `tx_id`, `lsn`. `true`, or hints for events without a schema.",
                 "oneOf": [{"type": "boolean"}, obj("Decode Debezium change events; how the connector encodes values, for events without a schema (the schema, when present, wins).", {
                     "decimal": {"enum": ["precise", "string", "double"], "default": "precise", "description": "The connector's `decimal.handling.mode`: `precise` = base64 unscaled bytes (a `decimal(p,s)` cast reads them with scale s), `string` = text, `double` = numbers."},
                     "time": {"enum": ["adaptive", "adaptive_time_microseconds", "connect"], "default": "adaptive", "description": "The connector's `time.precision.mode`: a `timestamp` cast reads epoch numbers as microseconds (`adaptive`, `adaptive_time_microseconds`) or milliseconds (`connect`)."}})]},
    "on_error": {"enum": ["dead_letter", "null"], "default": "dead_letter", "description": "What a failed conversion does: dead-letter the event, or set the field to null."}}, anyOf=[{"required": ["fields"]}, {"required": ["debezium"]}]),
 "filter": expr("Keep the events for which this predicate is true; others are dropped (null counts as false)."),
 "map": obj("Compute a new event: start from the kept input fields, rename, drop, then set computed fields.", {
    "fields": {"type": "object", "description": "Output field (dotted for nested) -> expression evaluated on the input event.", "additionalProperties": {"$ref": "#/$defs/expression"}},
    "keep": {"description": "Input fields carried over: `all`, `none` (default), or a list of names.", "oneOf": [{"enum": ["all", "none"]}, {"type": "array", "items": {"type": "string"}}]},
    "drop": {"type": "array", "items": {"type": "string"}, "description": "Fields removed from the kept ones."},
    "rename": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Kept field -> new name."},
    "key": expr("Sets the event's key (`_key`), used by `aggregate` and keyed sinks."),
    "schema": {"$ref": "#/$defs/schemaPath", "description": "Validate every output event against this JSON Schema."}}),
 "key": expr("Set the event's key (the `_key` field) from this expression, as a string."),
 "validate": obj("Validate events against a JSON Schema with a compiled validator.", {"schema": {"$ref": "#/$defs/schemaPath"}}, ["schema"]),
 "route": route_cfg("Send each event to the first output whose predicate is true."),
 "branch": route_cfg("Send each event to every output whose predicate is true."),
 "union": {"type": "array", "items": {"$ref": "#/$defs/ref"}, "minItems": 2, "description": "Merge these streams into one (no `from` needed)."},
 "aggregate": agg,
 "merge_transactions": obj("Merge the row changes of each database transaction into one event per (transaction, domain key) with the net change of every row (docs/transactions.md).", {
    "row": expr("Identity of a row (default: `table + ':' + str(coalesce(after.id, before.id))`)."),
    "group": expr("The domain key the row changes are grouped by (default: the row)."),
    "markers": {"type": "boolean", "default": False, "description": "The input also carries Debezium's transaction metadata (BEGIN/END): a transaction is complete when END's per-table counts are reached."},
    "tables": {"type": "array", "items": {"type": "string"}, "description": "With markers: the tables this step reads; END's counts for other tables are ignored, and transactions touching none of them are dropped at once."},
    "idle": {"$ref": "#/$defs/duration", "description": "Release a transaction that received nothing for this long."}}),
 "unnest": obj("One output event per item of a list field.", {
    "field": s("The list field.", minLength=1),
    "as": {"type": ["string", "null"], "description": "Name of the item in the output event (default: the list's name); null merges an object item's fields into the event."},
    "keep": {"type": "array", "items": {"type": "string"}, "description": "Input fields copied into every output event."}}, ["field"]),
 "micro_batch": obj("Hold events for an interval (processing time), then release them together as one batch per chunk: a sink writing one transaction per batch applies them atomically.", {
    "every": {"$ref": "#/$defs/duration", "description": "The interval (default 5s)."},
    "chunks": {"type": "integer", "minimum": 1, "default": 1, "description": "Number of chunks; events with the same key always share a chunk."},
    "key": expr("The key that keeps related events in one chunk (default: `_key`).")}),
 "with_previous": obj("Attach to each event the previous event of the same key (null for the first), to compare old and new state.", {
    "key": expr("The key (default: `_key`)."),
    "as": s("Name of the attached field (default `previous`)."),
    "fields": {"type": "array", "items": {"type": "string"}, "description": "Only these fields are remembered per key."}}),
}
defs["step"] = obj("A step: an id, where it reads from, and exactly one operator (" + ", ".join(operators) + ").", {
    "id": s("Unique name of the step; other steps and sinks refer to it. Letters, digits, '_' and '-'.", pattern=ID),
    "from": {**refs, "description": refs["description"] + " Default: the previous step (or the only source, for the first step)."},
    "description": s("Free text for people."), **operators}, ["id"], minProperties=2)
defs["step"]["oneOf"] = [{"required": [k]} for k in operators]
defs["duckdbSink"]["oneOf"] = [{"required": ["table"]}, {"required": ["tables"]}]
defs["source"]["oneOf"] = [{"required": [k]} for k in source_kinds]
defs["sink"]["oneOf"] = [{"required": [k]} for k in sink_kinds]
defs["deadLetter"]["oneOf"] = [{"required": [k]} for k in sink_kinds]
schema = {
 "$schema": "https://json-schema.org/draft/2020-12/schema",
 "$id": "https://velocity-flow.dev/schemas/topology.schema.json",
 "title": "velocity-flow topology",
 "description": "A velocity-flow topology file: sources, steps and sinks of one dataflow (docs/topology.md).",
 "type": "object", "additionalProperties": False, "required": ["version", "name", "sources", "sinks"],
 "properties": {
  "version": {"const": 1, "description": "Version of the topology format; this is version 1."},
  "name": s("Name of the topology, used for the Bytewax dataflow id and default file names.", pattern=ID),
  "description": s("Free text for people."),
  "sources": {"type": "object", "minProperties": 1, "description": "Source name -> source. Names share one namespace with step ids.", "propertyNames": {"pattern": ID}, "additionalProperties": {"$ref": "#/$defs/source"}},
  "steps": {"type": "array", "description": "The steps, each reading from sources or earlier steps.", "items": {"$ref": "#/$defs/step"}},
  "sinks": {"type": "object", "minProperties": 1, "description": "Sink name -> sink.", "propertyNames": {"pattern": ID}, "additionalProperties": {"$ref": "#/$defs/sink"}},
  "dead_letter": {"$ref": "#/$defs/deadLetter"},
  "topics": {"type": "object", "description": "Kafka topics this topology needs, created by `velocity-flow deploy` when missing (and checked when present). Topic name -> settings.",
             "additionalProperties": {"$ref": "#/$defs/topic"}},
 },
 "$defs": defs,
}



def _describe_refs(node):
    """A property that is only a $ref gets the referenced definition's description, for editors."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                for prop in value.values():
                    if "$ref" in prop and "description" not in prop:
                        prop["description"] = defs[prop["$ref"].rsplit("/", 1)[1]]["description"]
            _describe_refs(value)
    elif isinstance(node, list):
        for item in node:
            _describe_refs(item)


_describe_refs(schema)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "schemas", "topology.schema.json")

if __name__ == "__main__":
    with open(OUT, "w", encoding="utf-8") as handle:
        json.dump(schema, handle, indent=2)
        handle.write("\n")
    print(f"wrote {os.path.normpath(OUT)}")
