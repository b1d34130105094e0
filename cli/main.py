"""``velocity-flow``: validate, run and draw topology files.

Exit codes: 0 success; 1 invalid topology; 2 usage error; 3 the flow or its standard output failed
(or could not start: a missing input, an unreachable service, a missing tool); 4 internal error
(a bug: please report it; ``VELOCITY_FLOW_DEBUG=1`` shows the traceback); 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, cast

from cli.arguments import EnvDefault as _EnvDefault
from cli.arguments import cluster_problem, natural, rate
from cli.arguments import interval as _interval
from cli.arguments import positive_int as _positive_int
from cli.arguments import share as _share
from cli.arguments import workers as _workers
from cli.exits import EXIT_CODES as _EXIT_CODES  # noqa: F401
from cli.exits import EXIT_FAILED, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, error_line
from cli.help_format import HelpFormatter
from cli.pipes import OutputFailed

if TYPE_CHECKING:
    from rich.console import Console

# Which codes each command can end with (0, 2, 4 and 130 always).
# Every command can end with 3 when its standard output cannot be written (cli/pipes.py).
_COMMAND_CODES = {"validate": (EXIT_INVALID, EXIT_FAILED), "run": (EXIT_INVALID, EXIT_FAILED),
                  "deploy": (EXIT_INVALID, EXIT_FAILED), "graph": (EXIT_INVALID, EXIT_FAILED),
                  "generate": (EXIT_FAILED,),
                  "demo": (EXIT_FAILED,), "stack": (EXIT_FAILED,), "schema": (EXIT_FAILED,), "init": (EXIT_FAILED,),
                  "test": (EXIT_INVALID, EXIT_FAILED), "tap": (EXIT_INVALID, EXIT_FAILED),
                  "replay": (EXIT_INVALID, EXIT_FAILED), "query": (EXIT_INVALID, EXIT_FAILED)}


def exit_codes_epilog(command: Optional[str] = None) -> str:
    """The exit codes, for ``--help``: those of ``command``, or all of them."""
    codes = sorted({EXIT_OK, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED, *_COMMAND_CODES.get(command, ())}
                   if command else _EXIT_CODES)
    return "exit codes:\n" + "\n".join(f"  {code:<4} {_EXIT_CODES[code]}" for code in codes)


def __getattr__(name: str) -> Any:
    """``SafeConsole`` (cli/console.py) as before, imported when asked for: it imports rich."""
    if name == "SafeConsole":
        from cli.console import SafeConsole

        return SafeConsole
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def add_env_option(command: argparse.ArgumentParser, every: bool = False) -> None:
    """``--env NAME``: the environment of the topology file to use (docs/topology.md)."""
    command.add_argument("-e", "--env", dest="environment", metavar="NAME", action=_EnvDefault,
                         envvar="VELOCITY_FLOW_ENV", default=None,
                         help="the environment of the topology file (its 'environments' section)"
                              + ("; default: the base and every environment" if every else "; default: none"))


def _execution_options(command: argparse.ArgumentParser) -> None:
    if isinstance(command, _Unmade):  # not this command's run: cli.observe not imported
        return
    command.add_argument("path", metavar="PATH", help="the topology file")
    add_env_option(command)
    command.add_argument("-w", "--workers", "--workers-per-process", dest="workers", type=_workers,
                         action=_EnvDefault, envvar="BYTEWAX_WORKERS_PER_PROCESS", default=1,
                         help="Bytewax worker threads per process")
    command.add_argument("-s", "--snapshot-interval", dest="snapshot_interval", type=_interval,
                         action=_EnvDefault, envvar="BYTEWAX_SNAPSHOT_INTERVAL", default=None,
                         help="seconds between epochs/snapshots (Bytewax default 10)")
    command.add_argument("-r", "--recovery-directory", dest="recovery_directory", action=_EnvDefault,
                         envvar="BYTEWAX_RECOVERY_DIRECTORY", default=None,
                         help="directory of the Bytewax recovery store (enables resume)")
    command.add_argument("--share", metavar="I/N", type=_share, action=_EnvDefault, envvar="VELOCITY_FLOW_SHARE",
                         default=None, help="run as process I (from 0) of N independent ones, reading every N-th "
                                            "partition of each Kafka source, for a flow without keyed state "
                                            "(docs/deploy.md, 'Shares')")
    command.add_argument("-q", "--quiet", action="store_true", help="no live view or summary")
    command.add_argument("--status-file", metavar="PATH", default=None,
                         help="write the flow's state (counters, Kafka lag, last event and delivery, brokers) as "
                              "JSON to PATH every second (docs/operations.md)")
    from cli.observe.address import add_http_options

    add_http_options(command)


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser of every command; ``only``: of that command alone (the one the arguments
    start with: the others' options would only cost time, ~10 ms, and their modules' imports)."""
    from engine import __version__

    parser = argparse.ArgumentParser(prog="velocity-flow", description="Declarative stream processing on Bytewax.",
                                     epilog=exit_codes_epilog(), formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"velocity-flow {__version__}")
    commands = _Commands(parser.add_subparsers(dest="command", metavar="COMMAND", help="one of:"),
                         only if only in _COMMAND_CODES else None)
    commands.required = True

    validate = commands.add_parser("validate", help="check topology files and report every problem")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="topology files")
    validate.add_argument("--format", choices=["text", "json"], default="text",
                          help="text (default): file:line:column with a caret; json: for tools")
    add_env_option(validate, every=True)

    run = commands.add_parser("run", help="validate, compile and run a topology")
    _execution_options(run)
    run.add_argument("-i", "--process-id", dest="process_id", type=natural, action=_EnvDefault,
                     envvar="BYTEWAX_PROCESS_ID", default=None, help="this process's index in --addresses")
    run.add_argument("-a", "--addresses", action=_EnvDefault, envvar="BYTEWAX_ADDRESSES", default=None,
                     help="host:port of every process of the cluster, separated by ';' (as bytewax.run)")
    run.add_argument("--tap", metavar="STEP", default=None,
                     help="also print the events leaving STEP as JSON lines (live view to stderr)")

    deploy = commands.add_parser("deploy", help="provision the topology's Kafka topics, then run it durably")
    _execution_options(deploy)
    deploy.add_argument("--plan", action="store_true", help="only show what would be done")
    deploy.add_argument("--provision-only", action="store_true", help="create the topics, do not run")
    deploy.add_argument("-p", "--processes", type=_workers, default=1,
                        help="local processes to start (each with --workers threads): independent shares of the "
                             "partitions when the flow keeps no keyed state, else one Bytewax cluster")
    deploy.add_argument("--cluster", action="store_true",
                        help="with -p N: one Bytewax cluster even when the flow could run as shares")

    graph = commands.add_parser("graph", help="print a topology's DAG as Mermaid or DOT, or draw it as SVG or PNG")
    graph.add_argument("path", metavar="PATH", help="the topology file")
    add_env_option(graph)
    graph.add_argument("--format", choices=["mermaid", "dot", "svg", "png"], default="mermaid",
                       help="mermaid (default) or dot: text; svg or png: a picture drawn by Graphviz 'dot' "
                            "(apt-get install graphviz)")
    graph.add_argument("-o", "--output", metavar="FILE", default=None,
                       help="write to FILE instead of standard output (required for png)")

    generate = commands.add_parser("generate", help="generate test data: a TMS workload as Debezium change events")
    generate.add_argument("what", choices=["tms"], help="what to generate: tms, the TMS workload (docs/tms.md)")
    generate.add_argument("--orders", type=_positive_int, default=100, help="transport orders to simulate")
    generate.add_argument("--seed", type=int, default=1, help="same seed, same files")
    generate.add_argument("--out", default="out/tms", help="output directory")
    generate.add_argument("--kafka", metavar="BOOTSTRAP", default=None,
                          help="also publish the technical events to Kafka: <prefix>.public.<table> and "
                               "<prefix>.transaction, as Debezium names them")
    generate.add_argument("--topic-prefix", default="tms", help="Debezium's topic.prefix (default tms)")
    generate.add_argument("--postgres", metavar="DSN", default=None,
                          help="instead of files, run the workload as SQL transactions on this TMS database")
    generate.add_argument("--rate", type=rate, default=0.0, help="with --postgres: transactions per second (0: max)")
    generate.add_argument("--snapshot-after", type=natural, default=0, metavar="N",
                          help="files: the connector starts after N transactions, so their rows arrive as "
                               "Debezium's initial snapshot (op r, no BEGIN/END) before the streaming changes")
    generate.add_argument("--key-moves", action="store_true",
                          help="files: handling units move between orders within one 5 s MicroBatch period")
    generate.add_argument("--no-schema", dest="with_schema", action="store_false",
                          help="JsonConverter with schemas.enable=false (default: with the Connect schema, "
                               "as Kafka Connect writes by default)")

    demo = commands.add_parser("demo", help="run Velocity's whole chain on a generated TMS workload (DuckDB)")
    demo.add_argument("--orders", type=_positive_int, default=200, help="transport orders to simulate")
    demo.add_argument("--seed", type=int, default=1, help="same seed, same workload")
    demo.add_argument("--out", default="out/demo", help="where the workload, events and DuckDB files go")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")

    stack = commands.add_parser("stack", help="Kafka + PostgreSQL (TMS) + Debezium on loopback, for the real CDC path")
    stack.add_argument("action", choices=["up", "down", "status"], metavar="ACTION",
                       help="up: start the services (each prints its address), down: stop them, "
                            "status: show their state (exit 3 when one is not running)")
    stack.add_argument("services", nargs="*", metavar="SERVICE",
                       help="kafka, postgres or debezium (default: all three; debezium starts the other two)")

    test = commands.add_parser("test", help="run the YAML unit tests of topologies (<name>.test.yaml)")
    test.add_argument("paths", nargs="*", metavar="PATH",
                      help="test files, topologies (their test file) or directories (default: .)")
    test.add_argument("--name", default=None, help="run only the test cases of this name")
    test.add_argument("--format", choices=["text", "json", "junit"], default="text")

    init = commands.add_parser("init", help="write a new topology, a sample input, its tests and a README snippet")
    init.add_argument("name", metavar="NAME", help="the topology's name: NAME.yaml, NAME.test.yaml, samples/NAME.jsonl")
    init.add_argument("--dir", default=".", help="where to write them (default: the current directory)")
    init.add_argument("--force", action="store_true", help="overwrite files that exist (default: refuse, exit 2)")

    if commands.wants("tap"):
        from cli.tap import add_tap_command

        add_env_option(add_tap_command(commands, _positive_int, _workers))
    if commands.wants("replay"):
        from cli.replay import add_replay_command

        add_env_option(add_replay_command(commands))
    if commands.wants("query"):
        from cli.query import add_query_command

        add_env_option(add_query_command(commands))

    schema = commands.add_parser("schema", help="print the JSON Schema of topology files (for editors)")
    schema.add_argument("--path", action="store_true", help="print only where the schema file is")
    _describe_common(commands)
    return parser


# What the arguments many commands share mean, for one a command declares without a help.
_COMMON_HELP = {"path": "the topology file", "paths": "topology files",
                "format": "how to print the result: {choices} (default: {default})"}


def _describe_common(commands: "_Commands") -> None:
    for command in commands.choices.values():
        for action in command._actions:
            if not (action.help or "").strip() and action.dest in _COMMON_HELP:
                action.help = _COMMON_HELP[action.dest].format(choices=", ".join(action.choices or ()),
                                                                default=action.default)


class _Commands:
    """``add_subparsers()`` whose every command's ``--help`` ends with its exit codes; with
    ``only``, the parsers of the other commands are not made (what is added to them is dropped)."""

    def __init__(self, actions, only: Optional[str] = None) -> None:
        self._actions = actions
        self._only = only

    def wants(self, name: str) -> bool:
        return self._only in (None, name)

    @property
    def choices(self) -> Dict[str, argparse.ArgumentParser]:
        return self._actions.choices

    def __setattr__(self, name, value) -> None:
        if name in ("_actions", "_only"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._actions, name, value)

    def add_parser(self, name: str, **kwargs) -> argparse.ArgumentParser:
        if not self.wants(name):
            return cast(argparse.ArgumentParser, _Unmade())
        kwargs.setdefault("epilog", exit_codes_epilog(name))
        kwargs.setdefault("formatter_class", HelpFormatter)
        kwargs.setdefault("description", kwargs.get("help"))
        return self._actions.add_parser(name, **kwargs)


class _Unmade:
    """The parser of a command not being run (``build_parser(only=...)``)."""

    def add_argument(self, *args, **kwargs) -> None:
        return None


def _wants_json(argv: List[str]) -> bool:
    """``--format json`` asked for (looked up in the raw arguments: parsing may have failed)."""
    pairs = zip(argv, argv[1:] + [""], strict=False)  # one more: the last argument pairs with ""
    return any(a == "--format=json" or (a == "--format" and n == "json") for a, n in pairs)


def _json_outcome(code: int, message: str) -> None:
    print(json.dumps({"error": {"exit_code": code, "kind": {EXIT_USAGE: "usage", EXIT_INTERNAL: "internal",
                                                             EXIT_INTERRUPTED: "interrupted"}.get(code, "failed"),
                                "message": message}}, indent=2))


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_json = _wants_json(argv)
    parser = build_parser(argv[0] if argv else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        code = EXIT_USAGE if exc.code not in (0, None) else EXIT_OK
        if code and wants_json:
            _json_outcome(code, "usage error; see --help")
        return code
    except OutputFailed as exc:  # `--help > /dev/full`
        return _output_failed(exc)
    problem = cluster_problem(args) if args.command == "run" else None
    if problem:
        print(error_line(problem), file=sys.stderr)
        return EXIT_USAGE
    early = None
    if args.command == "validate":  # DuckDB, if views need it, starts meanwhile on another core
        from engine.connectors.views_helper import start

        early = args.views_helper = start(args.paths)  # cmd_validate takes it over
    try:
        return _dispatch(args, wants_json)
    finally:
        if early is not None:  # ended here if main ended before cmd_validate took it over
            early.finish()


def _dispatch(args: argparse.Namespace, wants_json: bool) -> int:
    """Run the parsed command: one line and an exit code for what goes wrong (docs/cli.md)."""
    from cli import commands
    from cli.early_signals import held
    from cli.plain import LazyConsole
    from engine.catalog import PluginError, import_plugins

    handler = commands.HANDLERS[args.command]
    if args.command not in ("run", "deploy"):  # those two take signals over first (cmd_run, cmd_deploy)
        for sig in (signal.SIGTERM, signal.SIGINT):  # SIGTERM as Ctrl-C: Bytewax ends at a clean point
            signal.signal(sig, signal.default_int_handler)
    try:
        import_plugins(os.environ.get("VELOCITY_FLOW_PLUGINS", ""))
    except PluginError as exc:
        print(error_line(str(exc)), file=sys.stderr)
        if wants_json:
            _json_outcome(EXIT_USAGE, str(exc))
        return EXIT_USAGE
    from engine.topology.environments import UnknownEnvironment

    try:
        if held() and args.command not in ("run", "deploy"):  # a signal came before (cli/early_signals.py)
            raise KeyboardInterrupt
        return handler(args, cast("Console", LazyConsole()), cast("Console", LazyConsole(stderr=True)))
    except UnknownEnvironment as exc:  # --env names what the file lacks: a usage error
        print(error_line(str(exc)), file=sys.stderr)
        if wants_json:
            _json_outcome(EXIT_USAGE, str(exc))
        return EXIT_USAGE
    except OutputFailed as exc:  # `> /dev/full`: the destination failed, not the program
        return _output_failed(exc)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        if wants_json:
            _json_outcome(EXIT_INTERRUPTED, "interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - users get one line, never a traceback
        if os.environ.get("VELOCITY_FLOW_DEBUG"):
            raise
        message = f"internal error: {type(exc).__name__}: {exc}"
        print(error_line(message), "  this is a bug; please report it (VELOCITY_FLOW_DEBUG=1 shows the traceback)",
              sep="\n", file=sys.stderr)
        if wants_json:
            _json_outcome(EXIT_INTERNAL, message)
        return EXIT_INTERNAL


def _output_failed(exc: OutputFailed) -> int:
    print(error_line(str(exc)), file=sys.stderr)
    return EXIT_FAILED


def entry() -> None:
    from cli.early_signals import hold_signals
    from cli.pipes import reader_may_leave

    try:
        hold_signals()  # done already by cli/__main__.py, unless an older install's console script called this
        # Start-up makes ~300k objects that live to the end (modules, classes, functions) and almost no
        # cyclic garbage: at Python's default threshold (700) the collector walks them again and again
        # (run -q of a one-event flow: ~18M instructions of 810M); a run sets its own (engine/runtime/runner.py).
        gc.set_threshold(50_000, 20, 100)
        reader_may_leave()  # `velocity-flow ... | head -1`: the rest of the output is dropped, the outcome kept
        code = main()
    except KeyboardInterrupt:  # a second signal before the command took them over (cli/early_signals.py)
        print("interrupted", file=sys.stderr)
        code = EXIT_INTERRUPTED
    # The command is over. A stop arriving while the interpreter shuts down (deploy stopping a
    # process that is already ending) has nothing left to stop, and a KeyboardInterrupt raised in
    # an atexit callback prints a traceback; deploy's second stop is SIGKILL, so nothing hangs.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    # The interpreter's exit collects every generation, walking all those objects once more (~50M
    # instructions); frozen, they are left to reference counting as the modules are torn down.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()
