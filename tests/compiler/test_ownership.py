"""Steps change their input events in place only where no one else sees them
(engine/compiler/ownership.py): the cases where they may, and flows whose other readers would
see the change if the compiler got it wrong."""

import json
from unittest import mock

import pytest

from engine.binding import validate_text
from engine.compiler import CompileOptions, compile_topology
from engine.compiler.ownership import Ownership
from engine.runtime.runner import RunOptions, run_dataflow

HEAD = 'version: 1\nname: own\nsources: {{orders: {{file: {{path: "{dir}/in.jsonl"}}}}}}\n'
TAIL = 'dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}\n'


def _topology(tmp_path, body):
    result = validate_text("t.yaml", (HEAD + body + TAIL).format(dir=tmp_path), env={})
    assert result.ok, [d.message for d in result.diagnostics]
    return result.topology


def _owners(topology, taps=()):
    ownership = Ownership(topology, taps)
    owners = []
    for spec in topology.steps:
        owned = ownership.owns_input(spec)
        if owned:
            owners.append(spec.id)
        ownership.wired(spec, owned)
    return owners


CHAIN = """\
steps:
  - {{id: typed, cast: {{fields: {{n: int}}}}}}
  - {{id: kept, filter: "n > 1"}}
  - {{id: again, cast: {{fields: {{m: int}}}}}}
  - {{id: shaped, map: {{fields: {{n: n, m: m}}}}}}
  - {{id: last, cast: {{fields: {{n: str}}}}}}
sinks:
  out: {{from: last, file: {{path: "{dir}/out.jsonl"}}}}
"""


def test_a_chain_of_single_readers_owns_its_events(tmp_path):
    assert _owners(_topology(tmp_path, CHAIN)) == ["typed", "kept", "again", "shaped", "last"]


@pytest.mark.parametrize("taps, owners", [
    (["orders"], ["kept", "again", "shaped", "last"]),  # a tap on the source: the first cast copies
    (["kept"], ["typed", "kept", "shaped", "last"]),  # the filter passes events a tap also sees
    (["sink:out", "dead_letter"], ["typed", "kept", "again", "shaped", "last"]),  # after the steps
])
def test_a_tap_is_a_reader(tmp_path, taps, owners):
    assert _owners(_topology(tmp_path, CHAIN), taps) == owners


def test_second_readers_routes_and_keyed_steps_give_no_owned_events(tmp_path):
    body = """\
steps:
  - {{id: typed, cast: {{fields: {{n: int}}}}}}
  - {{id: also, cast: {{fields: {{n: str}}}}, from: orders}}
  - {{id: split, route: {{when: {{big: "n > 10"}}, otherwise: small}}, from: typed}}
  - {{id: big, cast: {{fields: {{m: int}}}}, from: split.big}}
  - {{id: per_n, aggregate: {{key: n, compute: {{c: count()}}, emit: final}}, from: big}}
  - {{id: after, cast: {{fields: {{c: str}}}}, from: per_n}}
  - {{id: filtered, filter: "n > 1", from: split.small}}
  - {{id: cast_after_filter, cast: {{fields: {{m: int}}}}, from: filtered}}
sinks:
  out: {{from: [after, cast_after_filter], file: {{path: "{dir}/out.jsonl"}}}}
  raw: {{from: also, file: {{path: "{dir}/raw.jsonl"}}}}
"""
    # orders is read by two steps; a route's outputs and a keyed step's events are not owned;
    # a filter of unowned events passes unowned events on. typed's events are read by split
    # alone and big's by per_n alone (which, keyed, does not use it)
    assert _owners(_topology(tmp_path, body)) == ["split", "per_n"]


def _run(tmp_path, body, lines, taps=None):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
    run_dataflow(compile_topology(_topology(tmp_path, body), options=CompileOptions(taps=taps or {})),
                 RunOptions())


def _counting(cls, name):
    """(the batch sizes ``cls.name`` is called with, a patch that counts them)."""
    calls = []
    real = getattr(cls, name)

    def counted(self, batch):
        calls.append(len(batch))
        return real(self, batch)

    return calls, mock.patch.object(cls, name, counted)


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_sink_reading_the_same_events_sees_them_unconverted(tmp_path):
    body = """\
steps:
  - {{id: typed, cast: {{fields: {{n: int, m: "decimal(5,1)"}}}}}}
sinks:
  out: {{from: typed, file: {{path: "{dir}/out.jsonl"}}}}
  raw: {{from: orders, file: {{path: "{dir}/raw.jsonl"}}}}
"""
    events = [{"n": str(i), "m": f"{i}.25"} for i in range(50)]
    _run(tmp_path, body, events)
    assert _read(tmp_path / "raw.jsonl") == events
    assert _read(tmp_path / "out.jsonl") == [{"n": i, "m": float(f"{i}.3")}
                                             for i in range(50)]


def test_a_tap_on_the_source_sees_the_events_as_decoded(tmp_path):
    body = """\
steps:
  - {{id: typed, cast: {{fields: {{n: int}}}}}}
sinks:
  out: {{from: typed, file: {{path: "{dir}/out.jsonl"}}}}
"""
    seen = []
    _run(tmp_path, body, [{"n": "1"}, {"n": "2"}], taps={"orders": seen.extend})
    assert seen == [{"n": "1"}, {"n": "2"}]
    assert _read(tmp_path / "out.jsonl") == [{"n": 1}, {"n": 2}]


def test_an_owned_event_that_fails_is_dead_lettered_as_it_arrived(tmp_path):
    body = """\
steps:
  - {{id: typed, cast: {{fields: {{n: int, m: int}}}}}}
sinks:
  out: {{from: typed, file: {{path: "{dir}/out.jsonl"}}}}
"""
    _run(tmp_path, body, [{"n": "1", "m": "2"}, {"n": "3", "m": "x"}, {"n": "5", "m": None}, {"m": "7"}])
    assert _read(tmp_path / "out.jsonl") == [{"n": 1, "m": 2}, {"n": 5, "m": None}, {"m": 7}]
    dead = _read(tmp_path / "dead.jsonl")
    assert [d["event"] for d in dead] == [{"n": "3", "m": "x"}] and dead[0]["step"] == "typed"


def test_a_sources_events_are_cast_in_place_nested_objects_too(tmp_path):
    """A cast reading a source's events alone converts nested fields where they are
    (``process_owned_whole``); after a map, whose events may share a nested object, it copies
    each parent (``process_owned``); with a tap on the source, it copies all (``process``)."""
    from engine.operators.cast import Cast

    body = """\
steps:
  - {{id: typed, cast: {{fields: {{a.n: int}}}}}}
  - {{id: shaped, map: {{fields: {{a: a, b: a}}}}}}
  - {{id: again, cast: {{fields: {{a.n: str}}}}}}
sinks:
  out: {{from: again, file: {{path: "{dir}/out.jsonl"}}}}
"""
    lines = [{"a": {"n": str(i)}} for i in range(5)]
    for tapped, used in ((False, ["process_owned", "process_owned_whole"]), (True, ["process", "process_owned"])):
        calls = {name: _counting(Cast, name) for name in ("process", "process_owned", "process_owned_whole")}
        with calls["process"][1], calls["process_owned"][1], calls["process_owned_whole"][1]:
            _run(tmp_path, body, lines, taps={"orders": [].extend} if tapped else None)
        assert [name for name, (sizes, _) in calls.items() if sizes] == used
        # the second cast converted a copy of `a`: `b`, the same object in the map's event, kept the int
        assert _read(tmp_path / "out.jsonl") == [{"a": {"n": str(i)}, "b": {"n": i}} for i in range(5)]
