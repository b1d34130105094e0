"""ruamel.yaml's passes over a topology file, as the loader (engine/topology/loader.py) takes
them: the plain scanner first, the round-trip scanner for a file the plain one refuses, and the
limits (depth, aliases, tags) checked on the parser's events as the composer takes them.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.parser import RoundTripParser
from ruamel.yaml.scanner import Scanner

MAX_DEPTH = 64  # nested mappings/sequences; real topologies stay under 10
MAX_ALIAS_NODES = 10_000  # nodes that aliases (*name) may add by repeating what they point to


def yaml_for(plain_scanner: bool = False) -> YAML:
    yaml = YAML(typ="rt")
    if plain_scanner:  # no comments gathered (~40% of loading a file; no comment is kept)
        yaml.Scanner, yaml.Composer = PlainScanner, KeptComposer
    yaml.Parser, yaml.Constructor = LimitedParser, LocatedConstructor
    yaml.preserve_quotes = True
    yaml.allow_duplicate_keys = False
    return yaml


NOT_LOADED = object()
# A comment right after a ':' (or '?', '-') with nothing between: where the round-trip scanner
# puts an empty value there ('key: # note', nothing under it), the plain one puts it at the next
# token; such a file is loaded by the round-trip scanner only, so positions stay as they were.
COMMENT_AFTER_INDICATOR = re.compile(r"[:?-][ \t]+#")


def round_trip(text: str, plain_scanner: bool = False) -> Any:
    """The file loaded by the round-trip scanner: what a file that the plain scanner refused is
    reported by (its messages and positions), or a limit (``Refused``) the whole file breaks.
    Where ruamel's round-trip comment handling gives up on a file ("overlap in comment", a
    NotImplementedError), the plain scanner's reading of it, errors and limits alike."""
    try:
        return yaml_for(plain_scanner).load(text)
    except Refused:
        raise
    except NotImplementedError:
        if plain_scanner:
            raise
        return round_trip(text, plain_scanner=True)
    except Exception:  # noqa: BLE001 - re-raised unless the whole file's events decide first
        limit = limits_of(text, plain_scanner)
        if limit is None:
            raise
        raise Refused(*limit) from None


class Refused(Exception):
    """A limit the file goes beyond: args are (line, column, message, hint), 1-based."""


class Limits:
    """Refuses, at the offending spot, what could make loading hang or exhaust memory: nesting
    deeper than MAX_DEPTH, aliases that repeat more than MAX_ALIAS_NODES nodes in all (a
    "billion laughs" file), and explicit tags (``!foo``, ``!!str``: a topology needs none, and
    the loader would not keep them). Fed the parser's events one by one (no tree is built)."""

    def __init__(self) -> None:
        self.sizes: Dict[str, int] = {}  # anchor -> nodes in its value, aliases inside counted expanded
        self.open_nodes: List[List[Any]] = []  # [anchor, nodes so far] of each open collection
        self.added = 0

    def see(self, event: Any) -> None:
        if not isinstance(event, (NodeEvent, CollectionEndEvent)):
            return
        open_nodes = self.open_nodes
        if isinstance(event, CollectionEndEvent):
            anchor, count = open_nodes.pop()
            if anchor is not None:
                self.sizes[anchor] = count
            if open_nodes:
                open_nodes[-1][1] += count
            return
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1)
        if isinstance(event, AliasEvent):
            size = self.sizes.get(event.anchor, 1)
            self.added += size
            if self.added > MAX_ALIAS_NODES:
                raise Refused(*where, f"aliases repeat more than {MAX_ALIAS_NODES:,} values in all "
                                       f"('*{event.anchor}')",
                               "write the values out, or use fewer aliases (*name) of large anchors (&name)")
            if open_nodes:
                open_nodes[-1][1] += size
            return
        tag = getattr(event, "tag", None)
        tag = getattr(tag, "value", tag)
        if tag is not None:
            raise Refused(*where, f"YAML tag '{tag}' is not supported",
                           ("remove the tag: topology and test files use plain mappings, lists and scalars; "
                            "quote a value to make it text"))
        if isinstance(event, CollectionStartEvent):
            if len(open_nodes) >= MAX_DEPTH:
                raise Refused(*where, f"nesting deeper than {MAX_DEPTH} levels",
                               "topology and test files need only a few levels; flatten the structure")
            open_nodes.append([event.anchor, 1])
        else:
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
            if open_nodes:
                open_nodes[-1][1] += 1


class LimitedParser(RoundTripParser):
    """The round-trip parser, each event checked by ``Limits`` as the composer takes it, so a
    file is parsed once (a separate pass over the events cost as much as a third of loading)."""

    scanner: Any = None  # the loader's scanner, kept: ruamel's property asks the loader at every token

    def __init__(self, loader: Any) -> None:
        super().__init__(loader)
        self.limits = Limits()
        self.scanner = loader.scanner

    def get_event(self) -> Any:
        event = super().get_event()
        self.limits.see(event)
        return event


_KINDS = {"int": "an integer", "float": "a number", "timestamp": "a date or time", "bool": "true or false"}


class LocatedConstructor(RoundTripConstructor):
    """The round-trip constructor; a plain scalar it cannot convert (``2026-13-01``, an integer of
    more than 4300 digits) is a YAML error at that scalar, not a ValueError without a place."""

    def construct_non_recursive_object(self, node: Any, tag: Optional[str] = None) -> Any:
        try:
            return super().construct_non_recursive_object(node, tag)
        except (ValueError, OverflowError) as exc:
            if not isinstance(node, ScalarNode):
                raise
            kind = _KINDS.get(str(getattr(node.tag, "value", node.tag)).rpartition(":")[2], "a value")
            value = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            reason = "more than 4300 digits" if "4300" in str(exc) else str(exc).partition("\n")[0]
            raise ConstructorError(None, None, f"cannot read '{value}' as {kind}: {reason}", node.start_mark) from None


class PlainScanner(Scanner):
    """ruamel's plain scanner with its reader kept (its property is asked at every character);
    together with the parser's kept scanner, ~10% of loading a file."""

    reader: Any = None

    def __init__(self, loader: Any = None) -> None:
        self.reader = loader.reader
        super().__init__(loader)


class KeptComposer(Composer):
    """ruamel's composer with the loader's parser and resolver kept (its properties, asked at
    every event and node, look them up through the loader's: ~8% of loading a file)."""

    parser: Any = None
    resolver: Any = None

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.parser, self.resolver = loader.parser, loader.resolver


def limits_of(text: str, plain_scanner: bool = False) -> Optional[Tuple[int, int, str, str]]:
    """The limits over the whole file's events, nothing composed: (line, column, message,
    hint) or None. Asked only when loading failed otherwise: the composer stops at its first
    error (an undefined alias), and a limit or a syntax error further on was reported first."""
    try:
        for _ in yaml_for(plain_scanner).parse(text):  # LimitedParser checks each event
            pass
    except Refused as refused:
        return refused.args
    except NotImplementedError:  # the round-trip comment handling gave up: the plain scanner's events
        return None if plain_scanner else limits_of(text, plain_scanner=True)
    return None

