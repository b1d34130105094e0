"""The option tables of docs/connectors.md, made from the declarations.

Each connector's section holds its table between ``<!-- options: <role> <name> -->`` and
``<!-- end options -->``; :func:`connector_docs` refills every such block and appends a
section for a declared source or sink the page does not have yet (a plugin's), so the page
cannot drift from what ``validate`` accepts. ``python scripts/connector_docs.py`` writes it.
"""

from __future__ import annotations

import json
import re
from typing import Set, Tuple

from engine.catalog.component import Component, Option
from engine.catalog.registry import components

_BLOCK = re.compile(r"<!-- options: (source|sink) ([A-Za-z0-9_-]+) -->\n.*?<!-- end options -->", re.S)


def _default(option: Option) -> str:
    if option.required:
        return "required"
    if option.has_default:
        return f"`{json.dumps(option.default) if not isinstance(option.default, str) else option.default}`"
    return "-"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def option_table(component: Component) -> str:
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{o.key}` | {_default(o)} | {_cell(o.description)} |" for o in component.options]
    choices = [c["required"] for c in component.constraints.get("oneOf", ()) if "required" in c]
    if choices:
        rows.append("\nExactly one of " + ", ".join("`" + " + ".join(c) + "`" for c in choices) + ".")
    rows.append(f"\nRuns as shares (`deploy -p N` as independent processes, docs/deploy.md): "
                f"{'yes' if component.shares else 'no, its flow runs as one cluster'}.")
    return "\n".join(rows)


def _block(component: Component) -> str:
    return (f"<!-- options: {component.role} {component.name} -->\n{option_table(component)}\n"
            "<!-- end options -->")


def connector_docs(text: str) -> str:
    """``text`` (docs/connectors.md) with every option table made from the declarations."""
    seen: Set[Tuple[str, str]] = set()

    def refill(match: "re.Match[str]") -> str:
        role, name = match.group(1), match.group(2)
        component = components(role).get(name)
        if component is None:  # a connector no longer declared: its table goes
            return f"<!-- options: {role} {name} -->\n<!-- end options -->"
        seen.add((role, name))
        return _block(component)

    text = _BLOCK.sub(refill, text)
    for role in ("source", "sink"):
        for name, component in components(role).items():
            if (role, name) not in seen:
                text = text.rstrip("\n") + f"\n\n## `{name}` {role}\n\n{component.description}\n\n{_block(component)}\n"
    return text
