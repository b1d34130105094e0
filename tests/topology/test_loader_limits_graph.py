"""Names that passed validation cannot break out of a Mermaid or DOT label."""

from engine.topology.model import SinkSpec, SourceSpec, StepSpec, Topology
from engine.topology.render import to_dot, to_mermaid


def test_odd_names_stay_inside_their_labels():
    odd = 'x"]\n  evil-->x [label="'
    topology = Topology(name=f'n"{odd}', path="t.yaml")
    topology.sources[odd] = SourceSpec(odd, "file", {}, ("sources", odd))
    topology.steps.append(StepSpec(f"s{odd}", "filter", "true", [odd], ("steps", 0)))
    topology.sinks["out"] = SinkSpec("out", "file", {}, [f"s{odd}"], ("sinks", "out"))
    for text in (to_mermaid(topology), to_dot(topology)):
        assert all(line.count('"') % 2 == 0 for line in text.splitlines())
        assert "\n  evil" not in text
