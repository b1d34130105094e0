"""EnvelopeDecoder: Kafka Connect envelopes parse their schema once, and the result is always
exactly what orjson.loads gives."""

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.operators.connect_json import EnvelopeDecoder
from engine.simulation.connector_encoding import change_payload, envelope_schema, wrap
from engine.simulation.schema import TABLES


def _message(table: str, row_id: int, schema=None) -> bytes:
    spec = TABLES[table]
    after = {c.name: None for c in spec.columns}
    after["id"] = row_id
    payload = change_payload(spec, "c", None, after, tx_id=7, lsn=100 + row_id, last_commit_lsn=99,
                             commit_us=1_700_000_000_000_000, emit_us=1_700_000_000_001_000,
                             total_order=row_id, data_collection_order=row_id)
    return orjson.dumps(wrap(schema or envelope_schema(spec), payload))


def test_messages_of_one_table_share_one_parsed_schema():
    decoder = EnvelopeDecoder()
    first, second = _message("pickup", 1), _message("pickup", 2)
    one, two = decoder.loads(first), decoder.loads(second)
    assert one == orjson.loads(first) and two == orjson.loads(second)
    assert two["schema"] is one["schema"]  # the second message's schema was not parsed again
    assert two["payload"]["after"]["id"] == 2


def test_a_changed_schema_is_learned_beside_the_old_one():
    decoder = EnvelopeDecoder()
    changed = envelope_schema(TABLES["pickup"])
    changed["version"] = 99
    old, new = _message("pickup", 1), _message("pickup", 2, changed)
    assert decoder.loads(old)["schema"].get("version") != 99
    assert decoder.loads(new)["schema"]["version"] == 99
    assert decoder.loads(_message("pickup", 3))["schema"] is decoder.loads(old)["schema"]
    assert decoder.loads(_message("pickup", 4, changed))["schema"]["version"] == 99


@pytest.mark.parametrize("tail", [
    b',"extra":1}',   # a key after the payload: the payload slice alone is not JSON
    b' }',            # whitespace before the closing brace
])
def test_unusual_envelopes_still_decode_like_orjson(tail):
    decoder = EnvelopeDecoder()
    decoder.loads(_message("pickup", 1))
    odd = _message("pickup", 2)[:-1] + tail
    assert decoder.loads(odd) == orjson.loads(odd)


def test_a_broken_payload_is_an_error_as_with_orjson():
    decoder = EnvelopeDecoder()
    decoder.loads(_message("pickup", 1))
    broken = _message("pickup", 2)[:-3] + b"}"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(broken)
    with pytest.raises(orjson.JSONDecodeError):
        decoder.loads(broken)


def test_plain_json_and_text_are_plain_orjson():
    decoder = EnvelopeDecoder()
    assert decoder.loads(b'{"a": 1}') == {"a": 1}
    assert decoder.loads('{"schema": 1, "payload": 2}') == {"schema": 1, "payload": 2}
    small = json.dumps({"schema": {"type": "int32"}, "payload": 5}, separators=(",", ":")).encode()
    assert decoder.loads(small) == {"schema": {"type": "int32"}, "payload": 5}
    assert decoder._known == []  # a schema this small is not worth remembering


def test_load_all_hands_out_the_payload_bytes_of_shared_envelopes_only():
    decoder = EnvelopeDecoder()
    first, second = _message("pickup", 1), _message("pickup", 2)
    plain = b'{"a": 1}'
    events, whole, payloads, texts = decoder.load_all([first, plain, second])
    assert events == [orjson.loads(first), {"a": 1}, orjson.loads(second)]
    assert whole == events[:2] and payloads == [events[2]["payload"]]  # the first one taught the schema
    assert texts[:2] == [first, plain] and orjson.loads(bytes(texts[2])) == events[2]["payload"]
    assert bytes(texts[2]) + b"}" == second[-len(texts[2]) - 1:]


def test_a_schema_full_of_payload_keys_is_not_worth_learning():
    """Each candidate end of the schema's text costs a parse: a message crafted with thousands
    of ',"payload":' inside its schema must not cost thousands of parses."""
    inner = ",".join(f'"k{i}":{{"a":1,"payload":{i}}}' for i in range(2000))
    message = ('{"schema":{' + inner + '},"payload":{"op":"c"}}').encode()
    decoder = EnvelopeDecoder()
    assert decoder.loads(message) == orjson.loads(message)
    assert decoder._known == []


class _Bytes(bytes):
    pass


_TAILS = st.sampled_from([b"}", b',"extra":1}', b" }", b"", b'"}', b"]}"])
# what may follow a value: a JSON Lines file's lines keep their line end (and white space
# that is not a line end, or a line end before the brace, must not be taken for one)
_LINE_ENDS = st.sampled_from([b"", b"", b"\n", b"\r\n", b" \n", b"\n\n", b"\t", b"\r"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pickup", "trip", "plain", "text", "subclass"]), st.integers(1, 10**6),
                          st.booleans(), _TAILS, _LINE_ENDS), max_size=8), st.booleans())
def test_load_all_of_a_batch_gives_what_each_value_alone_gives(values, same_end):
    """The batch ways (``_one_schema`` for one table's envelopes, the loop for any other batch)
    give exactly what ``load`` of each value gives: the same events, texts and payloads."""
    batch = []
    for kind, row_id, cut, tail, end in values:
        end = values[0][4] if same_end else end  # a whole file batch: every line with its line end
        if kind in ("plain", "text"):
            batch.append(b'{"a": %d}' % row_id + end if kind == "plain" else '{"a": 1}')
        elif kind == "subclass":  # load takes only exact bytes as an envelope
            batch.append(_Bytes(_message("trip", row_id) + end))
        else:
            message = _message(kind, row_id)
            batch.append((message[:-1] + tail if cut else message) + end)
    taught, alone = EnvelopeDecoder(), EnvelopeDecoder()
    for decoder in (taught, alone):  # both remember pickup's schema first, then trip's
        decoder.loads(_message("pickup", 1))
        decoder.loads(_message("trip", 1))
    try:
        expected = [alone.load(value) for value in batch]
    except orjson.JSONDecodeError:
        with pytest.raises(orjson.JSONDecodeError):
            taught.load_all(batch)
        return
    events, whole, payloads, texts = taught.load_all(batch)
    assert events == [event for event, _ in expected] == [orjson.loads(value) for value in batch]
    shared = [i for i, (_, payload) in enumerate(expected) if payload is not None]
    assert payloads == [events[i]["payload"] for i in shared]
    assert whole == [e for i, e in enumerate(events) if i not in shared]
    assert [bytes(t) if isinstance(t, memoryview) else t for t in texts] == \
        [bytes(payload) if payload is not None else value for value, (_, payload) in zip(batch, expected, strict=True)]


def test_a_batch_of_one_tables_envelopes_shares_the_schema_and_hands_out_payload_texts():
    decoder = EnvelopeDecoder()
    decoder.loads(_message("pickup", 1))
    batch = [_message("pickup", n) for n in range(2, 6)]
    events, whole, payloads, texts = decoder.load_all(batch)
    assert events == [orjson.loads(m) for m in batch] and whole == []
    assert all(e["schema"] is decoder._known[0][1] for e in events)
    assert [orjson.loads(t) for t in texts] == payloads == [e["payload"] for e in events]


def test_a_topics_first_batch_learns_the_schema_from_its_first_message_and_shares_it_after():
    """The first message of a batch teaches its schema: the others are taken apart as the usual
    batch's (one parse of each payload), the first handed out whole."""
    decoder = EnvelopeDecoder()
    batch = [_message("pickup", n) for n in range(1, 6)]
    events, whole, payloads, texts = decoder.load_all(batch)
    assert events == [orjson.loads(m) for m in batch]
    assert whole == events[:1] and payloads == [e["payload"] for e in events[1:]]
    assert texts[0] == batch[0] and [orjson.loads(t) for t in texts[1:]] == payloads
    assert all(e["schema"] is decoder._known[0][1] for e in events[1:])


@pytest.mark.parametrize("end", [b"\n", b"\r\n"])
def test_a_files_lines_share_the_schema_as_messages_do(end):
    """A JSON Lines file's lines keep their line ends (engine/connectors/files.py): they are
    taken apart like Kafka messages, not parsed whole with a schema each."""
    decoder = EnvelopeDecoder()
    lines = [_message("pickup", n) + end for n in range(1, 6)]
    first, shared = decoder.load(lines[0])
    assert shared is None and first == orjson.loads(lines[0])
    one, payload = decoder.load(lines[1])
    assert one == orjson.loads(lines[1]) and one["schema"] is first["schema"]
    assert bytes(payload) + b"}" + end == lines[1][-len(payload) - 1 - len(end):]
    events, whole, payloads, texts = decoder.load_all(lines[2:])
    assert events == [orjson.loads(line) for line in lines[2:]] and whole == []
    assert all(e["schema"] is first["schema"] for e in events)
    assert [orjson.loads(t) for t in texts] == payloads == [e["payload"] for e in events]
