"""validate's report written without rich (cli/plain.py) where rich would print it unstyled is
the text rich prints, to the character; and rich is asked whenever it would style or change it."""

import glob
import io
import os
import random

import pytest
from rich.console import Console
from rich.markup import escape

from cli.console import SafeConsole
from cli.plain import LazyConsole
from cli.plain import unchanged_by_rich, unstyled_file
from cli.validation_report import print_text
from engine.binding import validate_every_environment, validate_text

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FILES = sorted(glob.glob(os.path.join(ROOT, "topologies", "**", "*.yaml"), recursive=True))
BROKEN = [  # a warning, errors with carets and hints, brackets and backslashes in what is shown
    ("version: 1\nname: t\nsources:\n  a: {file: {path: in.jsonl}}\nsteps:\n  - id: f\n    filter: \"x >\"\n"
     "sinks:\n  out: {from: f, stdout: {}}\n"),
    ("version: 1\nname: t\nsources:\n  a: {file: {path: 'in[red].jsonl'}}\nsteps:\n  - id: f\n"
     "    map: {y: \"[1, 2]\"}\nsinks:\n  out: {from: nowhere, stdout: {}}\n"),
    ("version: 1\nname: t\nsources:\n  a: {file: {path: in.jsonl}}\nsinks:\n  out: {from: a, stdout: {}}\n"
     "unknown: \\x\n"),
    "version: 1\nname: [t\n",
    ("version: 1\nname: t\nsources:\n  a: {file: {path: in.jsonl}}\nsteps:\n  - id: f\n    filter: \"a > 1\"\n"
     "  - id: g\n    filter: \"a > 2\"\n    from: a\nsinks:\n  out: {from: g, stdout: {}}\n"),
]


def results():
    found = [r for path in FILES for r in validate_every_environment(path)]
    for n, text in enumerate(BROKEN):
        for name in (f"broken{n}.yaml", f"dir[x]/broken{n}.yaml", f"back\\slash{n}.yaml"):
            found.append(validate_text(name, text))
    return found


RESULTS = results()


@pytest.mark.parametrize("result", RESULTS, ids=lambda r: f"{os.path.basename(r.document.path)}:{r.environment}")
def test_the_report_without_rich_is_what_rich_prints(result):
    plain, rich = io.StringIO(), io.StringIO()
    lazy = LazyConsole(file=plain)
    print_text(lazy, result)
    print_text(SafeConsole(file=rich), result)
    assert plain.getvalue() == rich.getvalue()
    assert isinstance(lazy, LazyConsole) == unchanged_by_rich(plain.getvalue().replace("\n", ""))


def test_both_kinds_of_report_are_covered():
    plain = [r for r in RESULTS if isinstance(_made(r), LazyConsole)]
    assert any(r.ok for r in plain) and any(not r.ok for r in plain)
    assert any(not isinstance(_made(r), LazyConsole) for r in RESULTS)  # brackets: rich prints those


def _made(result):
    console = LazyConsole(file=io.StringIO())
    print_text(console, result)
    return console


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("environ", [{}, {"FORCE_COLOR": ""}, {"FORCE_COLOR": "1"}, {"FORCE_COLOR": "0"},
                                     {"TTY_COMPATIBLE": "0"}, {"TTY_COMPATIBLE": "1"}, {"TTY_COMPATIBLE": "2"},
                                     {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
                                     {"TTY_COMPATIBLE": "1", "FORCE_COLOR": ""},
                                     {"NO_COLOR": "1"}, {"TERM": "dumb"}])
@pytest.mark.parametrize("kind", [io.StringIO, Tty])
def test_unstyled_exactly_when_rich_sees_no_terminal(environ, kind):
    file = kind()
    terminal = Console(file=file, _environ=environ).is_terminal
    assert (unstyled_file({"file": file}, environ) is file) == (not terminal)
    assert unstyled_file({"file": file, "force_terminal": False}, environ) is None  # other options: rich decides


def test_text_rich_would_not_change_is_printed_as_it_is():
    chance = random.Random(15)
    alphabet = "ab [] \\ /:#@-_.é漢\t\r\x07\x1b\n"
    for _ in range(3000):
        text = "".join(chance.choice(alphabet) for _ in range(chance.randrange(0, 24)))
        out = io.StringIO()
        SafeConsole(file=out).print(f"[red]{escape(text)}[/red]", highlight=False, soft_wrap=True)
        if unchanged_by_rich(text):
            assert out.getvalue() == text + "\n", repr(text)
