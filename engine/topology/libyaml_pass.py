"""The loader's first pass: libyaml's parser (C, from ruamel.yaml.clib) reads the file instead of
ruamel's pure-Python scanner, and ruamel's own composer and round-trip constructor build the data
from its events, as they do from the plain scanner's.

libyaml is taken only where its events are the plain scanner's: the same kinds, values, styles,
anchors and node positions. Where the two are known to differ, or might, the pass declines and
the file is loaded as before (engine/topology/yaml_passes.py), so data, positions, problems and
secrets are what they were for every file:

* text with a tab, a byte-order mark or a Unicode line break (\\x85, \\u2028, \\u2029); a comment
  right after ':', '?' or '-' (the round-trip scanner's file); a character ruamel's reader refuses;
* anything libyaml, the composer, the constructor or the limits refuse (an error, a tag, a
  repeated anchor, a directive, an explicit document end, a root that is not a mapping);
* an anchor or alias name that ruamel would read longer (it takes more characters in a name);
* an empty value anywhere but after a block mapping's ':', or one there that ruamel would place
  otherwise (ruamel puts it at the next token, libyaml right after the ':': moved here when only
  spaces, line breaks and comments lie between, the file does not end right there, and the next
  key is not an explicit or empty one);
* a block scalar (``|``, ``>``) that ruamel's own block scalar scanner, run on the same
  characters at the same indentation, does not read to the same text and end.

Compared with the plain scanner on the shipped topologies, the tests' YAML, mutants of them and
random YAML-like text: tests/topology/test_loader_libyaml.py.
"""

from __future__ import annotations

import re
from typing import Any, List, Optional

from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.reader import Reader
from ruamel.yaml.scanner import Scanner

from engine.topology.yaml_passes import COMMENT_AFTER_INDICATOR, NOT_LOADED, KeptComposer, Limits, yaml_for

try:
    from _ruamel_yaml import CParser  # type: ignore[import-not-found,import-untyped,unused-ignore]  # ruamel.yaml.clib
except ImportError:  # not installed (or not CPython): every file takes the pure-Python passes
    CParser = None

_UNSURE = re.compile("[\t\ufeff\x85\u2028\u2029]")  # where the two readers or scanners differ
_NAME_ENDS = frozenset(" \r\n,[]{}")  # after an anchor's name: where ruamel's name ends too
_COMMENT = re.compile(r"#[^\r\n]*")
_BLOCK_SCALAR = ("|", ">")


class _Declined(Exception):
    """libyaml's events might not be the plain scanner's here: load the file as before."""


def load(text: str) -> Any:
    """The file's data as the plain scanner's pass makes it, or NOT_LOADED where this pass declines."""
    if CParser is None or _UNSURE.search(text) or COMMENT_AFTER_INDICATOR.search(text):
        return NOT_LOADED
    try:
        Reader(None).check_printable(text)  # ruamel's reader refuses what libyaml's might not
        yaml: Any = yaml_for(plain_scanner=True)  # its _parser and _scanner set below
        yaml._parser, yaml._scanner = _Events(text, Limits()), _NoScanner  # the resolver asks the scanner
        composer = KeptComposer(yaml)  # the loader's composer: takes its parser and resolver
        composer.warn_double_anchors = False  # a repeated anchor declines (_Events): warned as before
        return yaml.constructor.get_single_data()
    except Exception:  # noqa: BLE001 - declined, refused or an error: the pure-Python passes decide
        return NOT_LOADED


class _NoScanner:
    yaml_version = None  # no %YAML directive (one declines): YAML 1.2, as the plain scanner reads it


class _BlockScanner(Scanner):
    """ruamel's scanner, for ``scan_block_scalar`` alone: at a given character and indentation."""

    reader: Any = None
    loader = None

    def __init__(self, reader: Reader, indent: int) -> None:  # noqa: D107 - no scanner state beyond these
        self.reader, self.indent, self.flow_context, self.allow_simple_key = reader, indent, [], True


def _ruamel_block_scalar(text: str, mark: Any, style: str, indent: int) -> tuple:
    """(text, end index) of the block scalar whose indicator is at ``mark``, read by ruamel."""
    reader = Reader(None)
    reader.name, reader._stream, reader.buffer = "<unicode string>", None, text + "\0"
    reader.pointer = reader.index = mark.index
    reader.line, reader.column = mark.line, mark.column
    token = _BlockScanner(reader, indent).scan_block_scalar(style)
    return token.value, token.end_mark.index


_Base: Any = CParser if CParser is not None else object


class _Events(_Base):
    """libyaml's events as the plain scanner's parser gives them, each checked by ``Limits``; or
    ``_Declined``. Only ``get_event`` is Python: the composer peeks and checks in C."""

    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self.text, self.limits = text, limits
        self.open: List[List[Any]] = []  # per open collection: [block mapping?, nodes so far, indentation]
        self.anchors: set = set()

    def get_event(self) -> Any:
        event = super().get_event()
        kind = event.__class__
        if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent or kind is AliasEvent:
            self._node(event, kind)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            self.open.pop()
        elif kind is DocumentStartEvent and (event.version is not None or event.tags):
            raise _Declined("a directive")
        elif kind is DocumentEndEvent and event.explicit:
            raise _Declined("an explicit document end")
        self.limits.see(event)
        return event

    def _node(self, event: Any, kind: type) -> None:
        if not self.open and kind is not MappingStartEvent:
            raise _Declined("a root that is not a mapping")
        parent = self.open[-1] if self.open else None
        a_value = parent is not None and parent[0] and parent[1] % 2 == 1
        if parent is not None:
            parent[1] += 1
        if event.anchor is not None:
            self._name(event, "*" if kind is AliasEvent else "&")
        if kind is ScalarEvent:
            if event.style == "":  # libyaml's plain style; ruamel's is None
                event.style = None
                if event.value == "" and event.anchor is None and event.ctag is None:
                    self._place_empty(event, a_value)
            elif event.style in _BLOCK_SCALAR:
                self._block_scalar(event, parent)
        elif kind is not AliasEvent:
            block = not event.flow_style
            indent = event.start_mark.column if block and event.anchor is None else None
            self.open.append([block and kind is MappingStartEvent, 0, indent])

    def _name(self, event: Any, indicator: str) -> None:
        text, at, name = self.text, event.start_mark.index, event.anchor
        end = at + 1 + len(name)
        if text[at:end] != indicator + name or (end < len(text) and text[end] not in _NAME_ENDS):
            raise _Declined("an anchor name ruamel reads otherwise")
        if indicator == "&":
            if name in self.anchors:
                raise _Declined("a repeated anchor")
            self.anchors.add(name)

    def _place_empty(self, event: Any, a_value: bool) -> None:
        """ruamel puts an empty block mapping value at the next token, libyaml after the ':'."""
        if not a_value:
            raise _Declined("an empty node")
        following = self.peek_event()
        if following.__class__ is ScalarEvent and following.value == "" and following.style == "":
            raise _Declined("an empty key")
        mark, text = following.start_mark, self.text
        if mark.index >= len(text) and text[-1:] not in ("\n", "\r"):
            raise _Declined("an empty value at the end of a file without a last line break")
        if _COMMENT.sub("", text[event.start_mark.index:mark.index]).strip(" \r\n"):
            raise _Declined("something between an empty value and the next token")
        event.start_mark = event.end_mark = mark

    def _block_scalar(self, event: Any, parent: Optional[List[Any]]) -> None:
        indent = parent[2] if parent is not None else None
        if indent is None or event.anchor is not None:
            raise _Declined("a block scalar at an indentation not known here")
        read = _ruamel_block_scalar(self.text, event.start_mark, event.style, indent)
        if read != (event.value, event.end_mark.index):
            raise _Declined("a block scalar ruamel reads otherwise")
