"""Draw a topology's DAG as Mermaid or Graphviz DOT, for docs and reviews."""

from __future__ import annotations

import re
from typing import List, Tuple

from engine.topology.definitions import TopologyDef as Topology

Edge = Tuple[str, str, str]  # from node, to node, label


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _text(name: str) -> str:
    """A name as label text: one line, no quotes or markup that could end the label."""
    return re.sub(r"[\x00-\x1f\"<>\\`|{}\[\]]", "_", str(name))


def _nodes(topology: Topology) -> List[Tuple[str, str, str]]:
    """(id, label, kind) for sources, steps, sinks and the dead-letter sink."""
    nodes = [(f"src_{_node_id(n)}", f"{_text(n)}<br/>{s.kind}", "source") for n, s in topology.sources.items()]
    nodes += [(f"step_{_node_id(s.id)}", f"{_text(s.id)}<br/>{s.op}", "step") for s in topology.steps]
    nodes += [(f"sink_{_node_id(n)}", f"{_text(n)}<br/>{s.kind}", "sink") for n, s in topology.sinks.items()]
    if topology.dead_letter is not None:
        nodes.append(("dead_letter", f"dead letters<br/>{topology.dead_letter.kind}", "dead"))
    return nodes


def _ref_node(topology: Topology, ref: str) -> Tuple[str, str]:
    base, _, output = ref.partition(".")
    prefix = "src" if base in topology.sources else "step"
    return f"{prefix}_{_node_id(base)}", _text(output)


def _edges(topology: Topology) -> List[Edge]:
    edges: List[Edge] = []
    for spec in topology.steps:
        for ref in spec.inputs:
            node, label = _ref_node(topology, ref)
            edges.append((node, f"step_{_node_id(spec.id)}", label))
    for name, sink in topology.sinks.items():
        for ref in sink.inputs:
            node, label = _ref_node(topology, ref)
            edges.append((node, f"sink_{_node_id(name)}", label))
    return edges


def graph(topology: Topology) -> Tuple[List[Tuple[str, str, str, List[str]]], List[Edge]]:
    """The nodes as ``(id, name, kind, label lines)`` (``name``: the source, step or sink as
    the topology names it) and the edges of both drawings, for the web page (cli/observe)."""
    names = list(topology.sources) + [s.id for s in topology.steps] + list(topology.sinks)
    names += ["dead_letter"] if topology.dead_letter is not None else []
    return [(node, name, kind, label.split("<br/>"))
            for (node, label, kind), name in zip(_nodes(topology), names, strict=True)], _edges(topology)


_MERMAID_SHAPES = {"source": ('(["', '"])'), "step": ('["', '"]'), "sink": ('[("', '")]'), "dead": ('[/"', '"/]')}


def to_mermaid(topology: Topology) -> str:
    lines = ["flowchart LR"]
    for node, label, kind in _nodes(topology):
        left, right = _MERMAID_SHAPES[kind]
        lines.append(f"    {node}{left}{label}{right}")
    for src, dst, label in _edges(topology):
        arrow = f" -->|{label}| " if label else " --> "
        lines.append(f"    {src}{arrow}{dst}")
    if topology.dead_letter is not None:
        lines.append("    classDef dead stroke-dasharray: 4 3")
        lines.append("    class dead_letter dead")
    return "\n".join(lines) + "\n"


_DOT_SHAPES = {"source": "ellipse", "step": "box", "sink": "cylinder", "dead": "note"}


def to_dot(topology: Topology) -> str:
    # nodesep: room under each node for the rate and sparkline the web page (cli/observe) draws there
    lines = [f'digraph "{_text(topology.name)}" {{', "    rankdir=LR;", "    nodesep=0.6;"]
    for node, label, kind in _nodes(topology):
        text = label.replace("<br/>", "\\n").replace('"', '\\"')
        style = ', style="dashed"' if kind == "dead" else ""
        lines.append(f'    {node} [label="{text}", shape={_DOT_SHAPES[kind]}{style}];')
    for src, dst, label in _edges(topology):
        suffix = f' [label="{label}"]' if label else ""
        lines.append(f"    {src} -> {dst}{suffix};")
    lines.append("}")
    return "\n".join(lines) + "\n"
