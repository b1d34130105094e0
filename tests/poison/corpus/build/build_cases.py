"""Writes tests/poison/corpus/cases/*.jsonl, the poison corpus (one labelled case per line).

The JSONL files are the corpus the harness reads; this script is how they were written (JSON
escaping of malformed lines by hand is error-prone). Edit here, run it, commit both."""
import json, os
OUT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cases")
DOMAIN = ["pickup_domain", "trip_domain", "transport_order_domain"]
files = {}
def case(category, id, what, expect="dead", topologies="*", role="primary", step=None, **kw):
    c = {"id": f"{category}.{id}", "what": what, "topologies": topologies, "role": role, "expect": expect}
    if step: c["step"] = step
    c.update(kw)
    files.setdefault(category, []).append(c)

# A universal carrier: whatever topology reads it, a step must dead-letter it
# (no 'op' for Debezium casts, 'changes' not a list for unnest, 'order_id' not an int for the example,
# no 'k' for the window aggregate).
CARRIER = '"poison":"@TOKEN@","order_id":"not-a-number","changes":"not-a-list","tx_id":"@TOKEN@"'

# ---------------------------------------------------------------- decode (every topology)
d = "decode"
case(d, "invalid_utf8", "bytes FF FE inside a JSON string (not UTF-8)", step="decode", encoding="latin1",
     line='{' + CARRIER + ',"s":"\u00ff\u00fe"}')
case(d, "overlong_utf8", "overlong UTF-8 encoding C0 AF of '/'", step="decode", encoding="latin1",
     line='{' + CARRIER + ',"s":"\u00c0\u00af"}')
case(d, "cesu_surrogate_bytes", "a UTF-16 surrogate encoded as UTF-8 bytes ED A0 80 (CESU-8)", step="decode", encoding="latin1",
     line='{' + CARRIER + ',"s":"\u00ed\u00a0\u0080"}')
case(d, "truncated_object", "a change event cut off in the middle of an object", step="decode",
     line='{"poison":"@TOKEN@","op":"c","after":{"id":')
case(d, "truncated_string", "a line ending inside a string", step="decode", line='{"poison":"@TOKEN@","s":"abc')
case(d, "json_number", "the JSON number 42 instead of an object", step="decode", line='42')
case(d, "json_huge_number", "a 29-digit JSON number instead of an object", step="decode", line='12345678901234567890123456789')
case(d, "json_float", "the JSON number -1.5e300 instead of an object", step="decode", line='-1.5e300')
case(d, "json_string", "a JSON string instead of an object", step="decode", line='"@TOKEN@"')
case(d, "json_array", "a JSON array instead of an object", step="decode", line='["@TOKEN@",1,2]')
case(d, "json_array_of_objects", "an array of change events on one line", step="decode", line='[{"poison":"@TOKEN@","op":"c"}]')
case(d, "json_true", "the JSON literal true", step="decode", line='true')
case(d, "json_null", "the JSON literal null: a Kafka tombstone written to a file, skipped by design (docs/tms.md)",
     expect="skip", line='null')
case(d, "blank_whitespace", "a line of spaces and a tab: a blank line, skipped by design (docs/connectors.md)",
     expect="skip", line=' \t  ')
case(d, "two_objects", "two JSON objects on one line", step="decode", line='{"poison":"@TOKEN@"}{"poison":"@TOKEN@"}')
case(d, "trailing_comma", "a trailing comma in an object", step="decode", line='{"poison":"@TOKEN@",}')
case(d, "single_quotes", "Python-style single quotes", step="decode", line="{'poison':'@TOKEN@'}")
case(d, "unquoted_keys", "JavaScript-style unquoted keys", step="decode", line='{poison:"@TOKEN@"}')
case(d, "bom", "a UTF-8 byte order mark before the object", line='\ufeff{' + CARRIER + '}')
case(d, "nan_literal", "the non-JSON literal NaN as a value", line='{' + CARRIER + ',"v":NaN}')
case(d, "infinity_literal", "the non-JSON literal -Infinity as a value", line='{' + CARRIER + ',"v":-Infinity}')
case(d, "number_1e400", "a JSON number that overflows a double (1e400)", line='{' + CARRIER + ',"v":1e400}')
case(d, "number_5000_digits", "a JSON integer of 5000 digits", line='{' + CARRIER + ',"v":@GEN@}', gen={"digits": 5000})
case(d, "nul_in_string", "a raw NUL byte inside a string", step="decode", line='{' + CARRIER + ',"s":"a\u0000b"}')
case(d, "nul_after_object", "a raw NUL byte after the object", step="decode", line='{' + CARRIER + '}\u0000')
case(d, "raw_tab_in_string", "a raw (unescaped) tab inside a string", step="decode", line='{' + CARRIER + ',"s":"a\tb"}')
case(d, "cr_in_line", "a lone carriage return joining two objects on one line", step="decode", line='{' + CARRIER + '}\r{"x":1}')
case(d, "escaped_nul", "an escaped NUL \\u0000 inside a string (valid JSON)", line='{' + CARRIER + ',"s":"a\\u0000b"}')
case(d, "lone_high_surrogate", "a lone high surrogate escape \\ud800", line='{' + CARRIER + ',"s":"\\ud800"}')
case(d, "lone_low_surrogate", "a lone low surrogate escape \\udc00", line='{' + CARRIER + ',"s":"x\\udc00y"}')
case(d, "duplicate_keys", "duplicate keys: a plausible change event whose later keys make it the carrier",
     line='{"op":"c","changes":[],"order_id":"1",' + CARRIER + ',"op":null}')
case(d, "nested_255", "an array nested 255 levels inside the object", line='{' + CARRIER + ',"deep":@GEN@}', gen={"nest": 255})
case(d, "nested_1000", "an array nested 1000 levels inside the object", line='{' + CARRIER + ',"deep":@GEN@}', gen={"nest": 1000})
case(d, "nested_5000", "an array nested 5000 levels inside the object", line='{' + CARRIER + ',"deep":@GEN@}', gen={"nest": 5000})
case(d, "nested_objects_5000", "objects nested 5000 levels ({\"a\":{\"a\":...}})", line='{' + CARRIER + ',"deep":@GEN@}',
     gen={"nest_objects": 5000})
case(d, "line_5mb", "a 5 MB line (one 5 MB string value)", line='{' + CARRIER + ',"pad":"@GEN@"}', gen={"pad": 5_000_000})

# ---------------------------------------------------------------- Debezium change events (the debezium step)
b = "debezium"
def change(op="c", after=None, before=None, source=None, extra=None, ts_ms=1709528524350):
    src = {"version": "3.1.3.Final", "connector": "postgresql", "name": "tms", "ts_ms": 1709528524000, "snapshot": "false",
           "db": "tms", "schema": "public", "table": "@TABLE@", "txId": "@TXN@", "lsn": 990000000, "xmin": None, "poison": "@TOKEN@"}
    if source is not None:
        src = source
    event = {"before": before, "after": {"id": "@TOKEN@", "status": "x"} if after is None else after, "source": src,
             "transaction": {"id": "@TX@:990000000", "total_order": 1, "data_collection_order": 1}, "op": op, "ts_ms": ts_ms}
    event.update(extra or {})
    return event
DBZ = dict(topologies=DOMAIN, role="data")
case(b, "op_list", 'op is the list ["c"]', step="changes", event=change(op=["c"]), **DBZ)
case(b, "op_object", 'op is an object', step="changes", event=change(op={"c": 1}), **DBZ)
case(b, "op_unknown", 'op "x"', step="changes", event=change(op="x"), **DBZ)
case(b, "op_number", 'op is the number 5', step="changes", event=change(op=5), **DBZ)
case(b, "op_empty", 'op is the empty string', step="changes", event=change(op=""), **DBZ)
case(b, "op_null", 'op is null', step="changes", event=change(op=None), **DBZ)
case(b, "heartbeat", 'a Debezium heartbeat record on a table topic', step="changes", event={"ts_ms": 1709528524350, "poison": "@TOKEN@"}, **DBZ)
case(b, "transaction_record_on_table_topic", 'a transaction END record on a table topic', step="changes",
     event={"status": "END", "id": "@TX@:1", "event_count": 1, "data_collections": [], "ts_ms": 1, "poison": "@TOKEN@"}, **DBZ)
case(b, "after_string", '"after" is a string', step="changes", event=change(after="garbage @TOKEN@"), **DBZ)
case(b, "after_list", '"after" is a list', step="changes", event=change(after=["@TOKEN@"]), **DBZ)
case(b, "before_number", 'a delete whose "before" is a number', step="changes", event=change(op="d", after=None, before=5, extra={"after": None}), **DBZ)
case(b, "source_string", '"source" is a string', step="changes", event=change(source="tms @TOKEN@"), **DBZ)
case(b, "payload_array", 'a schema envelope whose payload is an array', step="changes",
     event={"schema": {"type": "struct", "name": "tms.public.@TABLE@.Envelope"}, "payload": ["@TOKEN@"]}, **DBZ)
case(b, "payload_null", 'a schema envelope whose payload is null', step="changes",
     event={"schema": {"type": "struct", "name": "tms.public.@TABLE@.Envelope", "poison": "@TOKEN@"}, "payload": None}, **DBZ)
case(b, "schema_string", 'schema is the string "abc"', step="changes", event={"schema": "abc", "payload": change()}, **DBZ)
case(b, "schema_fields_ints", 'schema.fields is [1]', step="changes", event={"schema": {"type": "struct", "fields": [1]}, "payload": change()}, **DBZ)
case(b, "schema_fields_string", 'schema.fields is the string "abc"', step="changes",
     event={"schema": {"type": "struct", "fields": "abc"}, "payload": change()}, **DBZ)
case(b, "schema_row_fields_number", 'the after row schema has fields: 5', step="changes",
     event={"schema": {"type": "struct", "fields": [{"field": "after", "type": "struct", "fields": 5}]}, "payload": change()}, **DBZ)
case(b, "schema_row_field_null", 'the after row schema has fields: [null]', step="changes",
     event={"schema": {"type": "struct", "fields": [{"field": "after", "type": "struct", "fields": [None]}]}, "payload": change()}, **DBZ)
col = lambda schema, value: {"schema": schema, "value": value}
DEC = "org.apache.kafka.connect.data.Decimal"
MT = "io.debezium.time.MicroTimestamp"; ZT = "io.debezium.time.ZonedTimestamp"; DT = "io.debezium.time.Date"; JS = "io.debezium.data.Json"
case(b, "decimal_without_parameters", 'a Decimal column schema without parameters', step="changes",
     column=col({"type": "bytes", "name": DEC}, "AeJA"), **DBZ)
case(b, "decimal_scale_text", 'a Decimal column whose scale parameter is "abc"', step="changes",
     column=col({"type": "bytes", "name": DEC, "parameters": {"scale": "abc"}}, "AeJA"), **DBZ)
case(b, "decimal_not_base64", 'a Decimal value "!!!!" (not base64)', step="changes",
     column=col({"type": "bytes", "name": DEC, "parameters": {"scale": "3"}}, "!!!!"), **DBZ)
case(b, "decimal_empty", 'a Decimal value "" (no bytes)', step="changes",
     column=col({"type": "bytes", "name": DEC, "parameters": {"scale": "3"}}, ""), **DBZ)
case(b, "decimal_object", 'a Decimal value that is an object', step="changes",
     column=col({"type": "bytes", "name": DEC, "parameters": {"scale": "3"}}, {"a": 1}), **DBZ)
case(b, "decimal_5000_digits", 'a NUMERIC of ~5000 digits (PostgreSQL allows 131072; docs/debezium.md: "no precision limit"): must be decoded, not lost',
     expect="out", column=col({"type": "bytes", "name": DEC, "parameters": {"scale": "3"}}, "@GEN@"), gen={"decimal_bytes": 2100}, **DBZ)
case(b, "variable_scale_text", 'a VariableScaleDecimal whose scale is the text "2"', step="changes",
     column=col({"type": "struct", "name": "io.debezium.data.VariableScaleDecimal"}, {"scale": "2", "value": "AA=="}), **DBZ)
case(b, "micro_timestamp_2pow63", 'a MicroTimestamp of 2^63', step="changes", column=col({"type": "int64", "name": MT}, 9223372036854775808), **DBZ)
case(b, "micro_timestamp_2pow64", 'a MicroTimestamp of 2^64+1 (beyond 64 bits)', step="changes",
     column=col({"type": "int64", "name": MT}, 18446744073709551617), **DBZ)
case(b, "micro_timestamp_text", 'a MicroTimestamp "yesterday"', step="changes", column=col({"type": "int64", "name": MT}, "yesterday"), **DBZ)
case(b, "micro_timestamp_bool", 'a MicroTimestamp true', step="changes", column=col({"type": "int64", "name": MT}, True), **DBZ)
case(b, "micro_time_24h", 'a MicroTime of 24:00:00 (valid in PostgreSQL, not in Python)', step="changes",
     column=col({"type": "int64", "name": "io.debezium.time.MicroTime"}, 86400000000), **DBZ)
case(b, "zoned_timestamp_garbage", 'a ZonedTimestamp "2024-02-30T25:61:00Z"', step="changes",
     column=col({"type": "string", "name": ZT}, "2024-02-30T25:61:00Z"), **DBZ)
case(b, "zoned_timestamp_number", 'a ZonedTimestamp that is a number', step="changes", column=col({"type": "string", "name": ZT}, 1709528524), **DBZ)
case(b, "zoned_timestamp_year_10000", 'a ZonedTimestamp in year 10000', step="changes",
     column=col({"type": "string", "name": ZT}, "10000-01-01T00:00:00Z"), **DBZ)
case(b, "date_overflow", 'a Date of 10^12 days', step="changes", column=col({"type": "int32", "name": DT}, 1000000000000), **DBZ)
case(b, "date_text", 'a Date "2024-13-45" (text, invalid)', step="changes", column=col({"type": "int32", "name": DT}, "2024-13-45"), **DBZ)
case(b, "json_10000_nested", 'a jsonb column holding 10000 nested arrays', step="changes",
     column=col({"type": "string", "name": JS}, "@GEN@"), gen={"nest_text": 10000}, **DBZ)
case(b, "json_not_json", 'a jsonb column holding "{not json"', step="changes", column=col({"type": "string", "name": JS}, "{not json"), **DBZ)
case(b, "json_number_value", 'a jsonb column that is a JSON number, not text', step="changes", column=col({"type": "string", "name": JS}, 5), **DBZ)
case(b, "array_bad_item", 'a NUMERIC[] column with an item "!!"', step="changes",
     column=col({"type": "array", "items": {"type": "bytes", "name": DEC, "parameters": {"scale": "1"}}}, ["AA==", "!!"]), **DBZ)
case(b, "pk_null", 'an insert whose primary key is null', event=change(after={"id": None, "status": "x", "note": "@TOKEN@"}), **DBZ)
case(b, "update_without_images", 'an update with neither before nor after', event=change(op="u", after=None, extra={"after": None}), **DBZ)
case(b, "delete_without_before", 'a delete with before null (no REPLICA IDENTITY)', event=change(op="d", extra={"after": None}), **DBZ)
case(b, "no_transaction_id", 'a change with no txId and no transaction block: released in LSN order (docs/transactions.md)', expect="out",
     event=change(source={"table": "@TABLE@", "lsn": 990000000, "poison": "@TOKEN@"}, extra={"transaction": None}), **DBZ)
case(b, "ts_ms_text", 'ts_ms is the text "abc"', event=change(ts_ms="abc"), **DBZ)
case(b, "ts_ms_1e20", 'ts_ms is 1e20 (epoch ms far beyond year 9999)', event=change(ts_ms=100000000000000000000), **DBZ)
case(b, "ts_ms_minus_1e20", 'ts_ms is -1e20', event=change(ts_ms=-100000000000000000000), **DBZ)
case(b, "lsn_text", 'source.lsn is the text "abc"', event=change(source={"table": "@TABLE@", "txId": "@TXN@", "lsn": "abc", "poison": "@TOKEN@"}), **DBZ)
case(b, "table_unknown", 'source.table names a table the topology does not handle', event=change(
     source={"table": "warehouse", "txId": "@TXN@", "lsn": 990000000, "poison": "@TOKEN@"}), **DBZ)

# ---------------------------------------------------------------- transaction metadata (merge_transactions, markers: true)
m = "markers"
MK = dict(topologies=DOMAIN, role="markers")
def end(**kw):
    e = {"status": "END", "id": "@TX@:990000500", "event_count": 1,
         "data_collections": [{"data_collection": "public.@TABLE@", "event_count": 1}], "ts_ms": 1709528524000, "poison": "@TOKEN@"}
    e.update(kw)
    return e
case(m, "end_count_text", 'END whose event counts are "x"', step="per-transaction",
     event=end(event_count="x", data_collections=[{"data_collection": "public.@TABLE@", "event_count": "x"}]), **MK)
case(m, "end_count_text_no_collections", 'END with event_count "x" and no data_collections', step="per-transaction",
     event=end(event_count="x", data_collections=None), **MK)
case(m, "end_collections_string", 'END whose data_collections is "abc"', step="per-transaction", event=end(data_collections="abc"), **MK)
case(m, "end_collection_number", 'END whose data_collection is 5', step="per-transaction",
     event=end(data_collections=[{"data_collection": 5, "event_count": 1}]), **MK)
case(m, "end_collection_null_item", 'END whose data_collections is [null]', step="per-transaction", event=end(data_collections=[None]), **MK)
case(m, "end_negative_counts", 'END with negative counts', step="per-transaction",
     event=end(event_count=-1, data_collections=[{"data_collection": "public.@TABLE@", "event_count": -3}]), **MK)
case(m, "end_id_null", 'END whose id is null', step="per-transaction", event=end(id=None), **MK)
case(m, "status_unknown", 'a transaction record with status "COMMIT"', step="per-transaction", event=end(status="COMMIT"), **MK)
case(m, "marker_with_op", 'an END record that also has an op field', step="per-transaction", event=end(op="c"), **MK)
case(m, "envelope_payload_null", 'a transaction record with its Connect schema and payload null', step="per-transaction",
     event={"schema": {"type": "struct", "name": "io.debezium.connector.common.TransactionMetadataValue", "poison": "@TOKEN@"}, "payload": None}, **MK)
case(m, "begin_without_end", 'BEGIN whose END never comes: its change must still come out at the end of the input',
     expect="out", event={"status": "BEGIN", "id": "@TX@:990000000", "event_count": None, "data_collections": None, "ts_ms": 1709528524000},
     also=[{"role": "data", "event": change(after={"id": "@TOKEN@", "status": "created"})}], **MK)
case(m, "end_announces_more", 'END announcing 5 changes of which 1 arrives: it must still come out at the end of the input',
     expect="out", event=end(event_count=5, data_collections=[{"data_collection": "public.@TABLE@", "event_count": 5}]),
     also=[{"role": "data", "event": change(after={"id": "@TOKEN@", "status": "created"})}], **MK)

case(m, "end_no_collections_after_change", 'END listing no data collections (event_count 0) after a change of that transaction arrived: the change must not vanish',
     expect="dead|out", event=end(event_count=0, data_collections=[]),
     also=[{"role": "data", "event": change(after={"id": "@TOKEN@", "status": "created"})}], **MK)

# ---------------------------------------------------------------- domain events for Fast Storage
f = "fast_storage"
FS = dict(topologies=["fast_storage"])
def dev(changes, domain="pickup", **kw):
    e = {"event_id": "@TOKEN@", "type": "PickupUpdated", "domain": domain, "key": "@TOKEN@", "occurred_at": "2024-03-04T06:00:00+00:00",
         "tx_id": "@TOKEN@", "position": 1, "changed_tables": ["pickup"], "changes": changes}
    e.update(kw)
    return e
def pch(after=None, op="c", before=None, table="pickup", **cols):
    row = {"id": "@TOKEN@", "order_id": "o-1", "status": "scheduled", "city": "Verona"}
    row.update(cols)
    return {"table": table, "op": op, "before": before, "after": row if after is None else after, "changed": ["status"], "lsn": 1, "merged": 1}
case(f, "domain_number", 'domain is the number 5 (the micro_batch key is domain + ":" + key)', expect="dead|out", role="pickups", event=dev([pch()], domain=5), **FS)
case(f, "changes_20000_numbers", 'changes is a list of 20000 numbers: one bad event, one dead letter', role="pickups",
     event=dev("@GEN@"), gen={"items": 20000}, **FS)
case(f, "changes_object", 'changes is an object', role="pickups", event=dev({"a": 1}), **FS)
case(f, "undeclared_table", 'a change of a table Fast Storage does not declare', role="pickups", event=dev([pch(table="warehouse")]), **FS)
case(f, "change_without_table", 'a change without "table"', role="pickups", event=dev([{"op": "c", "after": {"id": "@TOKEN@"}}]), **FS)
case(f, "date_unparsable", 'pickup_date "2024-13-45"', role="pickups", event=dev([pch(pickup_date="2024-13-45")]), **FS)
case(f, "timestamp_garbage", 'window_start "yesterday"', role="pickups", event=dev([pch(window_start="yesterday")]), **FS)
case(f, "int_column_text", 'attempt (smallint) is "two"', role="pickups", event=dev([pch(attempt="two")]), **FS)
case(f, "pk_null", 'a pickup whose id is null', role="pickups", event=dev([pch(after={"id": None, "order_id": "@TOKEN@", "status": "scheduled"})]), **FS)
case(f, "delete_without_before", 'a delete with before null', role="pickups", event=dev([pch(op="d", after=None) | {"after": None}]), **FS)
case(f, "after_list", 'an insert whose after is a list', role="pickups", event=dev([pch(after=["@TOKEN@"])]), **FS)
case(f, "decimal_text", 'total_weight_kg "abc" (decimal(10,3))', role="orders",
     event=dev([pch(table="transport_order", total_weight_kg="abc")], domain="transport_order"), **FS)
case(f, "decimal_beyond_precision", 'total_weight_kg 12345678901.5 (decimal(10,3) holds 7 integer digits)', role="orders",
     event=dev([pch(table="transport_order", total_weight_kg=12345678901.5)], domain="transport_order"), **FS)
case(f, "bigint_25_digits_number", 'leg.sequence is a 25-digit JSON number', role="trips",
     event=dev([pch(table="leg", sequence=1234567890123456789012345)], domain="trip"), **FS)
case(f, "bigint_23_digits_text", 'note.id is the text "12345678901234567890123" (bigint column)', role="orders",
     event=dev([pch(table="note", after={"id": "12345678901234567890123", "order_id": "@TOKEN@", "body": "x"})], domain="transport_order"), **FS)
case(f, "json_column_30_digits", 'attributes (json) holds a 30-digit integer: stored exactly, not as a double', expect="out", role="orders",
     event=dev([pch(table="transport_order", attributes={"ref": 123456789012345678901234567890, "case": "@TOKEN@"})], domain="transport_order"),
     exact={"table": "transport_order", "column": "attributes", "contains": "123456789012345678901234567890"}, **FS)
case(f, "timestamp_9999", 'window_end 9999-12-31T23:30:00Z: a valid timestamp, stored', expect="out", role="pickups",
     event=dev([pch(window_end="9999-12-31T23:30:00+00:00")]), **FS)
case(f, "timestamp_0001", 'window_start 0001-01-01T00:00:00Z: a valid timestamp, stored', expect="out", role="pickups",
     event=dev([pch(window_start="0001-01-01T00:00:00+00:00")]), **FS)

# ---------------------------------------------------------------- domain events for the Event Engine
e = "event_engine"
EE = dict(topologies=["event_engine"])
def pk(before, after, **kw):
    return dev([{"table": "pickup", "op": "u", "before": before, "after": after, "changed": ["status"], "lsn": 1, "merged": 1}], **kw)
def to(before, after, **kw):
    return dev([{"table": "transport_order", "op": "u", "before": before, "after": after, "changed": ["status"], "lsn": 1, "merged": 1}],
               domain="transport_order", **kw)
SCHED = {"id": "@TOKEN@", "order_id": "o-1", "status": "scheduled", "completed_at": None}
case(e, "completed_at_garbage", 'a completed pickup whose completed_at is "not-a-time"', role="pickups",
     event=pk(SCHED, dict(SCHED, status="completed", completed_at="not-a-time")), **EE)
case(e, "completed_at_number", 'a completed pickup whose completed_at is a number', role="pickups",
     event=pk(SCHED, dict(SCHED, status="completed", completed_at=1709528524)), **EE)
case(e, "pickup_id_null", 'a completed pickup whose id is null', role="pickups",
     event=pk(dict(SCHED, id=None), dict(SCHED, id=None, status="completed", completed_at="2024-03-04T06:45:00+00:00"))
     | {"tx_id": "@TOKEN@"}, **EE)
case(e, "tx_id_number", 'a completed pickup in a domain event whose tx_id is a number', role="pickups",
     event=pk(SCHED, dict(SCHED, status="completed", completed_at="2024-03-04T06:45:00+00:00"), tx_id=5), **EE)
case(e, "occurred_at_garbage", 'a completed pickup whose occurred_at is "yesterday"', role="pickups",
     event=pk(SCHED, dict(SCHED, status="completed", completed_at="2024-03-04T06:45:00+00:00"), occurred_at="yesterday"), **EE)
ORD = {"id": "@TOKEN@", "status": "in_transit", "trip_id": "t-1", "eta": "2024-03-04T12:00:00+00:00",
       "planned_delivery_at": "2024-03-04T12:00:00+00:00", "departed_at": "2024-03-04T08:00:00+00:00", "delivered_at": None}
case(e, "eta_garbage", 'a new eta "soon"', role="orders", event=to(ORD, dict(ORD, eta="soon")), **EE)
case(e, "eta_1e20", 'a new eta that is the number 1e20', role="orders", event=to(ORD, dict(ORD, eta=1e20)), **EE)
case(e, "eta_without_planned", 'a new eta while planned_delivery_at is null: an EtaUpdated with a null delay', expect="out", role="orders",
     event=to(dict(ORD, planned_delivery_at=None), dict(ORD, eta="2024-03-04T12:30:00+00:00", planned_delivery_at=None)), **EE)
case(e, "eta_9999_planned_0001", 'eta 9999-12-31T23:30Z, planned 0001-01-01: an EtaUpdated with a delay of ~5.3e9 minutes', expect="out",
     role="orders", event=to(dict(ORD, planned_delivery_at="0001-01-01T00:00:00+00:00"),
                             dict(ORD, eta="9999-12-31T23:30:00+00:00", planned_delivery_at="0001-01-01T00:00:00+00:00")), **EE)
case(e, "departed_at_garbage", 'an order departing with departed_at "never"', role="orders",
     event=to(dict(ORD, status="planned"), dict(ORD, departed_at="never")), **EE)
case(e, "changes_item_string", 'changes holds a string', role="orders", event=dev(["@TOKEN@"], domain="transport_order"), **EE)

# ---------------------------------------------------------------- the example topology (topologies/examples/transport_orders.yaml)
x = "examples"
EX = dict(topologies=["examples"])
def order(**kw):
    o = {"order_id": "77", "status": "PICKED_UP", "weight_kg": "1.5", "customer": "@TOKEN@", "planned_at": "2026-11-02T06:00:00Z",
         "destination": {"city": "Milano", "country": "IT"}}
    o.update(kw)
    return o
case(x, "order_id_23_digits_text", 'order_id "12345678901234567890123" (beyond BIGINT)', event=order(order_id="12345678901234567890123"), **EX)
case(x, "order_id_25_digits_number", 'order_id 1234567890123456789012345 as a JSON number', event=order(order_id=1234567890123456789012345), **EX)
case(x, "order_id_5000_digits", 'order_id of 5000 digits', event=order(order_id="@GEN@"), gen={"digits": 5000}, **EX)
case(x, "order_id_negative", 'order_id "-5"', event=order(order_id="-5"), **EX)
case(x, "order_id_fraction", 'order_id "1.5"', event=order(order_id="1.5"), **EX)
case(x, "order_id_bool", 'order_id true', event=order(order_id=True), **EX)
case(x, "order_id_underscore", 'order_id "1_000" (Python int() accepts it, no JSON/SQL integer does)', event=order(order_id="1_000"), **EX)
case(x, "order_id_nul", 'order_id "1\\u0000"', event=order(order_id="1\u0000"), **EX)
case(x, "weight_abc", 'weight_kg "abc"', event=order(weight_kg="abc"), **EX)
case(x, "weight_beyond_precision", 'weight_kg "12345678.5" (decimal(10,3))', event=order(weight_kg="12345678.5"), **EX)
case(x, "weight_nan", 'weight_kg "NaN"', event=order(weight_kg="NaN"), **EX)
case(x, "weight_infinity", 'weight_kg "Infinity"', event=order(weight_kg="Infinity"), **EX)
case(x, "weight_1e400", 'weight_kg "1e400"', event=order(weight_kg="1e400"), **EX)
case(x, "weight_bool", 'weight_kg true', event=order(weight_kg=True), **EX)
case(x, "planned_feb30", 'planned_at "2024-02-30T00:00:00Z"', event=order(planned_at="2024-02-30T00:00:00Z"), **EX)
case(x, "planned_year0_utc", 'planned_at "0001-01-01T00:30:00+01:00" (year 0 in UTC)', event=order(planned_at="0001-01-01T00:30:00+01:00"), **EX)
case(x, "planned_epoch_1e20", 'planned_at 1e20 (a number)', event=order(planned_at=1e20), **EX)
case(x, "planned_9999", 'planned_at "9999-12-31T23:30:00Z": valid, written', expect="out",
     event=order(order_id="78", status="CANCELLED", planned_at="9999-12-31T23:30:00Z"), **EX)
case(x, "status_number", 'status 5', event=order(status=5), **EX)
case(x, "status_1mb", 'status of 1 MB', event=order(status="@GEN@"), gen={"pad": 1_000_000}, **EX)

# ---------------------------------------------------------------- window timestamps (tests/poison/corpus/topologies/windows.yaml)
w = "windows"
WN = dict(topologies=["windows"])
def ev(ts, **kw):
    o = {"k": "@TOKEN@", "ts": ts, "v": "1"}
    o.update(kw)
    return o
case(w, "ts_9999_12_31_2330", 'event time 9999-12-31T23:30Z: its 1 h window would end in year 10000', event=ev("9999-12-31T23:30:00Z"), **WN)
case(w, "ts_9999_max", 'event time 9999-12-31T23:59:59.999999Z', event=ev("9999-12-31T23:59:59.999999Z"), **WN)
case(w, "ts_0001_01_01", 'event time 0001-01-01T00:00Z: its window [00:00, 01:00) is representable; dead-lettered or windowed, never lost', expect="dead|out", event=ev("0001-01-01T00:00:00Z"), **WN)
case(w, "ts_1e20_ms", 'event time 1e20 epoch ms', event=ev(100000000000000000000), **WN)
case(w, "ts_minus_1e20_ms", 'event time -1e20 epoch ms', event=ev(-100000000000000000000), **WN)
case(w, "ts_nan_text", 'event time "NaN"', event=ev("NaN"), **WN)
case(w, "ts_bool", 'event time true', event=ev(True), **WN)
case(w, "v_exponent_text", 'v "1e3" cast to int', event=ev("2024-03-04T05:30:00Z", v="1e3"), **WN)
case(w, "regex_bomb", 'a 30000-character "xxx..." against (x+x+)+y: must pass the filter quickly', expect="out",
     event=ev("2024-03-04T05:30:00Z", note="@GEN@"), gen={"pad": 30000}, **WN)

for category, cases in files.items():
    with open(os.path.join(OUT, f"{category}.jsonl"), "w", encoding="utf-8") as fh:
        for c in cases:
            fh.write(json.dumps(c, ensure_ascii=True) + "\n")
print({k: len(v) for k, v in files.items()}, sum(len(v) for v in files.values()))
