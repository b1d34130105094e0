"""The secret grep test of issue 13, over every interpolation position of the shipped topologies.

Each shipped topology (environments included) is rewritten once per kind of position it has:
every mapping key and every scalar value (names, paths, options, expressions, column types,
numbers, environment parts...), one kind at a time, takes a ``${VF_SECRET}`` (the whole value,
or appended to the original, alternately). The environment holds a unique secret, and no
output of validate (text and JSON), graph (Mermaid, and DOT of every environment) may contain
it. tests/topology/test_secrets.py runs the same grep on run and deploy --plan.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import re
import uuid

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPOLOGIES = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "topologies", "**", "*.yaml"),
                                                                   recursive=True) if not p.endswith(".test.yaml"))
SECRET = f"S3CR3T{uuid.uuid4().hex}"
NAMED = {"sources", "sinks", "topics", "environments", "fields", "columns", "compute", "when", "tables", "views",
         "config", "rename", "headers", "on"}  # maps whose keys are the file's own names


def positions(text: str):
    """(kind, start, end, is_key, value) of every scalar: ``kind`` is its path with the file's
    own names (sources, steps, fields...) and list indexes written ``*``."""
    stack: list = []  # per open collection: [is_map, path, key or None]
    found = []
    for event in YAML(typ="safe", pure=True).parse(text):
        if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            stack.pop()
            if stack and stack[-1][0]:
                stack[-1][2] = None
            continue
        if not isinstance(event, (ScalarEvent, AliasEvent, MappingStartEvent, SequenceStartEvent)):
            continue
        is_key = bool(stack) and stack[-1][0] and stack[-1][2] is None
        parent = stack[-1][1] if stack else ()
        if stack and not stack[-1][0]:
            path = (*parent, "*")
        elif stack and not is_key:
            key = stack[-1][2]
            path = (*parent, "*" if parent and parent[-1] in NAMED else key)
        else:
            path = parent
        if isinstance(event, ScalarEvent):
            found.append(((*path, "<key>") if is_key else path, event.start_mark.index, event.end_mark.index, is_key,
                          event.value))
        if is_key:
            stack[-1][2] = event.value if isinstance(event, ScalarEvent) else "?"
            continue
        if stack and stack[-1][0]:
            stack[-1][2] = None
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            stack.append([isinstance(event, MappingStartEvent), path, None])
    return found


def variants(topology: str, seen: set):
    """One rewritten text per kind of position not in ``seen`` (kinds of the files before):
    (kind, text)."""
    with open(os.path.join(ROOT, topology), encoding="utf-8") as handle:
        text = handle.read()
    for number, (kind, start, end, is_key, value) in enumerate(positions(text)):
        if kind in seen or text[start:end].startswith(("&", "*")):
            continue
        seen.add(kind)
        whole = number % 2 == 0 or is_key
        new = '"${VF_SECRET}"' if whole else json.dumps(value)[:-1] + '${VF_SECRET}"'
        if is_key and text[start:end].strip() == "":
            continue
        yield kind, text[:start] + new + text[end:]


def _every_kind() -> dict:
    """topology -> its variants; a kind of position is tried once, in the first file that has it."""
    seen: set = set()
    return {topology: list(variants(topology, seen)) for topology in TOPOLOGIES}


VARIANTS = _every_kind()


def _environments(text: str):
    return re.findall(r"^  ([\w-]+):\s*$", text.split("\nenvironments:\n", 1)[1], re.M) if "\nenvironments:\n" in text \
        else []


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_no_output_shows_a_value_from_the_environment(topology, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("VF_SECRET", SECRET)
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping that could split the secret
    monkeypatch.chdir(ROOT)  # schema paths are relative to the working directory
    path = str(tmp_path / os.path.basename(topology))
    checked = 0
    for kind, text in VARIANTS[topology]:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        commands = [["validate", path], ["validate", "--format", "json", path], ["graph", path]]
        if kind[:1] == ("environments",):
            commands += [["graph", "--format", "dot", "--env", env, path] for env in _environments(text)[:2]]
        for command in commands:
            with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
                code = main(command)
            printed = out.getvalue() + err.getvalue() + "".join(capfd.readouterr())
            assert SECRET not in printed, f"{' '.join(command[:-1])} with ${{VF_SECRET}} at {kind}:\n{printed}"
            assert code in (0, 1, 2), (command, kind, code, printed[-500:])
        checked += 1
    assert checked == len(VARIANTS[topology])


def test_every_kind_of_position_is_tried():
    kinds = {kind for found in VARIANTS.values() for kind, _ in found}
    assert len(kinds) >= 80 and any(k[0] == "environments" for k in kinds)
    assert {("sources", "*", "file", "path"), ("steps", "*", "filter"), ("name",), ("sinks", "<key>")} <= kinds


def test_an_environment_named_from_the_environment_is_shown_as_the_variable(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("VF_SECRET", SECRET)
    path = tmp_path / "t.yaml"
    path.write_text("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\nsteps:\n  - id: f\n"
                    "    filter: \"a > 1\"\nsinks:\n  out: {from: f, stdout: {}}\nenvironments:\n"
                    "  ${VF_SECRET}:\n    sinks:\n      out: {stdout: {format: nope}}\n")
    for command in (["validate"], ["validate", "--format", "json"], ["graph", "--env", "nope"]):
        main([*command, str(path)])
        printed = "".join(capfd.readouterr())
        assert SECRET not in printed and "${VF_SECRET}" in printed, printed
