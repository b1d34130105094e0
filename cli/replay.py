"""``velocity-flow replay DEAD_LETTER_FILE --into TOPOLOGY``: re-inject dead letters, once the
topology or the data is fixed, through the whole flow into its real sinks.

Each dead letter is fed to the decode step of the source that produced it (mapping and raw
values: engine/compiler/replay.py). Sinks the event had reached before it failed are not
written again: the dead letters are replayed one group per failing step, and in each run only
the sinks downstream of that step are real (engine/compiler/places.py ``sinks_after``); the
others discard. File sinks append (a replay adds to what is there; ``mode: overwrite`` would
empty the file). Letters still failing go to the topology's dead-letter sink, with their
original origin, so nothing is lost; the file replayed is never changed (besides, when it is
the dead-letter sink itself, the new records appended to it).

Exit codes: 0 every selected dead letter passed (reached a sink, or was filtered out); 1 some
are dead again or could not be replayed; 2 usage (no such file, not a dead-letter file, an
unknown --step or --source); 3 a destination broke (or could not start).
"""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, List

from cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error_line
from engine.hints import did_you_mean

if TYPE_CHECKING:  # the parser imports this module for every command: the engine only when replaying
    from rich.console import Console

    from engine.binding.model import Topology
    from engine.compiler.replay import Letter, Outcomes

EXIT_STILL_FAILING = 1  # shares the code of an invalid topology: "not everything is fine"


def add_replay_command(commands):
    replay = commands.add_parser(
        "replay", help="re-inject dead letters into a (fixed) topology, through the whole flow into its sinks",
        description="Re-inject dead letters into a (fixed) topology. Exit 1 when some still fail or cannot be "
                    "replayed (they are written to the dead-letter sink again, with their new reason).")
    replay.add_argument("dead_letters", metavar="DEAD_LETTER_FILE", help="JSON Lines dead-letter records")
    replay.add_argument("--into", required=True, metavar="TOPOLOGY", help="the topology file to replay into")
    replay.add_argument("--step", default=None, help="only the dead letters that failed at this step")
    replay.add_argument("--source", default=None, metavar="NAME",
                        help="the source for dead letters whose origin no source of the topology reads")
    replay.add_argument("--dry-run", action="store_true", help="sinks discarded, dead letters not written")
    replay.add_argument("--format", choices=["text", "json"], default="text")
    return replay


def read_letters(path: str) -> List[Letter]:
    """The records of a dead-letter file; lines that are not records are kept as skipped
    letters. ``OSError`` when it cannot be read. Decimals are read exactly (``Decimal``) and
    written back with the same digits."""
    from engine.compiler.replay import Letter
    letters = []
    with open(path, "rb") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, parse_float=Decimal)
            except ValueError as exc:
                letters.append(Letter(number, {}, skipped=f"line {number} is not JSON: {exc}"))
                continue
            if not isinstance(record, dict) or "event" not in record or "step" not in record:
                letters.append(Letter(number, {}, skipped=f"line {number} is not a dead-letter record"))
                continue
            letters.append(Letter(number, record))
    return letters


def _usage(err: Console, message: str) -> int:
    err.print(error_line(message, markup=True), highlight=False)
    return EXIT_USAGE


def replay(topology: Topology, args, out: Console, err: Console) -> int:
    """``replay`` into a validated topology."""
    try:
        letters = read_letters(args.dead_letters)
    except OSError as exc:
        return _usage(err, f"cannot read {args.dead_letters}: {exc.strerror}")
    if args.source is not None and args.source not in topology.sources:
        hint = did_you_mean(args.source, topology.sources)
        return _usage(err, topology.redact(f"--source {args.source!r}: the topology has no such source"
                                           f"{'; ' + hint if hint else ''}"))
    if args.step is not None:
        steps = {letter.step for letter in letters if not letter.skipped}
        if args.step not in steps:
            hint = did_you_mean(args.step, steps)
            return _usage(err, f"--step {args.step!r}: no dead letter of {args.dead_letters} failed there"
                               f"{'; ' + hint if hint else ''}")
        letters = [letter for letter in letters if letter.step == args.step]
    return _replay(topology, letters, args, out, err)


def _replay(topology: Topology, letters: List[Letter], args, out: Console, err: Console) -> int:
    from cli.running import report_error
    from engine.compiler import CompileOptions, compile_topology
    from engine.compiler.places import DEAD_LETTER_PLACE
    from engine.compiler.replay import Letter, Outcomes, plan
    from engine.connectors.errors import ConnectorError
    from engine.runtime.runner import RunFailed, RunOptions, run_dataflow
    share = _share_of(topology, args.dead_letters)
    outcomes = Outcomes()
    groups: Dict[str, List[int]] = {}
    for index, letter in enumerate(letters):
        if not letter.skipped:
            groups.setdefault(letter.step, []).append(index)
    taps: Dict[str, Any] = {f"sink:{name}": outcomes.sink_batch for name in topology.sinks}
    taps[DEAD_LETTER_PLACE] = outcomes.dead_batch
    for step, indexes in groups.items():
        # one run per failing step: only the sinks after it are written (see the module docstring)
        chosen = [letters[i] if i in indexes else Letter(letters[i].line, letters[i].record, skipped="-")
                  for i in range(len(letters))]
        batches = plan(topology, chosen, args.source)
        for i in indexes:
            letters[i].source, letters[i].skipped = chosen[i].source, chosen[i].skipped
        if not batches:
            continue
        build = _build(topology, step, batches, letters, args.dry_run)
        try:
            run_dataflow(compile_topology(topology, options=CompileOptions(taps=taps, build=build)),
                         RunOptions(share=share))  # a share's dead letters: into its own files
        except (ConnectorError, RunFailed) as exc:
            report_error(err, topology, getattr(exc, "message", exc))
            return EXIT_FAILED
    report = _report(topology, letters, outcomes, args.dry_run)
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        _print(report, out, err)
    failing = report["dead_again"] or report["not_replayed"] or report["dead_unattributed"]
    return EXIT_STILL_FAILING if failing else EXIT_OK


def _share_of(topology: Topology, path: str):
    """The share whose dead-letter file ``path`` is (docs/deploy.md, Shares), by its name; None for
    the flow's own dead-letter file, even when the name it was given looks like a share's."""
    import os

    from engine.shares import Share

    dead_letter = topology.dead_letter
    if dead_letter is not None and dead_letter.kind == "file" and \
            os.path.abspath(str(dead_letter.options.get("path", ""))) == os.path.abspath(path):
        return None
    return Share.of_file(path)


def _build(topology: Topology, step: str, batches, letters: List[Letter], dry: bool):
    from engine.compiler.connectors import connector, declared
    from engine.compiler.dry import dry_build
    from engine.compiler.places import sinks_after
    from engine.compiler.replay import origin_restored
    from engine.connectors.given import GivenSource

    written = set() if dry else sinks_after(topology, step)

    def real(role, spec, counters):
        if role == "source":
            return GivenSource(batches.get(spec.name, []), counters)
        options = dict(spec.options)
        if spec.kind == "file":
            options["mode"] = "append"  # a replay adds to the output; overwrite would empty it
        sink = connector(role, spec.kind, options, counters) if spec.kind == "file" else declared(role, spec, counters)
        if spec is topology.dead_letter:
            encode = sink.encoder()
            setattr(sink, "encoder", lambda: origin_restored(encode, letters))  # noqa: B010 - the instance's own
        return sink

    def is_real(spec) -> bool:
        return not dry and (spec is topology.dead_letter or spec.name in written)

    return dry_build(is_real, real)


def _report(topology: Topology, letters: List[Letter], outcomes: Outcomes, dry: bool) -> Dict[str, Any]:
    replayed = [i for i, letter in enumerate(letters) if letter.source is not None]
    dead = [i for i in replayed if i in outcomes.dead]
    passed = [i for i in replayed if i in outcomes.reached and i not in outcomes.dead]
    reasons = Counter((d.step, d.error) for i in dead for d in outcomes.dead[i])
    reasons.update((d.step, d.error) for d in outcomes.dead_unknown)
    return {
        "topology": topology.redact(str(topology.path)), "dry_run": dry, "selected": len(letters),
        "replayed": len(replayed), "passed": len(passed), "dropped": len(replayed) - len(passed) - len(dead),
        "dead_again": len(dead), "dead_unattributed": len(outcomes.dead_unknown),
        "reached_unattributed": outcomes.reached_unknown,
        "reasons": [{"step": s, "error": topology.redact(e), "count": n} for (s, e), n in reasons.most_common()],
        "not_replayed": [{"line": letter.line, "step": letter.step if letter.record else None,
                          "origin": letter.origin, "reason": topology.redact(str(letter.skipped))}
                         for letter in letters if letter.source is None],
    }


def _print(report: Dict[str, Any], out: Console, err: Console) -> None:
    from rich.table import Table  # only to print: not when the parser is built

    table = Table(title=f"replay into {report['topology']}{' (dry run)' if report['dry_run'] else ''}")
    table.add_column("dead letters")
    table.add_column("count", justify="right")
    for label, key in (("selected", "selected"), ("replayed", "replayed"), ("now pass (reached a sink)", "passed"),
                       ("filtered out or taken by a keyed step (no sink, no error)", "dropped"),
                       ("events a sink got after a keyed step (its results, not attributable)", "reached_unattributed"),
                       ("dead again", "dead_again"),
                       ("dead again, origin unknown (after a keyed step)", "dead_unattributed")):
        if key in ("selected", "replayed", "passed", "dead_again") or report[key]:
            table.add_row(label, f"{report[key]:,}")
    table.add_row("not replayed", f"{len(report['not_replayed']):,}")
    out.print(table)
    if report["reasons"]:
        reasons = Table(title="dead again: reasons")
        for column in ("step", "error", "count"):
            reasons.add_column(column, justify="right" if column == "count" else "left")
        for reason in report["reasons"]:
            reasons.add_row(reason["step"], reason["error"], f"{reason['count']:,}")
        out.print(reasons)
    for item in report["not_replayed"]:
        err.print(f"[yellow]not replayed:[/yellow] line {item['line']}: {item['reason']}"
                  f"{'; --source NAME replays it from NAME' if 'origin' in item['reason'] else ''}", highlight=False)
    if report["dead_again"] and not report["dry_run"]:
        err.print(f"{report['dead_again']:,} dead letter(s) written again to the dead-letter sink", highlight=False)
