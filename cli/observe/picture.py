"""The DAG on the page: the SVG Graphviz ``dot`` draws from the DOT text of ``velocity-flow
graph`` (the same text, so the same picture), rendered once per run.

Without ``dot`` on PATH (Graphviz is a system program, not a dependency) the page still shows
the DAG: a plain layered drawing made here from the same nodes and edges, each node a ``<g
class="node">`` with its id in ``<title>`` as Graphviz writes it, so the page decorates both
alike.
"""

from __future__ import annotations

import shutil
import subprocess
from html import escape
from typing import Dict, List, Tuple

from engine.topology.render import graph, to_dot

DOT_TIMEOUT = 30


def svg(topology, redact) -> Tuple[str, str]:
    """(the SVG, ``"graphviz"`` or ``"fallback"``)."""
    program = shutil.which("dot")
    if program is not None:
        try:
            result = subprocess.run([program, "-Tsvg"], input=redact(to_dot(topology.definition)).encode("utf-8"),
                                    capture_output=True, timeout=DOT_TIMEOUT)
            if result.returncode == 0:
                text = result.stdout.decode("utf-8", "replace")
                return text[text.find("<svg"):], "graphviz"
        except (OSError, subprocess.TimeoutExpired):
            pass
    return fallback(topology, redact), "fallback"


def _ranks(ids: List[str], edges: List[Tuple[str, str, str]]) -> Dict[str, int]:
    rank = {node: 0 for node in ids}
    for _ in ids:  # longest path from a source; the graph is a DAG of at most len(ids) ranks
        changed = False
        for src, dst, _label in edges:
            if src in rank and dst in rank and rank[dst] < rank[src] + 1:
                rank[dst], changed = rank[src] + 1, True
        if not changed:
            break
    last = max(rank.values(), default=0)
    for node in ids:
        if node == "dead_letter":
            rank[node] = last
    return rank


def fallback(topology, redact) -> str:
    nodes, edges = graph(topology.definition)
    ids = [node for node, _, _, _ in nodes]
    rank = _ranks(ids, edges)
    width, height, gap_x, gap_y = 150, 40, 60, 54
    rows: Dict[int, int] = {}
    place: Dict[str, Tuple[int, int]] = {}
    for node in ids:
        row = rows.get(rank[node], 0)
        rows[rank[node]] = row + 1
        place[node] = (20 + rank[node] * (width + gap_x), 20 + row * (height + gap_y))
    total_w = 40 + (max(rank.values(), default=0) + 1) * (width + gap_x)
    total_h = 20 + max(rows.values(), default=1) * (height + gap_y) - gap_y + 30
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}pt" height="{total_h}pt" '
            f'viewBox="0 0 {total_w} {total_h}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8c99ad"/></marker>'
            '</defs><g id="graph0" class="graph">')
    parts = [head]
    for index, (src, dst, text) in enumerate(edges):
        (x1, y1), (x2, y2) = place[src], place[dst]
        parts.append(f'<g id="edge{index}" class="edge"><title>{src}&#45;&gt;{dst}</title>'
                     f'<path fill="none" stroke="black" marker-end="url(#arrow)" '
                     f'd="M{x1 + width},{y1 + height / 2} L{x2},{y2 + height / 2}"/>'
                     + (f'<text x="{(x1 + width + x2) / 2}" y="{(y1 + y2 + height) / 2 - 4}" font-size="10">'
                        f'{escape(redact(text))}</text>' if text else "") + "</g>")
    for index, (node, _, kind, lines) in enumerate(nodes):
        x, y = place[node]
        dash = ' stroke-dasharray="4 3"' if kind == "dead" else ""
        radius = 18 if kind == "source" else 4
        first, second = (lines + [""])[:2]
        parts.append(f'<g id="node{index}" class="node"><title>{escape(node)}</title>'
                     f'<rect x="{x}" y="{y}" width="{width}" height="{height}" rx="{radius}" fill="none" '
                     f'stroke="black"{dash}/><text text-anchor="middle" x="{x + width / 2}" y="{y + 17}" '
                     f'font-size="12">{escape(redact(first))}</text><text text-anchor="middle" x="{x + width / 2}" '
                     f'y="{y + 31}" font-size="10">{escape(redact(second))}</text></g>')
    parts.append("</g></svg>")
    return "".join(parts)
