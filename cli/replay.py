"""``velocity-flow replay DEAD_LETTER_FILE --into TOPOLOGY``: re-inject dead letters, once the
topology or the data is fixed, through the whole flow into its real sinks.

Each dead letter is fed to the decode step of the source that produced it (mapping and raw
values: engine/compiler/replay.py). Sinks the event had reached before it failed are not
written again: the dead letters are replayed one group per failing step, and in each run only
the sinks downstream of that step are real (engine/compiler/places.py ``sinks_after``); the
others discard. File sinks append (a replay adds to what is there; ``mode: overwrite`` would
empty the file). Letters still failing go to the topology's dead-letter sink, with their
original origin, so nothing is lost; the file replayed is never changed (besides, when it is
the dead-letter sink itself, the new records appended to it). Identical records with an origin
are fed once. A SIGTERM or Ctrl-C ends the run at the source's next batch and no further group
runs: the letters not fed are reported as such (docs/operations.md).

Exit codes: 0 every selected dead letter passed (reached a sink, or was filtered out); 1 some
are dead again or could not be replayed; 2 usage (no such file, not a dead-letter file, an
unknown --step or --source); 3 a destination broke (or could not start); 130 stopped midway.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from contextlib import contextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Set, Tuple

from cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, error_line
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


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")  # Python's json reads NaN; JSON (and the flows' decode) has none


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
                record = json.loads(line, parse_float=Decimal, parse_constant=_refuse_constant)
            except RecursionError:  # a hostile file's [[[[...: json's recursion, not a bug of ours
                letters.append(Letter(number, {}, skipped=f"line {number} is nested too deeply to read"))
                continue
            except ValueError as exc:
                cut = "" if line.endswith(b"\n") else " (the file ends inside it: still being written, or cut short)"
                letters.append(Letter(number, {}, skipped=f"line {number} is not JSON{cut}: {exc}"))
                continue
            if not isinstance(record, dict) or "event" not in record or not isinstance(record.get("step"), str):
                letters.append(Letter(number, {}, skipped=f"line {number} is not a dead-letter record"))
                continue
            letters.append(Letter(number, record))
    return letters


def _usage(err: Console, message: str) -> int:
    from rich.markup import escape  # the message holds data: a path, a step, a line's JSON error

    err.print(error_line(escape(message), markup=True), highlight=False)
    return EXIT_USAGE


def replay(topology: Topology, args, out: Console, err: Console) -> int:
    """``replay`` into a validated topology."""
    try:
        letters = read_letters(args.dead_letters)
    except OSError as exc:
        return _usage(err, f"cannot read {args.dead_letters}: {exc.strerror}")
    if letters and all(letter.skipped for letter in letters):  # the input data, a topology: a usage error
        return _usage(err, topology.redact(f"{args.dead_letters} is not a dead-letter file: no line is a dead-letter "
                                           f"record ({letters[0].skipped})"))
    if args.source is not None and args.source not in topology.sources:
        hint = did_you_mean(args.source, topology.sources)
        return _usage(err, topology.redact(f"--source {args.source!r}: the topology has no such source"
                                           f"{'; ' + hint if hint else ''}"))
    if args.step is not None:
        steps = {letter.step for letter in letters if not letter.skipped}
        if args.step not in steps:
            hint = did_you_mean(args.step, steps)
            return _usage(err, topology.redact(f"--step {args.step!r}: no dead letter of {args.dead_letters} "
                                               f"failed there{'; ' + hint if hint else ''}"))
        letters = [letter for letter in letters if letter.step == args.step]
    return _replay(topology, letters, args, out, err)


def _replay(topology: Topology, letters: List[Letter], args, out: Console, err: Console) -> int:
    from cli.running import report_error
    from engine.compiler import CompileOptions, compile_topology
    from engine.compiler.places import DEAD_LETTER_PLACE
    from engine.compiler.replay import Letter, Outcomes, plan
    from engine.connectors.errors import ConnectorError
    from engine.runtime.runner import RunFailed, RunOptions, run_dataflow
    from engine.stopping import stop_requested
    share = _share_of(topology, args.dead_letters)
    outcomes = Outcomes()
    twins = _twins(letters)
    groups: Dict[str, Set[int]] = {}  # a set: `i in indexes` below, once per letter and group
    for index, letter in enumerate(letters):
        if not letter.skipped and index not in twins:
            groups.setdefault(letter.step, set()).add(index)
    taps: Dict[str, Any] = {f"sink:{name}": outcomes.sink_batch for name in topology.sinks}
    taps[DEAD_LETTER_PLACE] = outcomes.dead_batch
    halted = stopped = False  # a stop came; some letters were not fed
    with _stops() as asked:
        for step, indexes in groups.items():
            # one run per failing step: only the sinks after it are written (see the module docstring)
            chosen = [letters[i] if i in indexes else Letter(letters[i].line, letters[i].record, skipped="-")
                      for i in range(len(letters))]
            batches = plan(topology, chosen, args.source)
            if halted or asked.is_set():  # a stop: no further dead letter is fed
                stopped = _not_fed(letters, batches, {}) or stopped
                continue
            given: Dict[str, Any] = {}
            try:
                run_dataflow(compile_topology(topology, options=CompileOptions(
                    taps=taps, build=_build(topology, step, batches, letters, args.dry_run, given))),
                    RunOptions(share=share))  # a share's dead letters: into its own files
            except (ConnectorError, RunFailed) as exc:
                report_error(err, topology, getattr(exc, "message", exc))
                return EXIT_FAILED
            if stop_requested() or asked.is_set():  # a SIGTERM or Ctrl-C: its source ended at its next batch
                halted = True
                stopped = _not_fed(letters, batches, given) or stopped
    for i, first in twins.items():
        letters[i].source, letters[i].skipped = letters[first].source, letters[first].skipped
    report = _report(topology, letters, outcomes, twins, args.dry_run)
    report["stopped"] = stopped
    if args.format == "json":
        print(json.dumps(report, indent=2))
    else:
        _print(report, out, err)
    if stopped:
        return EXIT_INTERRUPTED
    failing = report["dead_again"] or report["not_replayed"] or report["dead_unattributed"]
    return EXIT_STILL_FAILING if failing else EXIT_OK


_NOT_FED = "not fed: the replay was stopped (SIGTERM or Ctrl-C) before it"


def _not_fed(letters: List[Letter], batches, given: Dict[str, Any]) -> bool:
    """Marks the letters of ``batches`` a source did not give (``given``: source -> its GivenSource);
    whether there were any (a stop after the last was fed changes nothing)."""
    marked = False
    for name, raws in batches.items():
        source = given.get(name)
        for raw in raws[source.given if source is not None else 0:]:  # first_offset: the letter's index (plan)
            letters[raw.first_offset].source, letters[raw.first_offset].skipped = None, _NOT_FED
            marked = True
    return marked


@contextmanager
def _stops() -> Iterator[threading.Event]:
    """SIGTERM and SIGINT between the runs (compiling the next group): no further run starts; during
    a run, the runner's own handlers end it cleanly (its sources at their next batch). A second one
    aborts (KeyboardInterrupt: exit 130 without a report)."""
    from engine.stopping import stop_requested

    asked = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return

    def stop(signum, frame) -> None:
        if asked.is_set() or stop_requested():  # the second, also when the first came during a run
            raise KeyboardInterrupt
        asked.set()
        os.write(2, b"velocity-flow: stopping: no further dead letter is fed (again to abort)\n")

    before = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield asked
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _twins(letters: List[Letter]) -> Dict[int, int]:
    """index -> the index of an earlier identical record (step, origin, event): fed once. An origin
    is one value read, fed again whole: the items of an ``unnest`` that failed alike, or a flow run
    twice over one input, would otherwise write what it makes twice. Without an origin, two
    records may be two events."""
    first: Dict[Tuple[str, str, str], int] = {}
    twins = {}
    for index, letter in enumerate(letters):
        if letter.skipped or letter.origin is None:
            continue
        try:
            key = (letter.step, letter.origin, repr(letter.record.get("event")))  # repr: 1, "1", 1.0 differ
        except RecursionError:
            continue
        if first.setdefault(key, index) != index:
            twins[index] = first[key]
    return twins


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


def _build(topology: Topology, step: str, batches, letters: List[Letter], dry: bool, given: Dict[str, Any]):
    """The run's connectors: every source gives its dead letters (``given``: name -> its
    GivenSource), the sinks after ``step`` and the dead-letter sink are real, the others discard."""
    from engine.compiler.connectors import connector, declared
    from engine.compiler.dry import dry_build
    from engine.compiler.places import sinks_after
    from engine.compiler.replay import origin_restored
    from engine.connectors.given import GivenSource

    written = set() if dry else sinks_after(topology, step)

    def real(role, spec, counters):
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

    sinks = dry_build(is_real, real)

    def build(role, spec, counters):
        if role == "source":  # never the declared source: dry_build reads a Kafka source with a group_id
            source = given[spec.name] = GivenSource(batches.get(spec.name, []), counters)
            return source
        return sinks(role, spec, counters)

    return build


def _report(topology: Topology, letters: List[Letter], outcomes: Outcomes, twins: Dict[int, int],
            dry: bool) -> Dict[str, Any]:
    replayed = [i for i, letter in enumerate(letters) if letter.source is not None]
    fed = [twins.get(i, i) for i in replayed]  # a twin ended as the record fed for both
    dead = [i for i in fed if i in outcomes.dead]
    passed = [i for i in fed if i in outcomes.reached and i not in outcomes.dead]
    reasons = Counter((d.step, d.error) for i in set(dead) for d in outcomes.dead[i])
    reasons.update((d.step, d.error) for d in outcomes.dead_unknown)
    return {
        "topology": topology.redact(str(topology.path)), "dry_run": dry, "selected": len(letters),
        "replayed": len(replayed), "passed": len(passed), "dropped": len(replayed) - len(passed) - len(dead),
        "dead_again": len(dead), "dead_unattributed": len(outcomes.dead_unknown),
        "duplicates": sum(1 for i in replayed if i in twins),
        "reached_unattributed": outcomes.reached_unknown,
        "reasons": [{"step": topology.redact(s), "error": topology.redact(e), "count": n}
                    for (s, e), n in reasons.most_common()],
        "not_replayed": [{"line": letter.line, "step": topology.redact(letter.step) if letter.record else None,
                          "origin": topology.redact(letter.origin) if letter.origin else None,
                          "reason": topology.redact(str(letter.skipped))}
                         for letter in letters if letter.source is None],
    }


def _spans(lines: List[int]) -> str:
    """``1-3, 7, 9-10``: sorted line numbers, runs joined."""
    spans: List[List[int]] = []
    for line in lines:
        if spans and spans[-1][1] == line - 1:
            spans[-1][1] = line
        else:
            spans.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _print(report: Dict[str, Any], out: Console, err: Console) -> None:
    from rich.markup import escape  # only to print: not when the parser is built
    from rich.table import Table
    from rich.text import Text  # data (paths, origins, errors) as text: '[bold]' in an origin is no style

    table = Table(title=Text(f"replay into {report['topology']}{' (dry run)' if report['dry_run'] else ''}"))
    table.add_column("dead letters")
    table.add_column("count", justify="right")
    for label, key in (("selected", "selected"), ("replayed", "replayed"), ("now pass (reached a sink)", "passed"),
                       ("filtered out or taken by a keyed step (no sink, no error)", "dropped"),
                       ("events a sink got after a keyed step (its results, not attributable)", "reached_unattributed"),
                       ("dead again", "dead_again"),
                       ("the same as an earlier line (fed once for both)", "duplicates"),
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
            reasons.add_row(Text(reason["step"]), Text(reason["error"]), f"{reason['count']:,}")
        out.print(reasons)
    not_fed = [item["line"] for item in report["not_replayed"] if item["reason"] == _NOT_FED]
    for item in report["not_replayed"]:
        if item["reason"] != _NOT_FED:
            err.print(f"[yellow]not replayed:[/yellow] line {item['line']}: {escape(item['reason'])}"
                      f"{'; --source NAME replays it from NAME' if 'origin' in item['reason'] else ''}",
                      highlight=False)
    if not_fed:  # one line, not one per letter: a stop can leave most of a large file
        err.print(f"[yellow]not fed:[/yellow] {len(not_fed):,} dead letter(s), the replay was stopped before them: "
                  f"lines {_spans(sorted(not_fed))}", highlight=False)
    if report["dead_again"] and not report["dry_run"]:
        err.print(f"{report['dead_again']:,} dead letter(s) written again to the dead-letter sink", highlight=False)
