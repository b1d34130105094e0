"""Regular expressions of ``matches()`` and ``extract()``, on RE2: time linear in the text.

Python's ``re`` backtracks: ``matches(s, '^(a+)+$')`` on 30 a's and a '!' runs for minutes,
and one such event would stall a flow. RE2 (google-re2) never backtracks, and refuses what
needs it (backreferences, lookaround), so a pattern is either refused or bounded.

A literal pattern is compiled once, when the topology loads (:func:`literal`), and a refusal
is a load-time error. A pattern read from an event is compiled when the event comes, through
a bounded cache (:func:`_runtime`); its size times the text's is capped so that the event's
work stays bounded, and an invalid one fails that event only. Semantics are Python's
``re.search`` (leftmost match anywhere in the text) but for the differences listed in
docs/expressions.md.
"""

from __future__ import annotations

import functools
from typing import Callable, Dict, Optional, Tuple

HINT = "RE2 syntax: no backreferences or lookaround; see docs/expressions.md"

# When RE2's DFA gives up, matching costs up to ~3.4 ns per program instruction per byte of
# text (measured: 'a[ab]{999}c', 1005 instructions, over 1 MB: 3.1 s; 10k instructions over
# 100 kB: 3.4 s). Typical patterns stay far below (Unicode classes such as \pL are large
# programs but run in a few ns per byte), so the cap is on instructions x characters, for
# patterns read from events only: at most ~1.4 s per event (4 bytes per character).
RUNTIME_WORK_LIMIT = 10 ** 8
RUNTIME_PATTERN_LIMIT = 10_000  # characters, checked before any work on the pattern
_RUNTIME_CACHE = 128  # compiled patterns read from events (each RE2 object may use up to max_mem)
_RUNTIME_MAX_MEM = 1 << 20  # RE2's memory budget per pattern read from an event (default 8 MiB)

_HEX = frozenset("0123456789abcdefABCDEF")
_LONGEST_NAME = 100  # of a Unicode character name in \N{...}; bounds the search for the '}'


class RegexError(ValueError):
    """A pattern RE2 refuses; ``hint`` says where the supported syntax is described."""

    hint = HINT


def _options(capture: bool, max_mem: Optional[int]):
    import re2  # at the first pattern: a topology without matches()/extract() never loads RE2 (~8M instructions)

    options = re2.Options()
    options.log_errors = False  # a refusal is reported as an error, not logged to stderr
    options.never_capture = not capture  # matches() needs no groups: RE2 then only runs its DFA
    if max_mem is not None:
        options.max_mem = max_mem
    return options


def _program(pattern: str, capture: bool, max_mem: Optional[int] = None):
    from re2 import _re2

    program = _re2.RE2(rewrite(pattern).encode("utf-8", "surrogatepass"), _options(capture, max_mem))
    if not program.ok():
        raise RegexError(f"invalid regular expression: {program.error().decode('utf-8', 'replace')}")
    return program


def _unanchored(program):
    return type(program).Anchor.UNANCHORED


def _tester(program) -> Callable[[str], bool]:
    match, unanchored = program.Match, _unanchored(program)

    def test(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")  # RE2 reads a lone surrogate as one character
        return match(unanchored, data, 0, len(data))[0][0] >= 0

    return test


def _extractor(program) -> Callable[[str], Optional[str]]:
    match, group, unanchored = program.Match, 1 if program.NumberOfCapturingGroups() else 0, _unanchored(program)

    def first(text: str) -> Optional[str]:
        data = text.encode("utf-8", "surrogatepass")
        start, end = match(unanchored, data, 0, len(data))[group]
        return None if start < 0 else data[start:end].decode("utf-8", "surrogatepass")

    return first


_MAKERS = {"test": (_tester, False), "extract": (_extractor, True)}
_LITERALS: Dict[Tuple[str, str], Callable] = {}
_SIZES: Dict[Tuple[str, str], int] = {}  # RE2 instructions of each literal pattern


def literal(pattern: str, use: str = "test") -> Callable:
    """The matcher of a pattern written in the topology (``use``: ``test`` or ``extract``);
    one per distinct pattern, kept for the life of the process like the code that calls it.
    RegexError (a ValueError, at load time) when RE2 refuses the pattern."""
    key = (pattern, use)
    found = _LITERALS.get(key)
    if found is None:
        make, capture = _MAKERS[use]
        program = _program(pattern, capture)
        _SIZES[key] = program.ProgramSize()
        found = _LITERALS.setdefault(key, make(program))
    return found


def check_literal_work(text: str, pattern: str, use: str = "test") -> None:
    """Refuse to run a literal pattern on a literal text at load time (constant folding)
    when instructions x characters exceed the cap patterns read from events have."""
    literal(pattern, use)
    size = _SIZES[(pattern, use)]
    if size * len(text) > RUNTIME_WORK_LIMIT:
        raise RegexError(f"too much work to compute when the topology loads: {size} RE2 instructions on "
                         f"{len(text)} characters (instructions x characters at most {RUNTIME_WORK_LIMIT:.0e})")


@functools.lru_cache(maxsize=_RUNTIME_CACHE)
def _runtime(pattern: str, use: str) -> Callable:
    if len(pattern) > RUNTIME_PATTERN_LIMIT:
        raise RegexError(f"regular expression from the event too long ({len(pattern)} characters, "
                         f"at most {RUNTIME_PATTERN_LIMIT})")
    make, capture = _MAKERS[use]
    program = _program(pattern, capture, _RUNTIME_MAX_MEM)
    run, size = make(program), program.ProgramSize()
    longest = RUNTIME_WORK_LIMIT // size

    def bounded(text: str):
        if len(text) > longest:
            raise RegexError(f"regular expression from the event too large for a text of {len(text)} characters "
                             f"({size} RE2 instructions; instructions x characters at most {RUNTIME_WORK_LIMIT:.0e})")
        return run(text)

    return bounded


def matches(text: str, pattern: str) -> bool:
    """``matches(s, regex)`` with a pattern known only at run time."""
    return _runtime(pattern, "test")(text)


def extract(text: str, pattern: str) -> Optional[str]:
    """``extract(s, regex)`` with a pattern known only at run time."""
    return _runtime(pattern, "extract")(text)


def rewrite(pattern: str) -> str:
    r"""Python spellings that RE2 lacks or reads differently, in RE2 syntax.

    ``\Z`` -> ``\z``; ``{,n}`` and ``{,}`` (Python: 0 to n) -> ``{0,n}`` (RE2 would read them as
    text); ``\uXXXX``, ``\UXXXXXXXX``, ``\N{name}`` -> ``\x{...}``. ``\C`` (one byte, which can cut
    a character in two) is refused. Everything else is left for RE2 to accept or refuse.
    """
    if "\\" not in pattern and "{," not in pattern:
        return pattern
    out, i, end = [], 0, len(pattern)
    class_from = -1  # inside [...]: index from which a ']' closes it; -1 outside
    while i < end:
        char = pattern[i]
        if char == "\\" and i + 1 < end:
            escaped, i = _escape(pattern, i, class_from >= 0)
            out.append(escaped)
            continue
        if class_from >= 0:
            if char == "]" and i >= class_from:
                class_from = -1
        elif char == "[":
            class_from = i + 2 if pattern.startswith("^", i + 1) else i + 1
            class_from += pattern.startswith("]", class_from)  # a leading ']' is a character
        elif char == "{" and pattern.startswith("{,", i):
            close = i + 2
            while close < end and pattern[close].isdigit() and pattern[close].isascii():
                close += 1
            if close < end and pattern[close] == "}":
                out.append("{0," + pattern[i + 2:close + 1])
                i = close + 1
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _escape(pattern: str, i: int, in_class: bool) -> Tuple[str, int]:
    """The RE2 spelling of the escape at ``pattern[i]`` and the index after it."""
    letter = pattern[i + 1]
    if letter == "Z" and not in_class:
        return "\\z", i + 2
    if letter == "C" and not in_class:
        raise RegexError("invalid regular expression: \\C (any byte) is not supported")
    digits = {"u": 4, "U": 8}.get(letter)
    if digits and len(pattern) >= i + 2 + digits and all(c in _HEX for c in pattern[i + 2:i + 2 + digits]):
        return "\\x{" + pattern[i + 2:i + 2 + digits] + "}", i + 2 + digits
    close = pattern.find("}", i + 3, i + 3 + _LONGEST_NAME) if pattern.startswith("{", i + 2) else -1
    if letter == "N" and close > 0:
        import unicodedata

        try:
            return f"\\x{{{ord(unicodedata.lookup(pattern[i + 3:close])):x}}}", close + 1
        except KeyError:
            pass  # left as is: RE2 refuses \N
    return pattern[i:i + 2], i + 2
