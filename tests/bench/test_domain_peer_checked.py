"""bench/domain_peer_checked.py: on what Debezium and hand-made producers send besides the
simulator's traffic, the checked peer makes the engine's domain events and as many dead letters;
the plain peer (bench/domain_peer.py) does not (it stops, or writes other events). Each case is
made by hand from the simulator's messages: a redelivered transaction, a 24-digit integer, a
malformed message, an envelope whose ``after`` is text or whose ``op`` is none of Debezium's, an
UPDATE carrying the unchanged-TOAST placeholder, a note moved to another order, a note with no
order (a null key, which the domain schema refuses)."""

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Callable, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.domain_cpu import canonical  # noqa: E402
from bench.domain_latency import TABLES, workload  # noqa: E402
from bench.domain_peer import DomainPeer  # noqa: E402
from bench.domain_peer_checked import UNAVAILABLE, CheckedPeer  # noqa: E402
from bench.domain_replay import FLOW, batches, engine_run  # noqa: E402

Tx = List[Tuple[str, bytes]]


@pytest.fixture(scope="module")
def txs(tmp_path_factory) -> List[Tx]:
    return workload(str(tmp_path_factory.mktemp("tms") / "tms"), TABLES[FLOW], 12, 3)[:30]


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()  # Python's json: big integers as written


def _edited(message: bytes, edit: Callable[[dict], None]) -> bytes:
    """``message`` with its payload edited, the schema's text as it was (so that a reader that
    knows it parses only the payload)."""
    head, _ = message.split(b',"payload":', 1)
    payload = json.loads(message)["payload"]
    edit(payload)
    return head + b',"payload":' + _dumps(payload) + b"}"


def _first(txs: List[Tx], suffix: str, op: str, nth: int = 0) -> Tuple[int, int]:
    """(transaction index, message index) of the first (``nth``: 0-based) change of ``suffix``'s
    table with ``op``."""
    found = [(t, m) for t, tx in enumerate(txs) for m, (topic, value) in enumerate(tx)
             if topic == suffix and json.loads(value)["payload"]["op"] == op]
    assert len(found) > nth, f"no {op} of {suffix} in the workload"
    return found[nth]


def _replaced(txs: List[Tx], at: Tuple[int, int], value: bytes) -> List[Tx]:
    out = [list(tx) for tx in txs]
    out[at[0]][at[1]] = (out[at[0]][at[1]][0], value)
    return out


def redelivered(txs: List[Tx]) -> List[Tx]:
    """A Connect worker restarted: the first three transactions (changes and END) sent again."""
    return txs + txs[:3]


def big_integer(txs: List[Tx], nth: int = 3) -> List[Tx]:
    """A 24-digit integer in a message whose schema's text a reader already knows (not its
    topic's first), so that only its payload is parsed."""
    at = _first(txs, "public.note", "c", nth)

    def edit(payload: dict) -> None:
        payload["after"]["id"] = 123456789012345678901234  # beyond 64 bits: orjson makes a float of it
    return _replaced(txs, at, _edited(txs[at[0]][at[1]][1], edit))


def big_integer_first(txs: List[Tx]) -> List[Tx]:
    """The same in its topic's first message: parsed whole, schema and all."""
    return big_integer(txs, nth=0)


def malformed(txs: List[Tx]) -> List[Tx]:
    return txs + [[("public.note", b'{"schema":{"type":"struct"},"payload":{"op":"c",')]]


def text_after(txs: List[Tx]) -> List[Tx]:
    """An envelope of no transaction whose ``after`` is text."""
    def edit(payload: dict) -> None:
        payload["after"] = "not a row"
        payload["source"]["txId"] = 999_999_999
    return txs + [[("public.note", _edited(txs[0][_first(txs, "public.note", "c")[1]][1], edit))]]


def unknown_op(txs: List[Tx]) -> List[Tx]:
    """An envelope of no transaction whose ``op`` is none of Debezium's."""
    def edit(payload: dict) -> None:
        payload["op"] = "x"
        payload["source"]["txId"] = 999_999_998
    return txs + [[("public.note", _edited(txs[0][_first(txs, "public.note", "c")[1]][1], edit))]]


def toast_placeholder(txs: List[Tx]) -> List[Tx]:
    """A transaction that inserts an order and updates it: the UPDATE leaves a text column's
    large value unchanged, so Debezium sends the placeholder in its place."""
    for t, tx in enumerate(txs):
        orders = [m for m, (topic, _) in enumerate(tx) if topic == "public.transport_order"]
        ops = [json.loads(tx[m][1])["payload"]["op"] for m in orders]
        if len(orders) > 1 and ops[-1] == "u":
            last = orders[-1]
            after = json.loads(tx[last][1])["payload"]["after"]
            column = next(k for k, v in after.items() if type(v) is str and k != "id" and "_at" not in k)

            def edit(payload: dict, column: str = column) -> None:
                payload["after"][column] = UNAVAILABLE
            return _replaced(txs, (t, last), _edited(tx[last][1], edit))
    raise AssertionError("no transaction inserting and updating an order")


def moved_row(txs: List[Tx]) -> List[Tx]:
    """A transaction of its own that moves a note from its order to another one."""
    t, m = _first(txs, "public.note", "c")
    note = json.loads(txs[t][m][1])["payload"]["after"]
    other = next(json.loads(v)["payload"]["after"]["id"] for tx in txs for topic, v in tx
                 if topic == "public.transport_order" and json.loads(v)["payload"]["after"] is not None
                 and json.loads(v)["payload"]["after"]["id"] != note["order_id"])
    lsn = 1 + max(json.loads(v)["payload"]["source"]["lsn"] for tx in txs for topic, v in tx if topic != "transaction")

    def update(payload: dict) -> None:
        payload.update(op="u", before=dict(note), after=dict(note, order_id=other))
        payload["source"].update(txId=999_999_990, lsn=lsn)

    def end(payload: dict) -> None:
        payload.update(id=f"999999990:{lsn}", event_count=1,
                       data_collections=[{"data_collection": "public.note", "event_count": 1}])
    return txs + [[("public.note", _edited(txs[t][m][1], update)), ("transaction", _edited(txs[0][-1][1], end))]]


def null_key(txs: List[Tx]) -> List[Tx]:
    at = _first(txs, "public.note", "c")

    def edit(payload: dict) -> None:
        payload["after"]["order_id"] = None  # a note of no order: the event's key is null
    return _replaced(txs, at, _edited(txs[at[0]][at[1]][1], edit))


def _engine(order: list) -> Tuple[Counter, int, int]:
    """(domain events, dead letters, transactions left open: none, the merge is flushed)."""
    dead: list = []
    values, _ = engine_run(order, dead=dead)
    return Counter(map(canonical, values)), len(dead), 0


def _peer(order: list, checked: bool) -> Tuple[Counter, int, int]:
    """(domain events, dead letters, transactions it still holds or waits for at the end)."""
    peer = CheckedPeer("r.transaction") if checked else DomainPeer("r.transaction", sliced=True)
    values = []
    for topic, raw in order:
        peer.take_all(topic, raw)
        values += [value for _, value in peer.released()]
    return Counter(map(canonical, values)), len(getattr(peer, "dead", ())), len(peer.open_txs) + len(peer.ended)


def test_on_the_simulators_traffic_all_three_make_the_same_events(txs):
    order = batches(txs, 7)
    events, dead, _ = _engine(order)
    assert dead == 0 and sum(events.values()) > 20
    assert _peer(order, checked=True) == (events, 0, 0)
    assert _peer(order, checked=False) == (events, 0, 0)


CASES = [redelivered, big_integer, big_integer_first, malformed, text_after, unknown_op, toast_placeholder, moved_row,
         null_key]


@pytest.mark.parametrize("case", CASES,
                         ids=lambda case: case.__name__)
def test_the_checked_peer_makes_the_engines_events_where_the_plain_peer_does_not(txs, case):
    order = batches(case(txs), 7)
    events, dead, _ = _engine(order)
    assert _peer(order, checked=True) == (events, dead, 0)
    assert dead == (case in (malformed, text_after, unknown_op, null_key))  # one dead letter, or none
    try:
        plain = _peer(order, checked=False)
    except Exception:  # noqa: BLE001 - the plain peer stops on it: it does not make the engine's events
        return
    assert plain != (events, 0, 0)  # (it writes no dead letter: the other events, or some left waiting)



ROWS = st.one_of(st.none(), st.just("a row"), st.integers(),
                 st.fixed_dictionaries({}, optional={"id": st.one_of(st.none(), st.integers(), st.text(max_size=3)),
                                                     "order_id": st.one_of(st.none(), st.text(max_size=3)),
                                                     "body": st.sampled_from([UNAVAILABLE, "b", None])}))
NUMBERS = st.one_of(st.none(), st.integers(min_value=-2, max_value=2 ** 70), st.just("1"), st.just([1]))
CHANGES = st.fixed_dictionaries({"op": st.sampled_from(["c", "u", "d", "r", "x", None, 1]), "before": ROWS,
                                 "after": ROWS, "lsn": NUMBERS, "ts_ms": NUMBERS})


@settings(max_examples=300, deadline=None)
@given(changes=st.lists(CHANGES, min_size=1, max_size=6), counts=st.lists(st.integers(0, 7), min_size=1, max_size=3),
       garbage=st.lists(st.binary(max_size=30), max_size=2), tombstone=st.booleans())
def test_the_checked_peer_raises_for_nothing_it_is_given(txs, changes, counts, garbage, tombstone):
    """Notes of one transaction with fields of any type (rows, ops, lsns, commit times, numbers
    beyond 64 bits, placeholders) in the simulator's envelope, garbage and a tombstone beside
    them, then ENDs announcing any count: a change, a dead letter or a wait, never an exception
    (take_all and released are the bench's loop: one raise would stop a run)."""
    t, m = _first(txs, "public.note", "c", 1)
    template, end = txs[t][m][1], txs[0][-1][1]
    peer = CheckedPeer("r.transaction")
    peer.take_all("r.public.note", [txs[t][m][1]])  # its schema text known: the next ones parse their payload only
    raws = []
    for change in changes:
        def edit(payload: dict, change: dict = change) -> None:
            payload.update(op=change["op"], before=change["before"], after=change["after"])
            payload["source"].update(txId=4242, lsn=change["lsn"], ts_ms=change["ts_ms"])
        raws.append(_edited(template, edit))
    peer.take_all("r.public.note", raws + garbage + ([None] if tombstone else []))
    for count in counts:
        def announce(payload: dict, count: int = count) -> None:
            payload.update(id="4242:1", data_collections=[{"data_collection": "public.note", "event_count": count}])
        peer.take_all("r.transaction", [_edited(end, announce)])
        peer.released()
    assert len(peer.dead) <= len(changes) + len(garbage) + tombstone + len(counts)


def test_a_second_end_of_a_transaction_keeps_the_first_ones_place(txs):
    """An END that comes twice (Hypothesis found it: the peer queued the transaction twice and
    failed to release it the second time): one event, as the engine makes."""
    tx = txs[0]
    order = batches([tx[:-1], [tx[-1]], [tx[-1]]], 7)
    events, dead, _ = _engine(order)
    assert _peer(order, checked=True) == (events, dead, 0) and sum(events.values()) >= 1
