"""``velocity-flow tap FILE STEP`` and ``run --tap STEP``: print the events leaving a place of
the flow while it runs, one JSON line each on standard output (status on standard error).

``tap`` runs the flow *dry*: the declared sources, every sink replaced by one that encodes as
the real one (so the dead letters are the same) and writes nothing, no recovery store, no
consumer-group commits (engine/compiler/dry.py). Watching a step then never writes twice to
a destination or moves a group's offsets. ``run --tap`` is the real run, with its sinks, and
prints what it taps as well.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any, List, Optional

from cli.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, error_line
from engine.hints import did_you_mean
from engine.records import DeadLetter

if TYPE_CHECKING:  # the parser imports this module for every command
    from rich.console import Console

    from engine.binding.model import Topology


def add_tap_command(commands, count, workers):
    """The ``tap`` parser; ``count`` and ``workers``: the argument types of cli/main.py."""
    tap = commands.add_parser("tap", help="print the events leaving a step while the flow runs dry (sinks discarded)")
    tap.add_argument("path", metavar="FILE")
    tap.add_argument("place", metavar="STEP",
                     help="a source, a step id, step.output of a route, sink:<name> or dead_letter")
    tap.add_argument("--limit", type=count, default=None, metavar="N",
                     help="print N events, then stop the run cleanly")
    tap.add_argument("--every", type=count, default=1, metavar="K", help="print one event in K")
    tap.add_argument("--format", choices=["json", "pretty"], default="json")
    tap.add_argument("-w", "--workers", type=workers, default=1, help="Bytewax worker threads")
    return tap


class Printer:
    """The tap: prints one event in ``every`` until ``limit`` are printed, then asks for a
    clean stop when ``stop_at_limit``. Called from every worker thread."""

    def __init__(self, every: int = 1, limit: Optional[int] = None, pretty: Optional[Console] = None,
                 stop_at_limit: bool = True) -> None:
        self.every, self.limit, self.pretty, self.stop_at_limit = every, limit, pretty, stop_at_limit
        self.seen = self.printed = 0
        self._lock = threading.Lock()

    def __call__(self, batch: List[Any]) -> None:
        from engine.stopping import request_stop

        with self._lock:
            lines = []
            for item in batch:
                if self.limit is not None and self.printed >= self.limit:
                    break
                self.seen += 1
                if (self.seen - 1) % self.every:
                    continue
                self.printed += 1
                lines.append(_line(item.to_record() if isinstance(item, DeadLetter) else item))
            if lines:
                try:
                    self._write(lines)
                except BrokenPipeError:  # `tap ... | head`: the reader is gone, so is the point of running
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                    self.limit = self.printed
            if self.stop_at_limit and self.limit is not None and self.printed >= self.limit:
                request_stop(keep_state=False)

    def _write(self, lines: List[bytes]) -> None:
        if self.pretty is not None:
            from rich.highlighter import JSONHighlighter

            highlight = JSONHighlighter()
            for line in lines:  # indented by _indented, not rich's print_json: its json.loads made 0.50 0.5
                self.pretty.print(highlight(_indented(line)), soft_wrap=True)
        else:
            sys.stdout.buffer.write(b"\n".join(lines) + b"\n")
            sys.stdout.flush()


def _indented(line: bytes) -> str:
    """The JSON line indented, every number with the digits it was written with."""
    import json

    import orjson

    value = json.loads(line, parse_float=orjson.Fragment, parse_int=orjson.Fragment)  # each number's own text
    return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode("utf-8")


def _line(item: Any) -> bytes:
    from engine.connectors.jsonl import encode_value

    try:
        return encode_value(item)
    except Exception:  # noqa: BLE001 - an event JSON cannot hold (too deep) is shown as text, never stops the run
        return encode_value(repr(item))


def unknown_place(topology: Topology, place: str, err: Console) -> bool:
    """Whether ``place`` is not one of the flow's places; if not, says which are (exit 2)."""
    from engine.compiler.places import places

    known = places(topology)
    if place in known:
        return False
    from rich.markup import escape  # the place is what was typed: '[bold]x' is no style

    hint = did_you_mean(place, known)
    err.print(error_line(escape(f"{topology.redact(repr(place))} is not a place of this flow"
                                f"{'; ' + hint if hint else ''}\n  places: {topology.redact(', '.join(known))}"),
                         markup=True), highlight=False)
    return True


def tap(topology: Topology, args, out: Console, err: Console) -> int:
    """``tap`` on a validated topology: the dry run, with the tap printing."""
    from cli.running import report_error
    from engine.compiler import CompileOptions, compile_topology
    from engine.compiler.dry import dry_build
    from engine.connectors.errors import ConnectorError
    from engine.runtime.runner import RunFailed, RunOptions, run_dataflow

    if unknown_place(topology, args.place, err):
        return EXIT_USAGE
    printer = Printer(args.every, args.limit, out if args.format == "pretty" else None)
    try:
        flow = compile_topology(topology, options=CompileOptions(taps={args.place: printer}, build=dry_build()))
        err.print(f"tapping {topology.redact(args.place)} (dry run: sinks discarded, no recovery store)",
                  highlight=False)
        run_dataflow(flow, RunOptions(workers=args.workers))
    except (ConnectorError, RunFailed) as exc:
        report_error(err, topology, getattr(exc, "message", exc))
        return EXIT_FAILED
    shown = f"{printer.printed:,} event(s) shown of {printer.seen:,}"
    err.print(f"tap {topology.redact(args.place)}: {shown}"
              f"{f' (one in {args.every})' if args.every > 1 else ''}", highlight=False)
    return EXIT_OK


def run_tapped(topology: Topology, args, err: Console) -> int:
    """``run --tap STEP``: the real run (its sinks, its recovery store), the tapped events on
    standard output, the live view and summary on standard error."""
    from cli.running import run_options, run_topology
    from engine.compiler import CompileOptions

    if unknown_place(topology, args.tap, err):
        return EXIT_USAGE
    printer = Printer(stop_at_limit=False)
    return run_topology(topology, run_options(args), err, err, quiet=args.quiet,
                        compile_options=CompileOptions(taps={args.tap: printer}))
