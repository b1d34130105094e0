"""Dead letters of any stateless step or sink carry the event as decoded and its source position
(engine.lineage), however the steps before them dropped, copied, split or routed events."""

from __future__ import annotations

import json

from cli.main import main

from hypothesis import given, settings, strategies as st

from engine.lineage import decoded, trace
from engine.operators.boundary import guard, raw_values
from engine.operators.decode import Decode
from engine.operators.jsonschemas import EventSchema
from engine.records import DeadLetter, RawBatch


def _decode(raw: RawBatch):
    events, deads, rows = [], [], []
    for index, value in enumerate(raw.values):
        if value is None:  # a tombstone: no event, no dead letter
            continue
        try:
            events.append(json.loads(value))
            rows.append(index)
        except ValueError:
            deads.append(DeadLetter(value, "src", "malformed", origin=raw.position(index)))
    return decoded(events, raw, rows, lambda raw, i: json.loads(raw.values[i])), deads


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
        batch, _ = guard(name, STEPS[name], expands=name == "split")(batch)
    if routed is not None:
        outputs, _ = guard("route", _route)(batch)
        batch = outputs.get(routed, [])
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
    assert type(batch) is list  # nothing to trace from
    # a dead letter carries the event as its step got it; the origin from _meta if any
    assert trace(batch, 0) == (batch[0], "t[2]@9")
    assert trace(batch, 1) == (batch[1], None)


def test_a_sinks_encoded_items_keep_no_lineage_and_steps_keep_no_decoded_events():
    events, _ = guard("src", _decode, raw_values)(RawBatch([b'{"n": 1}', b'{"n": 2}'], "f.jsonl", first_offset=1))
    encoded, _ = guard("sink:x", lambda b: ([json.dumps(e) for e in b], []), keep_lineage=False)(events)
    assert type(encoded) is list
    copied, _ = guard("copy", _copy)(events)
    assert copied.rows is events.rows  # a one-to-one step shares its input's rows
    assert not any(value is events for value in (copied.root.raw, copied.root.decode))  # no decoded event kept


def test_a_step_that_changes_its_input_in_place_still_gives_the_event_as_decoded():
    events, _ = guard("src", _decode, raw_values)(RawBatch([b'{"n": 4, "poison": "refuse", "at": 0}'], "f.jsonl",
                                                            first_offset=7))

    def mutate(batch):
        for e in batch:
            e["n"] = -1
        return batch, []

    changed, _ = guard("mutate", mutate)(events)
    _, deads = guard("refuse", _refusing)(changed)
    assert [(d.event, d.origin) for d in deads] == [({"n": 4, "poison": "refuse", "at": 0}, "f.jsonl:7")]


@settings(max_examples=150, deadline=None)
@given(values=st.lists(st.sampled_from(['{"n": 1}', '{"n": "x"}', "{broken", "null", '{"n": 2}', None, "[1]"]),
                       max_size=25), kafka=st.booleans())
def test_a_sources_decode_says_which_value_each_event_came_from_without_decoding_again(values, kafka, tmp_path_factory):
    schema = tmp_path_factory.mktemp("s") / "n.json"
    schema.write_text(json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}}))
    decode = Decode("src", EventSchema(str(schema)))
    calls = []

    def counted(raw):
        calls.append(raw)
        return decode.process(raw)

    encoded = [None if v is None else v.encode() for v in values]
    raw = RawBatch(encoded, "t[1]", offsets=list(range(100, 100 + len(encoded)))) if kafka else \
        RawBatch(encoded, "in.jsonl", first_offset=1)
    events, deads = guard("src", counted, raw_values)(raw)
    bad = {raw.position(i) for i, v in enumerate(values)
           if v in ('{"n": "x"}', "{broken", "[1]") or (v == "null" and kafka)}  # a file's null: a tombstone
    assert sorted(d.origin for d in deads) == sorted(bad)  # schema violations have their position too
    _, refused = guard("refuse", lambda b: ([], [DeadLetter(e, "refuse", "no") for e in b]))(events)
    assert len(calls) == 1  # the way back did not decode the batch again
    expected = [raw.position(i) for i, v in enumerate(values)
                if v in ('{"n": 1}', '{"n": 2}')]
    assert [d.origin for d in refused] == expected
    assert [d.event for d in refused] == [json.loads(values[i]) for i, v in enumerate(values) if v in ('{"n": 1}', '{"n": 2}')]


SPLIT_FLOW = """\
version: 1
name: split
sources:
  orders: {{file: {{path: "{d}/in.jsonl"}}}}
steps:
  - id: lines
    unnest: {{field: lines, as: null, keep: [order]}}
  - id: size
    route: {{when: {{big: "qty > 10"}}, otherwise: small}}
  - id: typed
    from: size.big
    cast: {{fields: {{qty: int}}}}
sinks:
  table:
    from: typed
    duckdb: {{path: "{d}/out.duckdb", table: t, mode: append, columns: {{order: int, qty: int}}}}
  small: {{from: size.small, file: {{path: "{d}/small.jsonl"}}}}
dead_letter: {{file: {{path: "{d}/dead.jsonl"}}}}
"""


def test_dead_letters_after_unnest_route_and_cast_name_their_line_in_a_compiled_flow(tmp_path):
    lines = [
        {"order": 1, "lines": [{"qty": 20}, {"qty": 1}]},
        {"order": 2, "lines": [{"qty": 12345678901234567890123}]},                 # too big for BIGINT
        {"order": 3, "lines": []},
        {"order": 4, "lines": [{"qty": 2}, {"qty": 30}, {"qty": 99999999999999999999}]},
        {"order": "x", "lines": [{"qty": 50}]},                                     # order is no int
    ]
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    (tmp_path / "flow.yaml").write_text(SPLIT_FLOW.format(d=tmp_path))
    assert main(["run", "-q", str(tmp_path / "flow.yaml")]) == 0
    dead = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    got = sorted((d["step"], d["origin"].rsplit(":", 1)[1], d["event"]["order"]) for d in dead)
    assert got == [("sink:table", "2", 2), ("sink:table", "4", 4), ("sink:table", "5", "x")]
    assert all(d["event"] == lines[int(d["origin"].rsplit(":", 1)[1]) - 1] for d in dead)  # the line as read

