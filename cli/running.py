"""Running one validated topology in this process: the one run path of ``run`` and ``deploy``.

The caller validates the file (once) and passes the topology; this module compiles it, runs
it with the live view, reports a failure or the dead-lettered total and returns the exit code.
"""

from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Optional

from cli.exits import EXIT_FAILED, EXIT_OK, error_line
from cli.status import StatusFile, StatusUnwritable
from engine.binding.model import Topology
from engine.metrics import MetricsRegistry
from engine.notices import set_writer
from engine.stopping import stop_requested

if TYPE_CHECKING:  # the HTTP server (and prometheus-client) is imported only by a run that serves
    from rich.console import Console

    from cli.observe.address import HttpOptions
    from cli.observe.server import LocalView


def run_options(args, recovery_directory: Optional[str] = None):
    """The ``RunOptions`` of the execution options on the command line; ``recovery_directory``
    (deploy's default store) wins over ``args.recovery_directory``."""
    from engine.runtime.runner import RunOptions

    interval = timedelta(seconds=float(args.snapshot_interval)) if args.snapshot_interval else None
    process_id = getattr(args, "process_id", None)
    addresses = getattr(args, "addresses", None)
    return RunOptions(workers=int(args.workers), epoch_interval=interval,
                      recovery_directory=recovery_directory or args.recovery_directory,
                      process_id=None if process_id is None else int(process_id),
                      addresses=addresses.split(";") if addresses else None, share=getattr(args, "share", None))


def share_refused(topology: Topology, args, err: Console) -> bool:
    """``--share`` given where it cannot apply: reported (the reasons), True."""
    if getattr(args, "share", None) is None:
        return False
    from engine.binding.shares import blockers

    reasons = blockers(topology)
    if getattr(args, "addresses", None):
        reasons = [("a process is a share (--share, VELOCITY_FLOW_SHARE) or a process of a cluster (--addresses, "
                    "BYTEWAX_ADDRESSES), not both")]
    elif getattr(args, "processes", 1) > 1:
        reasons = ["one process's share: give it with -p 1 (deploy -p N makes its own shares)"]
    from rich.markup import escape

    for reason in reasons:
        err.print(error_line(f"share {args.share} (--share or VELOCITY_FLOW_SHARE): "
                             f"{escape(topology.redact(reason))}", markup=True), highlight=False)
    return bool(reasons)


def report_error(err: Console, topology: Topology, exc) -> None:
    from rich.markup import escape

    err.print(error_line(escape(topology.redact(str(exc))), markup=True), highlight=False)


def run_topology(topology: Topology, options, out: Console, err: Console, quiet: bool = False,
                 compile_options=None, status_file: Optional[str] = None, http: Optional["HttpOptions"] = None) -> int:
    """Compile and run an already validated topology; EXIT_OK, or EXIT_FAILED when a connector
    cannot start or the flow fails. Every message goes through ``topology.redact``. ``http``:
    also serve the metrics, the JSON API and the page (cli/observe)."""
    from engine.runtime.start_up_gc import start_up_frozen

    with start_up_frozen():  # what validation made, and the compiler's imports: not walked by the GC
        return _compile_and_run(topology, options, out, err, quiet, compile_options, status_file, http)


def _compile_and_run(topology: Topology, options, out: Console, err: Console, quiet: bool, compile_options,
                     status_file: Optional[str], http: Optional["HttpOptions"]) -> int:
    from engine.compiler import compile_topology
    from engine.connectors.errors import ConnectorError

    metrics = MetricsRegistry()
    observed = None
    if http is not None:
        from cli.observe.server import LocalView

        observed = LocalView(topology, metrics, options.process_id)
        compile_options = _tapping_dead_letters(compile_options, observed.dead_letters.add)
    try:
        flow = compile_topology(topology, metrics, compile_options)  # taps: run --tap
    except ConnectorError as exc:
        report_error(err, topology, exc)
        return EXIT_FAILED
    reporting = StatusFile(status_file, topology.name, metrics, topology.redact)
    if http is None or observed is None:
        return _run(topology, flow, options, metrics, out, err, quiet, reporting, None)
    from cli.observe.server import ServeFailed, Serving

    serving = Serving(http, observed)
    try:
        reporting.extra["http"] = serving.start()
    except ServeFailed as exc:
        report_error(err, topology, exc)
        return EXIT_FAILED
    err.print(f"serving {serving.url}/ (metrics: {serving.url}/metrics)", highlight=False)
    try:
        return _run(topology, flow, options, metrics, out, err, quiet, reporting, observed)
    finally:  # a stop asked for while the flow ran (SIGTERM, Ctrl-C) ends the linger too: none then
        serving.close_after(0.0 if stop_requested() else http.linger)


def _run(topology: Topology, flow, options, metrics: MetricsRegistry, out: Console, err: Console, quiet: bool,
         reporting: StatusFile, observed: Optional["LocalView"]) -> int:
    from engine.compiler import DEAD_LETTER_STEP
    from engine.runtime.runner import RunFailed, run_dataflow

    if not quiet:  # the live view and its tables (rich.table, rich.live): not imported by run -q
        from rich.live import Live

        from cli.live import LiveView, dead_letter_total

        view = LiveView(topology.name, metrics, redact=topology.redact)
    before = set_writer(lambda text: err.print(topology.redact(text), highlight=False, markup=False))
    try:
        with reporting, _observing(observed):
            if quiet or not out.is_terminal:
                run_dataflow(flow, options)
            else:
                with Live(view, console=out, refresh_per_second=4, transient=True):
                    run_dataflow(flow, options)
            reporting.finish("stopped" if stop_requested() else "finished")
    except RunFailed as failure:
        report_error(err, topology, failure.message)
        return EXIT_FAILED
    except StatusUnwritable as exc:  # before the flow started
        report_error(err, topology, exc)
        return EXIT_FAILED
    finally:
        set_writer(before)
    if not quiet:
        from rich.markup import escape

        out.print(view.render(final=True))
        dead = dead_letter_total(metrics, DEAD_LETTER_STEP)
        dead_letter = topology.dead_letter  # bound: the default one when the file names none
        if dead and dead_letter is not None:
            where = topology.redact(str(dead_letter.options.get("path", dead_letter.kind)))
            if options.share is not None and dead_letter.kind == "file":
                # a file per share (engine/shares.py), named from the path as shown: the share's name of a
                # value from the environment (dead.share-0-of-2.jsonl) no longer holds the value redact hides
                where = options.share.file(where)
            err.print(f"[yellow]{dead:,} event(s) dead-lettered to {escape(where)}[/yellow]", highlight=False)
    if stop_requested():
        resumes = ("the next start resumes from this snapshot" if options.recovery_directory
                   else "no recovery store (-r): the next start begins again")
        err.print(f"stopped cleanly; {resumes}", highlight=False)
    return EXIT_OK


def _tapping_dead_letters(compile_options, keep):
    """``compile_options`` with a tap on the dead letters calling ``keep`` (and any tap there was)."""
    from engine.compiler import DEAD_LETTER_STEP, CompileOptions

    options = compile_options or CompileOptions()
    taps = dict(options.taps)
    earlier = taps.get(DEAD_LETTER_STEP)

    def tap(batch) -> None:
        keep(batch)
        if earlier is not None:
            earlier(batch)

    taps[DEAD_LETTER_STEP] = tap
    return CompileOptions(taps, options.build)


def _observing(observed: Optional["LocalView"]):
    """The HTTP view's state follows the run (cli/observe/server.py); nothing without one."""
    if observed is None:
        return nullcontext()
    from cli.observe.server import observing

    return observing(observed)
