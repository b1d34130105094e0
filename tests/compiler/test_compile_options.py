"""Taps see what leaves a step without changing the topology; a connector builder swaps the
declared sources and sinks."""

from engine.binding import validate_text
from engine.compiler import CompileOptions, compile_topology
from engine.compiler.connectors import declared
from engine.runtime.runner import RunOptions, run_dataflow

TOPOLOGY = """\
version: 1
name: taps
sources: {{orders: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
  - id: split
    route: {{when: {{big: "n > 10"}}, otherwise: small}}
  - id: big
    from: split.big
    map: {{fields: {{n: n, label: "'big'"}}}}
sinks:
  out: {{from: big, file: {{path: "{dir}/out.jsonl"}}}}
  small: {{from: split.small, file: {{path: "{dir}/small.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def _run(tmp_path, options):
    (tmp_path / "in.jsonl").write_text('{"n": 5}\n{"n": 50}\n{"n": "x"}\n{"n": 7}\n')
    result = validate_text("t.yaml", TOPOLOGY.format(dir=tmp_path), env={})
    assert result.ok, [d.message for d in result.diagnostics]
    run_dataflow(compile_topology(result.topology, options=options), RunOptions())
    return result.topology


def test_taps_see_each_place_of_the_flow(tmp_path):
    seen = {}
    places = ["orders", "typed", "split.big", "split.small", "big", "sink:out", "dead_letter"]
    taps = {where: (lambda where: lambda batch: seen.setdefault(where, []).extend(batch))(where) for where in places}
    _run(tmp_path, CompileOptions(taps=taps))
    assert [e["n"] for e in seen["orders"]] == [5, 50, "x", 7]
    assert [e["n"] for e in seen["typed"]] == [5, 50, 7]
    assert [e["n"] for e in seen["split.small"]] == [5, 7] and [e["n"] for e in seen["split.big"]] == [50]
    assert seen["big"] == seen["sink:out"] == [{"n": 50, "label": "big"}]
    assert [d.step for d in seen["dead_letter"]] == ["typed"]
    assert (tmp_path / "out.jsonl").read_text() == '{"n":50,"label":"big"}\n'  # the flow itself unchanged


def test_a_builder_swaps_a_sink(tmp_path):
    def build(role, spec, counters):
        if role == "sink" and spec.name == "out":
            from engine.connectors.files import JsonlSink

            return JsonlSink(str(tmp_path / "elsewhere.jsonl"), metrics=counters)
        return declared(role, spec, counters)

    _run(tmp_path, CompileOptions(build=build))
    assert (tmp_path / "elsewhere.jsonl").read_text() == '{"n":50,"label":"big"}\n'
    assert not (tmp_path / "out.jsonl").exists()
    assert (tmp_path / "small.jsonl").read_text() == '{"n":5}\n{"n":7}\n'
