"""The topology as a graph: resolve ``from`` references, find duplicates and cycles, order steps.

Problems are returned as ``(node path, message, hint, at_key)`` tuples; the validator
locates them in the file.
"""

from __future__ import annotations

from typing import Any, Collection, Dict, List, Optional, Tuple

from engine.hints import did_you_mean
from engine.topology.loader import NodePath

Problem = Tuple[NodePath, str, Optional[str], bool]
ROUTING_OPERATORS = ("route", "branch")


def operator_of(step: dict, operator_names) -> Optional[str]:
    found = [k for k in step if k in operator_names]
    return found[0] if len(found) == 1 else None


def step_inputs(index: int, step: dict, steps: List[Any], sources: List[str], op: Optional[str],
                problems: List[Problem]) -> Tuple[List[str], NodePath]:
    """The references a step reads, and the node to blame for them."""
    here: NodePath = ("steps", index)
    if op == "union":
        if "from" in step:
            problems.append(((*here, "from"), "a union step takes its inputs from 'union', not 'from'",
                             "remove 'from' and list every input under 'union'", True))
        return _names(step["union"]), (*here, "union")
    if "from" in step:
        return _names(step["from"]), (*here, "from")
    if index > 0:
        previous = steps[index - 1]
        previous_id = previous.get("id") if isinstance(previous, dict) else None
        if not isinstance(previous_id, str):  # reported as a step without 'id', or not a mapping
            return [], here
        if any(k in previous for k in ROUTING_OPERATORS):
            problems.append((here, (f"step '{step.get('id')}' follows {_op_word(previous)} step "
                                    f"'{previous.get('id')}'; say which output it reads"),
                             f"add 'from: {previous.get('id')}.<output>'", True))
            return [], here
        return [previous_id], here
    if len(sources) == 1:
        return [sources[0]], here
    problems.append((here, (f"step '{step.get('id')}' needs 'from': the topology has "
                            f"{'no sources' if not sources else 'several sources'}"),
                     "add 'from: <source name>'" + (f" (one of: {', '.join(sources)})" if sources else ""), True))
    return [], here


def _names(refs) -> List[str]:
    """The references written as a name or a list of names; anything else (reported by the
    shape check) reads nothing."""
    if isinstance(refs, str):
        return [refs]
    return list(refs) if isinstance(refs, list) else []


def _op_word(step: dict) -> str:
    return "a route" if "route" in step else "a branch"


def check_reference(ref: str, node: NodePath, position: int, outputs: Dict[str, List[str]],
                    names: List[str], lost: Collection[str] = ()) -> Optional[Problem]:
    """A problem if ``ref`` names nothing readable. ``outputs`` maps routing steps to outputs;
    ``lost``: names of steps whose id is misspelt (``idd: x``), already reported there."""
    where = node if position < 0 else (*node, position)
    base, _, output = ref.partition(".")
    if base in lost and base not in names:
        return None
    if base not in names:
        return (where, f"unknown reference '{ref}'", did_you_mean(base, names) or _known(names), False)
    if base in outputs and not output:
        choices = ", ".join(f"{base}.{o}" for o in outputs[base])
        return (where, f"'{base}' is a routing step; read one of its outputs", f"write one of: {choices}", False)
    if output and base not in outputs:
        return (where, f"'{base}' has no named outputs", f"write '{base}'", False)
    if output and output not in outputs[base]:
        return (where, f"'{base}' has no output '{output}'",
                did_you_mean(output, outputs[base]) or f"outputs: {', '.join(outputs[base])}", False)
    return None


def misspelt_id(key: Any, operators: Collection[str]) -> bool:
    """Whether a step's key ``key`` is a misspelling of 'id' (``idd``, ``ID``, ``Id``)."""
    if not isinstance(key, str) or key in operators or key == "id":
        return False
    return key.strip().lower() == "id" or did_you_mean(key, [*operators, "id", "from", "description"]) == \
        "did you mean 'id'?"


def _known(names: List[str]) -> str:
    return "known names: " + ", ".join(names) if names else "the topology defines no sources or steps"


def find_cycle(deps: Dict[str, List[str]]) -> Optional[List[str]]:
    """A cycle among steps as ``[a, b, a]``, or None."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        stack.append(node)
        for dep in deps.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep in deps and dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def build_order(deps: Dict[str, List[str]]) -> List[str]:
    """Steps ordered so that every step comes after the steps it reads (file order otherwise)."""
    done: List[str] = []
    placed = set()
    pending = list(deps)
    while pending:
        progress = False
        for step in list(pending):
            if all(d in placed or d not in deps for d in deps[step]):
                done.append(step)
                placed.add(step)
                pending.remove(step)
                progress = True
                break
        if not progress:  # a cycle: already reported
            done.extend(pending)
            break
    return done
