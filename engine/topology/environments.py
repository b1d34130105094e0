"""Environments: one topology file, its steps written once, its connectors per environment.

A file may end with ``environments: {NAME: partial topology}``. Selecting NAME deep-merges
that part over the rest of the file (the base) at the document level, data and positions
together, so reading, binding and every message downstream see one ordinary document:

- mappings merge key by key; any other value (text, number, list) replaces the base's;
- ``null`` deletes the key from the base (``dead_letter: null``: the default dead letter);
- in a source, a sink or ``dead_letter`` a connector key (``kafka:``) replaces the base's
  connector (``file:``): each has exactly one, so naming another one can only mean a swap;
- ``version``, ``steps`` and ``environments`` cannot be changed: the steps are what every
  environment shares, which is the point of the section.

A node that came from the environment keeps its own position, so a problem inside an
environment part is reported at its own line. Interpolation problems (an unset ``${VAR}``)
count only for the environment that holds them: the base never needs a variable that only
``prod`` names.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Set

from engine.catalog import components
from engine.topology.diagnostics import Diagnostic
from engine.topology.interpolate import redact
from engine.topology.loader import Document, NodePath, Position

SECTION = "environments"
ENV_VAR = "VELOCITY_FLOW_ENV"  # the CLI's default for --env
FIXED = ("version", "steps", SECTION)  # what no environment may change


class UnknownEnvironment(ValueError):
    """The environment asked for is not in the file; the message lists the known ones."""

    def __init__(self, path: str, name: str, known: List[str]) -> None:
        listing = ", ".join(known) if known else "none: the file has no 'environments' section"
        super().__init__(f"{path}: no environment '{name}' (known: {listing})")
        self.path, self.name, self.known = path, name, known


def environment_names(doc: Document) -> List[str]:
    """The environments a loaded document declares, in file order."""
    section = doc.data.get(SECTION) if isinstance(doc.data, dict) else None
    return [str(name) for name in section] if isinstance(section, dict) else []


def select_environment(doc: Document, name: Optional[str]) -> Document:
    """The document as environment ``name`` sees it (``None``: the base, its ``environments``
    section left for the shape check). Raises :class:`UnknownEnvironment`."""
    if not isinstance(doc.data, dict):
        return doc  # a load error or not a mapping: reported as it is
    names = environment_names(doc)
    if name is not None and name not in names:
        raise UnknownEnvironment(doc.path, name, [redact(n, doc.secrets) for n in names])  # a name may be ${VAR}
    others = [n for n in names if n != name]
    problems = _outside(doc, others)
    if name is None:
        return doc.replace(problems=problems)
    part = doc.data[SECTION][name]
    source: NodePath = (SECTION, name)
    positions = {}  # the base's, without the environments; what the environment writes moves in below
    written = {}  # the positions inside this environment (what _merge moves)
    for p, pos in doc.positions.items():
        if p[:1] != (SECTION,):
            positions[p] = pos
        elif p[1:2] == (name,):
            written[p] = pos
    selected = doc.replace(data={k: v for k, v in doc.data.items() if k != SECTION}, positions=positions,
                       problems=problems)
    if part is None:  # `staging:` with nothing under it: the base as it is
        return selected
    if not isinstance(part, dict):
        line, column = doc.locate(source)
        problems.append(Diagnostic(doc.path, line, column, f"environment '{name}' must be a mapping",
                                   hint="write the sections it changes: sources, sinks, dead_letter, topics, ..."))
        return selected
    for key in list(part):
        if key in FIXED:
            line, column = doc.locate((*source, key), at_key=True)
            problems.append(Diagnostic(doc.path, line, column, f"an environment cannot change '{key}'",
                                       hint="every environment runs the base's steps; change sources, sinks, "
                                            "dead_letter, topics or settings instead", length=len(key)))
    patch = {k: v for k, v in part.items() if k not in FIXED}
    selected.data = _merge(selected.data, patch, (), source, written, positions)
    return selected


def _merge(base: Any, patch: Any, path: NodePath, source: NodePath,
           found: Dict[NodePath, Position], positions: Dict[NodePath, Position]) -> Any:
    """``patch`` (at ``source`` in the file) over ``base`` (at ``path``); ``positions`` follow."""
    if not (isinstance(base, dict) and isinstance(patch, dict)):
        _drop(positions, path)
        _move(found, source, path, positions)
        return patch
    out = dict(base)
    connectors = _connectors(path)
    for key, value in patch.items():
        child = (*path, key)
        if value is None:
            out.pop(key, None)
            _drop(positions, child)
            continue
        if key in connectors:
            for other in (connectors & set(out)) - {key}:
                del out[other]
                _drop(positions, (*path, other))
        if key in out:
            out[key] = _merge(out[key], value, child, (*source, key), found, positions)
        else:
            out[key] = value
            _move(found, (*source, key), child, positions)
    return out


def _connectors(path: NodePath) -> Set[str]:
    if len(path) == 2 and path[0] == "sources":
        return set(components("source"))
    if (len(path) == 2 and path[0] == "sinks") or path == ("dead_letter",):
        return set(components("sink"))
    return set()


def _under(path: NodePath, prefix: NodePath) -> bool:
    return path[: len(prefix)] == prefix


def _drop(positions: Dict[NodePath, Position], prefix: NodePath) -> None:
    size = len(prefix)
    for path in [p for p in positions if p[:size] == prefix]:
        del positions[path]


def _move(found: Dict[NodePath, Position], source: NodePath, target: NodePath,
          positions: Dict[NodePath, Position]) -> None:
    size = len(source)
    for path, pos in found.items():
        if path[:size] == source:
            positions[target + path[size:]] = pos


def _outside(doc: Document, names: List[str]) -> List[Diagnostic]:
    """The load problems that do not lie inside the parts of environments ``names``."""
    if not names or not doc.problems:
        return list(doc.problems)
    lines: Set[int] = set()
    for name in names:
        spans = [line for path, pos in doc.positions.items() if _under(path, (SECTION, name))
                 for line in (pos.line, pos.key_line) if line is not None]
        if spans:
            lines.update(range(min(spans) + 1, max(spans) + 2))  # 1-based, as diagnostics are
    return [d for d in doc.problems if d.line not in lines]
