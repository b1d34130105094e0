"""The CLI's outcomes (issue 13): exit codes documented in every ``--help``, usage errors for
impossible option values, ``--format json`` JSON for every outcome, and no Rich markup taken
from data (an error naming ``[/]`` or ``[conceal]`` prints it as written)."""

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest

import cli.main as cli_main
from cli.main import SafeConsole, build_parser, main

COMMANDS = ["validate", "run", "deploy", "graph", "generate", "demo", "stack", "schema", "test", "tap", "replay", "query",
            "init"]


def cli(*argv, env=None):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def codes_in(text):
    block = text.split("exit codes:", 1)[1]
    return {int(n) for n in re.findall(r"^\s+(\d+)\s", block, re.M)}


def test_the_parser_knows_every_command():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_documents_its_exit_codes(command):
    code, out, _ = cli(command, "--help")
    assert code == 0
    codes = codes_in(out)
    assert {0, 2, 4, 130} <= codes
    if command in ("validate", "run", "deploy", "graph"):
        assert 1 in codes
    if command in ("run", "deploy", "generate", "demo", "stack"):
        assert 3 in codes


def test_the_top_level_help_and_the_module_docstring_agree():
    code, out, _ = cli("--help")
    assert code == 0 and codes_in(out) == {0, 1, 2, 3, 4, 130}
    for number in (0, 1, 2, 3, 4, 130):
        assert f"{number} " in cli_main.__doc__


@pytest.mark.parametrize("command", ["run", "deploy"])
@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e300", "1e999", "0", "-1", "abc", "", "1e6"])
def test_impossible_snapshot_intervals_are_usage_errors(command, value):
    code, _, err = cli(command, "-s", value, "topologies/examples/transport_orders.yaml")
    assert code == 2
    assert "snapshot-interval" in err and "Traceback" not in err


def test_an_impossible_interval_from_the_environment_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("BYTEWAX_SNAPSHOT_INTERVAL", "nan")
    assert cli("run", "topologies/examples/transport_orders.yaml")[0] == 2


@pytest.mark.parametrize("value, seconds", [("0.2", 0.2), ("10", 10.0), ("604800", 604800.0)])
def test_sensible_intervals_are_taken(value, seconds):
    args = build_parser().parse_args(["run", "-s", value, "x.yaml"])
    assert args.snapshot_interval == seconds


def test_an_internal_error_is_json_with_format_json(monkeypatch, tmp_path):
    from cli import commands

    def broken(args, out, err):
        raise RuntimeError("boom [/] [conceal]")

    monkeypatch.setitem(commands.HANDLERS, "validate", broken)
    code, out, err = cli("validate", "--format", "json", "x.yaml")
    assert code == 4
    assert json.loads(out) == {"error": {"exit_code": 4, "kind": "internal",
                                         "message": "internal error: RuntimeError: boom [/] [conceal]"}}
    assert "this is a bug" in err
    code, out, err = cli("validate", "x.yaml")
    assert code == 4 and out == "" and "RuntimeError: boom [/] [conceal]" in err


def test_an_interruption_is_json_with_format_json(monkeypatch):
    from cli import commands

    def interrupted(args, out, err):
        raise KeyboardInterrupt

    monkeypatch.setitem(commands.HANDLERS, "validate", interrupted)
    code, out, _ = cli("validate", "--format=json", "x.yaml")
    assert code == 130 and json.loads(out)["error"]["exit_code"] == 130


def test_a_usage_error_is_json_with_format_json():
    code, out, _ = cli("validate", "--format", "json")
    assert code == 2 and json.loads(out)["error"]["kind"] == "usage"


def test_validate_json_for_valid_and_invalid_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: t\nsources: [1, 2]\n", encoding="utf-8")
    code, out, _ = cli("validate", "--format", "json", "topologies/examples/transport_orders.yaml", str(bad))
    assert code == 1
    assert [r["valid"] for r in json.loads(out)] == [True, False]


def test_markup_in_an_error_prints_literally(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # a default dead-letter file lands here
    path = tmp_path / "t.yaml"
    missing = f"{tmp_path}/in[/]x[conceal]hidden[bold]y.jsonl"
    path.write_text(f'version: 1\nname: t\nsources:\n  orders: {{file: {{path: "{missing}"}}}}\n'
                    "sinks:\n  out: {from: orders, stdout: {}}\n", encoding="utf-8")
    code, out, err = cli("run", "-q", str(path))
    assert code == 3, err
    assert "[/]x[conceal]hidden[bold]y.jsonl" in err


def test_validate_text_keeps_brackets_in_messages(tmp_path):
    path = tmp_path / "t[conceal].yaml"
    path.write_text("version: 1\nname: t\nsources:\n  '[/]': {file: {path: x}}\n", encoding="utf-8")
    code, out, err = cli("validate", str(path))
    assert code == 1
    assert "[/]" in out and "t[conceal].yaml" in out


@pytest.mark.parametrize("text, shown", [
    ("[red]error:[/red] a [/] b", "error: a [/] b"),
    ("[red]error:[/red] [conceal]secret[/conceal]", "error: [conceal]secret[/conceal]"),
    ("[/red] not opened", "[/red] not opened"),
    ("[link=http://x]click[/link]", "[link=http://x]click[/link]"),
    (":smile: [Errno 28] [i]", ":smile: [Errno 28] [i]"),
    ("[red]error:[/red] \\[/] already escaped", "error: [/] already escaped"),
])
def test_the_console_keeps_only_its_own_styles(text, shown):
    console = SafeConsole(file=io.StringIO(), width=200, color_system=None)
    console.print(text, highlight=False)
    assert console.file.getvalue() == shown + "\n"
