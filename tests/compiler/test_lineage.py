"""Dead letters of any stateless step or sink carry the event as decoded and its source position
(engine.lineage), however the steps before them dropped, copied, split or routed events."""

from __future__ import annotations

import json

from hypothesis import given, settings, strategies as st

from engine.lineage import Batch, trace
from engine.operators.boundary import guard, raw_values
from engine.records import DeadLetter, RawBatch


def _decode(raw: RawBatch):
    events, deads = [], []
    for index, value in enumerate(raw.values):
        if value is None:  # a tombstone: no event, no dead letter
            continue
        try:
            events.append(json.loads(value))
        except ValueError:
            deads.append(DeadLetter(value, "src", "malformed", origin=raw.position(index)))
    return events, deads


def _copy(batch):  # a new object per event (cast, map)
    return [{**e, "copied": True} for e in batch], []


def _drop_odd(batch):  # the same objects, fewer (filter)
    return [e for e in batch if e["n"] % 2 == 0], []


def _split(batch):  # 0..2 new events per event (unnest)
    return [{**e, "part": p} for e in batch for p in range(e["n"] % 3)], []


def _route(batch):
    out = {}
    for e in batch:
        out.setdefault("even" if e["n"] % 2 == 0 else "odd", []).append(e)
    return out, []


def _fragile(batch):  # raises for a poisoned event: the boundary redoes the batch one by one
    if any(e["poison"] == "raise" for e in batch):
        raise ValueError("boom")
    return batch, []


def _refusing(batch):  # dead-letters a poisoned event itself (cast, a sink's encoder)
    return ([e for e in batch if e["poison"] != "refuse"],
            [DeadLetter(e, "refuse", "refused") for e in batch if e["poison"] == "refuse"])


STEPS = {"copy": _copy, "drop_odd": _drop_odd, "split": _split, "fragile": _fragile}


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.tuples(st.integers(0, 50), st.sampled_from(["", "raise", "refuse"])),
                                 st.sampled_from([None, "broken"])), max_size=30),
       chain=st.lists(st.sampled_from(sorted(STEPS)), max_size=4), routed=st.sampled_from([None, "even", "odd"]),
       offset=st.integers(0, 10**6))
def test_every_dead_letter_names_the_source_value_it_came_from(values, chain, routed, offset):
    encoded = [v if v is None else b"{broken" if v == "broken" else
               json.dumps({"n": v[0], "poison": v[1], "at": i}).encode() for i, v in enumerate(values)]
    offsets = [offset + 3 * i for i in range(len(encoded))]
    batch, deads = guard("src", _decode, raw_values)(RawBatch(encoded, "orders[0]", offsets=offsets))
    assert [d.origin for d in deads] == [f"orders[0]@{offsets[i]}" for i, v in enumerate(encoded)
                                         if v is not None and v.startswith(b"{broken")]
    for name in chain:
        batch, _ = guard(name, STEPS[name])(batch)
    if routed is not None:
        outputs, _ = guard("route", _route)(batch)
        batch = outputs.get(routed, Batch())
    survivors, late = guard("fragile", _fragile)(batch)
    _, refused = guard("refuse", _refusing)(survivors)
    late += refused
    for dead in late:
        at = dead.event["at"]  # the decoded event: none of the steps' additions
        assert dead.event == json.loads(encoded[at])
        assert dead.origin == f"orders[0]@{offsets[at]}"
    expected = {e["at"] for e in batch if e["poison"]}  # each poisoned event that got this far
    assert {d.event["at"] for d in late} == expected


def test_the_way_back_ends_at_a_batch_that_is_not_traced():
    keyed_output = [{"n": 1, "_meta": {"topic": "t", "partition": 2, "offset": 9}}, {"n": 2}]
    batch, _ = guard("copy", _copy)(keyed_output)
    assert trace(batch, 0) == (keyed_output[0], "t[2]@9")  # a keyed step's event, origin from _meta
    assert trace(batch, 1) == (keyed_output[1], None)


def test_a_sinks_encoded_items_do_not_keep_their_sources_alive():
    encoded, _ = guard("sink:x", lambda b: ([json.dumps(e) for e in b], []), keep_lineage=False)([{"n": 1}])
    assert type(encoded) is list
    decoded, _ = guard("src", _decode, raw_values)(RawBatch([b'{"n": 1}'], "f.jsonl", first_offset=1))
    assert decoded.parent.values == []  # one event per value: positions kept, the bytes let go
