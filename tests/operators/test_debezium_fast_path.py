"""Debezium.decode's fast path (the usual envelope, read and checked in one test) gives exactly
what its general code (``Debezium._decode``) gives: the same events, the same dead letters
with the same reasons, and the events left as the general code leaves them, through ``process``
and ``process_owned``, whatever the records hold (fields missing, wrong types, booleans for
integers, subclasses of str/int/dict, nested junk, any op, a schema changing between events)."""

import copy
from decimal import Decimal
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.operators import debezium_schema
from engine.operators.debezium import Debezium
from tests.operators.test_debezium_poison import ENVELOPE, ROW, b64, enveloped, mutated_records, payload
from tests.operators.test_debezium_row_code import _loops_only, updates, values

CONFIGS = [{}, {"on_error": "null"}, {"decimal": "string"}, {"fields": {"after.note": "int"}}]


class Text(str):
    pass


class Integer(int):
    pass


class Object(dict):
    pass


JUNK = [None, True, False, 0, 1, -1, 2 ** 70, 1.5, float("nan"), "", "x", "c", "u", "m", [], [1], {}, {"a": 1},
        Text("c"), Text("parcel"), Integer(5), Object(), Object(ROW), Decimal(3), "771:24023128"]
junk = st.sampled_from(JUNK) | st.recursive(st.sampled_from(JUNK), lambda inner: st.lists(inner, max_size=2)
                                            | st.dictionaries(st.sampled_from(["id", "op", "a"]), inner, max_size=2),
                                            max_leaves=4)
# values a usual field's value is easily taken for: of a subclass, a bool for an integer, ...
NEAR = {"op": ["c", "u", "d", "r", "t", "m", "x", "C", Text("c"), Text("u"), None, ["c"], {"op": "c"}, 0, True],
        "before": [None, Object(ROW), dict(ROW), [ROW], "row", {}], "after": [None, Object(ROW), dict(ROW), [ROW], {}],
        "source": [None, Object(), {}, "source", []], "transaction": [None, Object(id="7:1"), [], "tx", {}],
        "ts_ms": [None, True, False, Integer(5), 5.0, Decimal(5), "5", 2 ** 70], "message": [None, {}, "m"],
        "table": [None, Text("parcel"), 5, True, ["parcel"]], "txId": [None, True, Integer(7), Text("7"), 7.0, "7"],
        "lsn": [None, True, Integer(9), 9.0, "9"], "source_ts_ms": [None, False, Integer(1), 1.0, "1"]}
LONG = b64(10 ** 150)  # a decimal's text too long for the memo: converted anew, never remembered


def _other_schema(shared: dict) -> dict:
    """``shared`` with the weight column's scale changed: other converters."""
    schema = copy.deepcopy(shared)
    for row in schema["fields"][:2]:
        row["fields"][1]["parameters"] = {"scale": "3"}
    return schema


FIELDS = ["op", "before", "after", "source", "transaction", "ts_ms", "message",
          "source.table", "source.lsn", "source.txId", "source.ts_ms"]
# mutations, the likeliest first: a field the fast path checks, a column, then the record's shape
KINDS = ["field"] * 6 + ["column"] * 3 + ["txid_null", "same_row", "schema", "envelope_op", "types", "bare"]


@st.composite
def records(draw, shared):
    """A usual record (its envelope sharing ``shared``, as connect_json decodes them), then
    changed in up to three ways anywhere: envelope, payload, source, transaction, rows."""
    op = draw(st.sampled_from(["c", "u", "d", "r", "t", "m"]))
    before = dict(ROW, note="old") if op in "ud" or draw(st.integers(0, 9)) == 0 else None
    after = dict(ROW) if op in "cur" or draw(st.integers(0, 9)) == 0 else None
    body = payload(op, before=before, after=after)
    if op == "m":
        body["message"] = {"prefix": "audit", "content": "aGVsbG8="}
    event = enveloped(body, shared)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(KINDS))
        if kind == "field":  # a payload or source field of a near type (a bool for an integer, ...), junk, or gone
            path = draw(st.sampled_from(FIELDS))
            parent, key = (body.get("source"), path[7:]) if path.startswith("source.") else (body, path)
            if type(parent) is dict:
                if draw(st.integers(0, 5)) == 0:
                    parent.pop(key, None)
                else:
                    near = st.sampled_from(NEAR[path.replace("source.ts_ms", "source_ts_ms").replace("source.", "")])
                    parent[key] = draw(st.one_of(near, near, near, junk))
        elif kind == "column":  # a column's value changed or gone, in either row
            row = body.get(draw(st.sampled_from(["before", "after"])))
            if type(row) is dict:
                key = draw(st.sampled_from(sorted(ROW)))
                if draw(st.integers(0, 4)) == 0:
                    row.pop(key, None)
                else:
                    row[key] = draw(values | st.sampled_from([LONG, Text(b64(5)), Integer(20759), Decimal("2.3")]))
        elif kind == "txid_null" and type(body.get("source")) is dict:  # transaction.id says it
            body["source"]["txId"] = None
            if type(body.get("transaction")) is dict and draw(st.booleans()):
                body["transaction"]["id"] = draw(junk)
        elif kind == "same_row" and type(body.get("before")) is dict:  # after: before itself, or its copy
            body["after"] = body["before"] if draw(st.booleans()) else dict(body["before"])
        elif kind == "schema" and type(event) is dict:  # another, an equal copy, broken, none, gone
            schema = draw(st.sampled_from(["other", "copy", "abc", "broken", None, "gone"]))
            if schema == "gone":
                event.pop("schema", None)
            else:
                event["schema"] = {"other": _other_schema(shared), "copy": copy.deepcopy(shared),
                                   "broken": {"fields": [1]}}.get(schema, schema)
        elif kind == "envelope_op" and type(event) is dict:  # an envelope with an op: a payload to the general code
            event["op"] = draw(st.sampled_from(["c", "u"]))
        elif kind == "types" and type(event) is dict and event is not body:  # the payload or envelope of another type
            if draw(st.booleans()):
                event["payload"] = draw(st.sampled_from([Object(body), None, [body], "payload"]))
            else:
                event = draw(st.sampled_from([Object(event), [event], None, "event"]))
        elif kind == "bare":  # the record without its envelope
            event = body
    return event


def _shared_as_decoded(record, shared):
    """A record of the other modules' strategies, its envelope's usual schema the shared one."""
    if type(record) is dict and record.get("schema") == ENVELOPE:
        return {**record, "schema": shared}
    return record


def shown(value):
    """``value`` with every type spelled out, dict keys in order."""
    if type(value) is dict:
        return ("dict", [(shown(k), shown(v)) for k, v in value.items()])
    if type(value) is list:
        return ("list", [shown(v) for v in value])
    if isinstance(value, int) and value.bit_length() > 1024:  # (no repr beyond 4300 digits)
        return (type(value).__name__, hex(value))
    return (type(value).__name__, repr(value))


def run(batch: list, config: dict, owned: bool, general: bool):
    """Outputs, dead letters (the event's index and the reason) and the batch as left, of a copy."""
    step = Debezium("cdc", config, None)
    if general:
        step.decode = step._decode  # type: ignore[method-assign]
    work = copy.deepcopy(batch)  # (keeps the sharing: one schema, a row twice)
    oks, deads = (step.process_owned if owned else step.process)(work)
    where = {id(event): index for index, event in enumerate(work)}
    return shown(oks), [(where.get(id(d.event)), d.error) for d in deads], shown(work)


@st.composite
def batches(draw):
    """A usual record first (its schema read: the fast path takes the next ones), then any."""
    shared = copy.deepcopy(ENVELOPE)
    others = st.builds(_shared_as_decoded, mutated_records() | updates(), st.just(shared))
    mostly_records = st.integers(0, 4).flatmap(lambda n: others if n == 0 else records(shared))
    return [enveloped(payload("c", after=dict(ROW)), shared)] + draw(st.lists(mostly_records, min_size=1, max_size=7))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches(), st.sampled_from(CONFIGS), st.booleans())
def test_the_fast_path_gives_what_the_general_code_gives(batch, config, owned):
    assert run(batch, config, owned, general=False) == run(batch, config, owned, general=True)


def test_the_usual_events_take_the_fast_path():
    shared = copy.deepcopy(ENVELOPE)
    batch = [enveloped(payload("u", before=dict(ROW, note="old"), after=dict(ROW)), shared),
             enveloped(payload("c", after=dict(ROW)), shared), enveloped(payload("d", before=dict(ROW)), shared),
             enveloped(payload("r", after=dict(ROW, weight=LONG)), shared), enveloped(payload("t"), shared)]
    for owned in (False, True):
        step, general = Debezium("cdc", {}, None), []
        step._decode = lambda event, owned=False, real=step._decode, seen=general: (  # type: ignore[method-assign]
            seen.append(event) or real(event, owned))
        work = copy.deepcopy(batch)
        oks, deads = (step.process_owned if owned else step.process)(work)
        assert len(oks) == 5 and not deads
        assert general == [work[0]]  # the first: the schema read; the others: the fast path
        assert run(batch, {}, owned, general=False) == run(batch, {}, owned, general=True)


def test_edge_cases_the_fast_path_leaves_to_the_general_code():
    shared = copy.deepcopy(ENVELOPE)
    usual = enveloped(payload("c", after=dict(ROW)), shared)
    row = dict(ROW)
    cases = [
        enveloped(payload("u", before=row, after=row), shared),  # one row twice: copies
        enveloped(payload("c", after=dict(ROW), ts_ms=True), shared),  # a bool is no integer
        enveloped(payload(Text("c"), after=dict(ROW)), shared),  # nor a str subclass an op
        enveloped(payload("c", after=Object(ROW)), shared),
        enveloped(payload("c", after=dict(ROW), source={"table": "t", "lsn": 1, "txId": Integer(7), "ts_ms": 1}),
                  shared),
        enveloped(payload("m", message={"prefix": "p", "content": ""}), shared),
        enveloped(payload("c", after=dict(ROW), source={"table": "t", "lsn": 1, "txId": None, "ts_ms": 1}), shared),
        enveloped(payload("c", after=dict(ROW), source={"table": "t", "lsn": 1, "txId": 10 ** 5000, "ts_ms": 1}),
                  shared),  # str() of it fails
        enveloped(payload("c", after=dict(ROW, day="not a day")), shared),
        enveloped(payload("u", before=dict(ROW), after=dict(ROW, big=LONG)), _other_schema(shared)),
        {**enveloped(payload("c", after=dict(ROW)), shared), "op": "c"},
        enveloped(payload(["c"], after=dict(ROW)), shared),
    ]
    for case in cases:
        for config in CONFIGS:
            for owned in (False, True):
                batch = [usual, case, copy.deepcopy(usual)]
                assert run(batch, config, owned, general=False) == run(batch, config, owned, general=True), case


def test_each_field_of_a_near_type_or_gone():
    """Every field the fast path checks, in turn of each type it is easily taken for, or gone."""
    for path in FIELDS:
        key = path.replace("source.ts_ms", "source_ts_ms").replace("source.", "")
        for value in [*NEAR[key], KeyError]:
            shared = copy.deepcopy(ENVELOPE)
            event = enveloped(payload("u", before=dict(ROW, note="old"), after=dict(ROW)), shared)
            parent = event["payload"]["source"] if path.startswith("source.") else event["payload"]
            if value is KeyError:
                parent.pop(path.rpartition(".")[2], None)
            else:
                parent[path.rpartition(".")[2]] = value
            batch = [enveloped(payload("c", after=dict(ROW)), shared), event]
            for config in CONFIGS[:2]:
                for owned in (False, True):
                    assert run(batch, config, owned, general=False) == run(batch, config, owned, general=True), event


def test_remembered_columns_in_place_give_the_loops_values_whatever_the_types():
    """The in-place code looks a str or an int up in a column's memo, never a value equal to
    one (True and 1.0 for 1, a str subclass), and gives after the value before got when unchanged."""
    shared = copy.deepcopy(ENVELOPE)
    near = [1, 20759, b64(230), "AQ==", LONG, True, 1.0, Integer(1), Decimal(1), Text(b64(230)), None]
    batch = [enveloped(payload("u", before=dict(ROW, **{key: old}), after=dict(ROW, **{key: new})), shared)
             for key in ("day", "created", "weight", "updated") for old in near for new in near]
    oks, deads = Debezium("cdc", {}, None).process_owned(copy.deepcopy(batch))
    with mock.patch.object(debezium_schema, "_row_code", _loops_only):
        expected = Debezium("cdc", {}, None).process(copy.deepcopy(batch))
    assert shown(oks) == shown(expected[0])
    assert [d.error for d in deads] == [d.error for d in expected[1]]
    assert oks[0]["after"]["day"] is oks[0]["before"]["day"]  # unchanged: before's value
