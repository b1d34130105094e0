"""``velocity-flow test [PATH...]``: run the YAML unit tests of topologies (docs/testing.md).

Exit codes: 0 every test passed; 1 a test failed, or a test file or its topology is invalid
(reported at file:line:column, nothing of that file runs); 2 a PATH names no test file, or
``--name`` names no case of the files; 3 standard output cannot be written.
"""

from __future__ import annotations

from typing import List, Optional

from rich.console import Console
from rich.markup import escape

from cli.exits import EXIT_INVALID, EXIT_OK, EXIT_USAGE, error_line
from cli.validation_report import print_text
from engine.hints import did_you_mean
from engine.testing import FileResult, NoTests, find_test_files, run_file
from engine.testing.matching import printable
from engine.testing.reports import failure_lines, to_json, to_junit
from engine.topology.diagnostics import render


def cmd_test(args, out: Console, err: Console) -> int:
    try:
        paths = find_test_files(args.paths or ["."])
    except NoTests as exc:
        err.print(error_line(escape(str(exc)), markup=True), highlight=False)
        if args.format == "json":
            print('{"error": {"exit_code": 2, "kind": "usage", "message": ' + _quoted(str(exc)) + "}}")
        return EXIT_USAGE
    results = [run_file(path, args.name) for path in paths]
    unknown = _unknown_name(args.name, results)
    if unknown:  # a typo'd --name ran nothing: "0 passed" would be green in CI
        err.print(error_line(escape(unknown), markup=True), highlight=False)
        if args.format == "json":
            print('{"error": {"exit_code": 2, "kind": "usage", "message": ' + _quoted(unknown) + "}}")
        return EXIT_USAGE
    if args.format == "junit":
        print(to_junit(results), end="")
    elif args.format == "json":
        print(to_json(results))
    else:
        for result in results:
            _print_file(out, err, result)
        _print_totals(out, results)
    return EXIT_OK if all(r.passed for r in results) else EXIT_INVALID


def _unknown_name(name: Optional[str], results: List[FileResult]) -> Optional[str]:
    """Why ``--name`` ran nothing: no case of that name in the files that loaded (None when one
    ran, or when a file could not be loaded: its problems are the report)."""
    if name is None or any(r.cases for r in results) or any(r.problems for r in results):
        return None
    names = sorted({case.name for r in results for case in r.test.cases})
    hint = did_you_mean(name, names)
    return f"no test case named {name!r} in {len(results)} test file(s)" + (f": {hint}" if hint else "")


def _quoted(text: str) -> str:
    import json

    return json.dumps(text)


def _print_file(out: Console, err: Console, result: FileResult) -> None:
    test = result.test
    path = printable(result.path)  # a file name's control characters or undecodable bytes, escaped
    if result.problems:
        for problem in test.problems:
            err.print(f"[red]{escape(render(problem, test.document.lines))}[/red]", highlight=False)
        if test.validation is not None and not test.validation.ok:
            print_text(err, test.validation)
        err.print(f"[red]{escape(path)}: not run: {len(result.problems)} problem(s)[/red]", highlight=False)
        return
    lines = test.document.lines
    for case in result.cases:
        if case.passed:
            out.print(f"[green]PASS[/green] {escape(path)}: {escape(case.name)} "
                      f"[dim]({case.seconds:.2f}s)[/dim]", highlight=False)
            continue
        out.print(f"[red]FAIL[/red] {escape(path)}: {escape(case.name)}", highlight=False)
        if case.error is not None:
            out.print(f"  [red]{escape(path)}:{case.line}: test '{escape(case.name)}': the run failed: "
                      f"{escape(case.error)}[/red]", highlight=False)
        for failure, text in zip(case.failures, failure_lines(path, case), strict=True):
            head, _, diff = text.partition("\n")
            out.print(f"  [red]{escape(head)}[/red]", highlight=False)
            if 1 <= failure.where[0] <= len(lines):
                out.print(f"  [dim]{failure.where[0]:>5} | {escape(lines[failure.where[0] - 1])}[/dim]",
                          highlight=False)
            if diff:
                out.print(escape(_indented(diff)), highlight=False)


def _indented(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def _print_totals(out: Console, results: List[FileResult]) -> None:
    cases = [c for r in results for c in r.cases]
    failed = sum(not c.passed for c in cases)
    broken = sum(bool(r.problems) for r in results)
    color = "green" if not failed and not broken else "red"
    text = f"{len(cases) - failed} passed, {failed} failed" + (f", {broken} file(s) not run" if broken else "")
    out.print(f"[{color}]{text}[/{color}] ({len(results)} test file(s))", highlight=False)
