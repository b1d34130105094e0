"""Names that passed validation cannot break out of a Mermaid or DOT label."""

from engine.topology.definitions import SinkDef, SourceDef, StepDef, TopologyDef
from engine.topology.render import to_dot, to_mermaid


def test_odd_names_stay_inside_their_labels():
    odd = 'x"]\n  evil-->x [label="'
    topology = TopologyDef(
        name=f'n"{odd}', path="t.yaml", sources={odd: SourceDef(odd, "file", {}, ("sources", odd))},
        steps=(StepDef(f"s{odd}", "filter", "true", (odd,), ("steps", 0)),),
        sinks={"out": SinkDef("out", "file", {}, (f"s{odd}",), ("sinks", "out"))})
    for text in (to_mermaid(topology), to_dot(topology)):
        assert all(line.count('"') % 2 == 0 for line in text.splitlines())
        assert "\n  evil" not in text
