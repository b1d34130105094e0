"""Fields read as ``event[name]`` with a fallback to ``event.get(name)`` (debezium's record
fields, merge_transactions' change fields, merge's row and group keys): a record or change
without a field gives exactly what it gives with that field null, as ``get`` made it before,
values, dead letters and reasons alike; and a key function gives what its expression gives."""

import copy
from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.expressions import compile_expression
from engine.operators.debezium import Debezium
from engine.operators.map import key_text
from engine.operators.merge_transactions import MergeTransactions
from engine.operators.transaction_net import key_function
from tests.operators.test_debezium_poison import ROW, enveloped, payload

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)
PAYLOAD_FIELDS = ["before", "after", "source", "transaction", "ts_ms"]
SOURCE_FIELDS = ["table", "lsn", "txId"]


def _outcome(events, deads):
    return events, [(d.error, d.step) for d in deads]


@st.composite
def records(draw):
    """A record and the same record with some fields nulled instead of left out."""
    op = draw(st.sampled_from(["c", "u", "d", "r"]))
    row = dict(ROW)
    body = payload(op, before=None if op in "cr" else dict(row), after=None if op == "d" else dict(row))
    nulled = copy.deepcopy(body)
    for name in draw(st.lists(st.sampled_from(PAYLOAD_FIELDS), unique=True)):
        del body[name]
        nulled[name] = None
    for name in draw(st.lists(st.sampled_from(SOURCE_FIELDS), unique=True)):
        if type(body.get("source")) is dict:
            del body["source"][name]
            nulled["source"][name] = None
    if draw(st.booleans()):
        return enveloped(body), enveloped(nulled)
    return body, nulled


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(records(), min_size=1, max_size=4))
def test_a_record_without_a_field_decodes_as_with_it_null(pairs):
    left_out = Debezium("cdc", {}, None).process([p[0] for p in pairs])
    nulled = Debezium("cdc", {}, None).process([p[1] for p in pairs])
    for events, _ in (left_out, nulled):
        for event in events:  # the record's source, passed on as it is: with or without the field
            del event["source"]
    assert _outcome(*left_out) == _outcome(*nulled)


def _change(tx, n, table="note", op="c", **fields):
    change = {"op": op, "before": None, "after": {"id": n, "order_id": "o1"}, "source": {"snapshot": "false"},
              "ts_ms": 1000 + n, "transaction": None, "table": table, "tx_id": tx, "lsn": 100 + n}
    change.update(fields)
    return change


CHANGE_FIELDS = ["table", "before", "after", "tx_id", "op", "source"]


@st.composite
def transactions(draw):
    """Changes of two transactions and their END markers, some fields left out (or nulled)."""
    left_out, nulled = [], []
    for n in range(draw(st.integers(1, 6))):
        tx = draw(st.sampled_from(["1", "2"]))
        change = _change(tx, n, draw(st.sampled_from(["note", "transport_order"])),
                         draw(st.sampled_from(["c", "u", "d", "r"])),
                         source=draw(st.sampled_from([{"snapshot": "false"}, {"snapshot": "true"}, {}, None])))
        if change["op"] != "c":
            change["before"] = {"id": n, "order_id": "o0"}
        twin = copy.deepcopy(change)
        names = draw(st.lists(st.sampled_from(CHANGE_FIELDS), unique=True, max_size=2))
        if "tx_id" in names and "op" in names:  # a change with neither is a dead letter, with a null op not
            names.remove("op")
        for name in names:
            del change[name]
            twin[name] = None
        left_out.append(change)
        nulled.append(twin)
    ends = [{"status": "END", "id": f"{tx}:9", "event_count": 0, "data_collections": []} for tx in ("1", "2")]
    return left_out + ends, nulled + copy.deepcopy(ends)


def _merged(batch):
    step = MergeTransactions("m", {"row": "table + ':' + str(coalesce(after.id, before.id))",
                                   "group": "coalesce(after.order_id, before.order_id)", "idle": "1s"}, None)
    logic = step.logic()
    pairs, deads = step.group(batch)
    out = []
    for _, items in pairs:
        released, failed = logic.add(items, NOW)
        out += released
        deads += failed
    released, failed = logic.flush()
    return _outcome(out + released, deads + failed)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(transactions())
def test_a_change_without_a_field_merges_as_with_it_null(pair):
    left_out, nulled = pair
    assert _merged(left_out) == _merged(nulled)


KEYS = ["table + ':' + str(coalesce(after.id, before.id))",
        "if(table == 'transport_order', coalesce(after.id, before.id), coalesce(after.order_id, before.order_id))",
        ("table + ':' + if(table == 'order_stop', concat(coalesce(after.order_id, before.order_id), '/', "
         "coalesce(after.kind, before.kind)), str(coalesce(after.id, before.id)))"),
        "after.id", "int(table)", "after.n + 1", "before"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
                    st.sampled_from(["transport_order", "order_stop", "note"]))
ROWS = st.one_of(st.none(), SCALARS, st.dictionaries(st.sampled_from(["id", "order_id", "kind", "n"]), SCALARS,
                                                     max_size=4))
CHANGES = st.dictionaries(st.sampled_from(["table", "after", "before"]), ROWS, max_size=3)


def _result(function, event):
    try:
        return "value", repr(function(event))
    except Exception as exc:  # noqa: BLE001 - compared by kind and message
        return "raised", type(exc).__name__, str(exc)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KEYS), CHANGES)
def test_a_key_function_gives_the_key_text_of_its_expression(text, change):
    expression = compile_expression(text)
    assert _result(key_function(expression, "m"), change) == \
        _result(lambda e: key_text(expression.function(e)), change)
