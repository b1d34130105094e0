"""bench/domain_peer.py's peer with the checks the topology makes on the same messages.

The plain peer is written for the simulator's traffic; on what Debezium and hand-made producers
also send its output differs from the topology's (tests/bench/test_domain_peer_checked.py shows each
case): a Kafka Connect worker's restart sends a released transaction's changes and END again (the
plain peer writes its event twice, or waits for ever on the END), an integer beyond 64 bits is
read by orjson as a float, a malformed message or envelope stops it, an UPDATE carrying Debezium's
unchanged-TOAST placeholder keeps it where the transaction wrote the value, a note moved to
another order is missing from the event of the order it left, and an event its
schema refuses (a note whose order_id is null: a null key) is written. ``CheckedPeer`` makes each
check the way an expert writes it for this one flow:

* every message read and converted inside one ``try``: a failure is a dead letter (counted, with
  its reason), as is an envelope whose ``op``, ``before``, ``after`` or ``source`` has the wrong
  type;
* the payloads' text searched for integers of 19+ digits and long fractions (the engine's re2
  pattern, engine/jsontext.py), once per batch of a topic (``take_all``, as the engine's decode
  step: google-re2 costs ~2 us a call from Python), and a payload holding one parsed again
  exactly (``json`` with Python ints);
* a released transaction's id kept with its changes' lsns (the last ``KEPT``): a change at one
  of them, or its END, is Debezium's copy and dropped;
* the placeholder in an UPDATE's ``after`` taken from the row's earlier image in the transaction;
* a row an UPDATE moved from one order to another in the events of both (``moved``);
* each domain event checked against schemas/domain/transport_order.schema.json: by hand, for what
  the input decides (``_valid``: as the engine's ``map`` first tries its generated quick yes,
  engine/operators/schema_accept.py), then with fastjsonschema's compiled validator for the
  reason of a refusal (its ``occurred_at`` already ISO text: the event is checked as written);
  a refused event is a dead letter. (fastjsonschema on every event costs ~20,000 instructions
  a message here, more than the other checks together: no expert would pay that for this flow.)

Still left out (the benches' backlogs have none, and none changes the CPU of those that do not):
snapshot reads and changes outside a transaction, the idle timeout, nesting deeper than 128
levels, recovery; a change with a null lsn or commit time is a dead letter here (the engine
takes it). ``take`` reads one message (its own search); the benches give batches. Whatever it
is given, it raises nothing: what it cannot read or release is a dead letter.
"""

from __future__ import annotations

import json
import os
from collections import deque
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Callable, List, Optional, Tuple

import fastjsonschema
import orjson

from bench.domain_peer import TABLES, DomainPeer, _exact, converters, decode_rows, main
from bench.domain_peer import domain_events as plain_events
from bench.domain_peer import net as plain_net
from engine.jsontext import _BIG_OR_LONG_MEMBER, exact

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SCHEMA = os.path.join(ROOT, "schemas", "domain", "transport_order.schema.json")
UNAVAILABLE = "__debezium_unavailable_value"  # Debezium's unchanged-TOAST placeholder
KEPT = 1000  # released transactions remembered for redeliveries (the engine keeps 1,000 to 2,000)
OPS = frozenset("cud")  # a transaction's changes (snapshot reads are left out: see above)
ROWS = (dict, type(None))
_PAYLOAD = b',"payload":'


@lru_cache(maxsize=None)
def validator() -> Callable:
    """The domain schema's fastjsonschema validator, compiled once per process (as the engine's
    operators are by the bench: a round is the work on the messages, not the making)."""
    with open(SCHEMA) as file:
        return fastjsonschema.compile(json.load(file))


class CheckedReader:
    """domain_peer.envelope_reader's way (only the payload parsed once a topic's schema text is
    known), with numbers exact: a payload whose text holds a long number (``_BIG_OR_LONG_MEMBER``)
    is parsed again with exact integers and decimals. ``batch`` searches a batch's payloads
    joined, once: google-re2 costs ~2 us a call from Python, more than its search of a payload."""

    def __init__(self) -> None:
        self.known: dict = {}  # topic -> (the text up to the payload, the schema)
        _BIG_OR_LONG_MEMBER.search(b"")  # compiled at its first search (engine/jsontext.py's _Lazy) ...
        self.search = _BIG_OR_LONG_MEMBER.search  # ... and only then re2's own search

    def one(self, topic: str, raw: bytes) -> Tuple[dict, object]:
        """(schema, payload) of one message; raises for a message that is no JSON."""
        entry = self.known.get(topic)
        if entry is not None and raw.startswith(entry[0]) and raw.endswith(b"}"):
            text = memoryview(raw)[len(entry[0]):-1]
            return entry[1], (exact(bytes(text)) if self.search(text) is not None else orjson.loads(text))
        record = orjson.loads(raw)
        if self.search(raw) is not None:
            record = exact(raw)
        end = raw.find(_PAYLOAD)
        if end > 0:
            self.known[topic] = (raw[:end + len(_PAYLOAD)], record["schema"])
        return record["schema"], record["payload"]

    def batch(self, topic: str, raws: list) -> Optional[Tuple[dict, list]]:
        """(schema, payload texts) of a batch whose messages all share the topic's known schema
        text, with a long number in none of them; else None (then ``one`` each)."""
        entry = self.known.get(topic)
        if entry is None or not all(map(bytes.startswith, raws, repeat(entry[0]))) \
                or not all(map(bytes.endswith, raws, repeat(b"}"))):
            return None
        start = len(entry[0])
        texts = [memoryview(raw)[start:-1] for raw in raws]
        return None if self.search(b"".join(texts)) is not None else (entry[1], texts)

    def batch_of(self, topic: str, raws: list) -> Optional[Tuple[dict, list]]:
        """``batch``, None for a batch holding something else than bytes (a tombstone's None)."""
        try:
            return self.batch(topic, raws)
        except TypeError:
            return None


def net(changes: list) -> Optional[dict]:
    """domain_peer.net, with an UPDATE's TOAST placeholders taken from the row's earlier images."""
    last = changes[-1]
    if len(changes) > 1 and last[1] == "u" and UNAVAILABLE in last[3].values():
        written: dict = {}
        for change in changes[:-1]:
            written = {} if change[1] == "d" else {**written, **change[3]}
        after = {k: written[k] if v == UNAVAILABLE and k in written else v for k, v in last[3].items()}
        changes = [*changes[:-1], (*last[:3], after, *last[4:])]
    return plain_net(changes)


def domain_events(tx_id: str, changes: list) -> list:
    """domain_peer.domain_events with ``net`` above and ``occurred_at`` as the ISO text orjson
    writes (the event is checked before it is written)."""
    return plain_events(tx_id, changes, net, datetime.isoformat, moved)


def moved(change: dict, changes: list, key: Optional[str], groups: dict) -> None:
    """A row an UPDATE moved to another order (its ``order_id``, or an order's ``id``, changed)
    is also in the event of the order it left, as the engine's merge has it."""
    column = "id" if change["table"] == "transport_order" else "order_id"
    if change["op"] == "u" and change["before"] and column in change["changed"]:
        left = change["before"].get(column)
        if left is not None and str(left) != key:
            groups.setdefault(str(left), []).append((dict(change), changes))


class CheckedPeer(DomainPeer):
    """DomainPeer with the checks of the module docstring; ``dead`` holds the dead letters'
    reasons."""

    reads_batches = True

    def __init__(self, marker_topic: str) -> None:
        self.dead: List[str] = []
        self.done: dict = {}  # released transaction id -> its changes' lsns
        self.done_order: deque = deque()
        self.validate = validator()
        super().__init__(marker_topic, sliced=True)  # only each payload parsed, as the engine's decoder does

    def _taker(self):
        marker_topic, convs, open_txs, ends = self.marker_topic, self.convs, self.open_txs, self.ends
        dead, done = self.dead, self.done
        self.read = reader = CheckedReader()
        loads, one = orjson.loads, reader.one

        def change(topic: str, schema: dict, payload) -> None:
            """One decoded message; raises for one the flow cannot read."""
            if topic == marker_topic:
                if payload["status"] == "END":
                    tx = payload["id"].split(":", 1)[0]
                    if tx not in done:  # (else a copy of a released transaction's END)
                        ends(tx, payload)
                return
            table = topic.rsplit(".", 1)[1]
            before, after, source, op = payload["before"], payload["after"], payload["source"], payload["op"]
            if op not in OPS or type(before) not in ROWS or type(after) not in ROWS or type(source) is not dict:
                raise ValueError(f"not a row change: op {op!r}, before/after/source "
                                 f"{type(before).__name__}/{type(after).__name__}/{type(source).__name__}")
            tx, lsn, at = str(source["txId"]), source["lsn"], source["ts_ms"]
            if type(lsn) is not int or type(at) is not int or (after if op in "cu" else before) is None:
                raise ValueError(f"not a row change: lsn {lsn!r:.30}, ts_ms {at!r:.30}, op {op} without its row")
            seen = done.get(tx)
            if seen is not None and lsn in seen:
                return  # Debezium's copy of a change already in an event
            if topic not in convs:
                convs[topic] = converters(schema)
            decode_rows(before, after, convs[topic])
            state = open_txs.get(tx)
            if state is None:
                state = open_txs[tx] = [[], dict.fromkeys(TABLES, 0)]
            state[0].append((table, op, before, after, lsn, at))
            state[1][table] += 1

        def take(topic: str, raw: bytes) -> None:
            try:
                change(topic, *one(topic, raw))
            except Exception as exc:  # noqa: BLE001 - any message the flow cannot read is a dead letter
                dead.append(f"{topic}: {type(exc).__name__}: {exc}")

        def take_all(topic: str, raws: list) -> None:
            usual = reader.batch_of(topic, raws)
            if usual is None:
                for raw in raws:
                    take(topic, raw)
                return
            schema, texts = usual
            for text in texts:
                try:
                    change(topic, schema, loads(text))
                except Exception as exc:  # noqa: BLE001 - as take's
                    dead.append(f"{topic}: {type(exc).__name__}: {exc}")

        self.take_all = take_all
        return take

    def released(self) -> list:
        """DomainPeer.released, remembering each transaction's lsns and checking each event."""
        out = []
        dumps, done, order, validate, dead = self.dumps, self.done, self.done_order, self.validate, self.dead
        for tx, changes in self.completed():
            done[tx] = {change[4] for change in changes}
            order.append(tx)
            if len(order) > KEPT:
                del done[order.popleft()]
            try:
                events = domain_events(tx, changes)
            except Exception as exc:  # noqa: BLE001 - e.g. rows no key can be read from: the transaction's dead letter
                dead.append(f"transaction {tx}: {type(exc).__name__}: {exc}")
                continue
            for key, event in events:
                if not _valid(event):
                    try:  # fastjsonschema says why (the schema looks at no row's values: no Decimal meets it)
                        validate(event)
                    except fastjsonschema.JsonSchemaException as exc:
                        dead.append(f"domain event of {tx}: {exc.message}")
                        continue
                try:
                    value = dumps(event, default=_exact)
                except TypeError:  # an integer beyond 64 bits, which orjson does not write
                    value = dumps(_big_as_text(event), default=_exact)
                out.append((None if key is None else key.encode(), value))
        return out



def _valid(event: dict) -> bool:
    """The domain schema's verdict on an event ``domain_events`` made, by what its input decides:
    the key (text, or null when the row has no order), the position (Debezium's lsn, any JSON);
    every other field the peer's own code makes of the schema's types and values (ids and tables
    text, ``op`` one of c/u/d, rows objects or null: ``take`` refused the rest, ``occurred_at``
    ``isoformat``'s date-time). As an expert checks one flow's events: what cannot fail is not
    tested again; fastjsonschema's compiled validator (``validate``) then says why."""
    position = event["position"]
    return type(event["key"]) is str and (position is None or type(position) is int)


def _big_as_text(value):
    """``value`` with every integer beyond 64 bits as a JSON fragment of its digits (the rare
    event that holds one)."""
    if type(value) is dict:
        return {k: _big_as_text(v) for k, v in value.items()}
    if type(value) is list:
        return [_big_as_text(v) for v in value]
    if type(value) is int and not -2 ** 63 <= value < 2 ** 64:
        return orjson.Fragment(str(value))
    return value


if __name__ == "__main__":  # python bench/domain_peer_checked.py BOOTSTRAP TOPIC_PREFIX OUT_TOPIC
    import sys

    main(*sys.argv[1:4], make=CheckedPeer)
