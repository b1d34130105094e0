"""Every command's ``--help`` describes each of its arguments and ends with its exit codes:
checked on the parser itself, so a command added later (by anyone) is covered."""

import argparse
import io
import re
from contextlib import redirect_stdout

import pytest

from cli.main import _COMMAND_CODES, build_parser, main

PARSER = build_parser()
SUBCOMMANDS = next(a for a in PARSER._actions if isinstance(a, argparse._SubParsersAction)).choices


def _help(*argv) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main([*argv, "--help"]) == 0
    return out.getvalue()


def test_the_top_level_describes_its_arguments():
    for action in PARSER._actions:
        assert (action.help or "").strip(), action.option_strings or action.dest


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_argument_has_a_help(command):
    parser = SUBCOMMANDS[command]
    assert (parser.description or "").strip()
    for action in parser._actions:
        name = "/".join(action.option_strings) or action.metavar or action.dest
        assert (action.help or "").strip() and action.help is not argparse.SUPPRESS, f"{command}: {name}"


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_help_lists_the_exit_codes(command):
    assert command in _COMMAND_CODES, f"declare {command}'s exit codes in cli/main.py _COMMAND_CODES"
    text = _help(command)
    block = text.split("exit codes:", 1)[1]
    codes = {int(n) for n in re.findall(r"^\s+(\d+)\s+\S", block, re.M)}
    assert codes == {0, 2, 4, 130, *_COMMAND_CODES[command]}
    for action in SUBCOMMANDS[command]._actions:  # and every argument is in the text, with its help
        shown = action.option_strings[-1] if action.option_strings else (
            action.metavar or ("{" + ",".join(action.choices) + "}" if action.choices else action.dest))
        assert shown in text, (command, shown)
        assert " ".join(action.help.split())[:20] in " ".join(text.split()), (command, shown)


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_a_command_parsed_alone_has_the_same_parser(command):
    """main() makes the parser of the command the arguments start with only: its help, its
    arguments and the top level's are those of the whole parser's."""
    alone = build_parser(command)
    [made] = [a for a in alone._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(made.choices) == [command]
    assert made.choices[command].format_help() == SUBCOMMANDS[command].format_help()
    assert alone.format_usage() == PARSER.format_usage()
    defaults = {a.dest: a.default for a in SUBCOMMANDS[command]._actions}
    assert {a.dest: a.default for a in made.choices[command]._actions} == defaults


@pytest.mark.parametrize("columns", [None, "", "x", "0", "-3", "50", "200"])
def test_the_help_is_as_wide_as_argparse_makes_it_without_importing_shutil(monkeypatch, columns):
    import shutil

    from cli.help_format import HelpFormatter, terminal_columns

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_columns() == shutil.get_terminal_size().columns
    ours, theirs = build_parser(), build_parser()
    for parser in (theirs, *_commands(theirs).values()):
        assert parser.formatter_class is HelpFormatter
        parser.formatter_class = argparse.RawDescriptionHelpFormatter  # argparse's own: shutil's width
    assert ours.format_help() == theirs.format_help()
    for name, parser in _commands(ours).items():
        assert parser.format_help() == _commands(theirs)[name].format_help()


def _commands(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
