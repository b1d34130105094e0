"""The ``velocity-flow`` sub-commands."""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Dict, Optional, Sequence, Tuple

from cli.early_signals import held
from cli.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, error_line
from cli.validation_report import print_text, to_json
from engine.binding import Validation, validate_every_environment, validate_file
from engine.resources import schema_path
from engine.stopping import stop_before_run_on_signals
from engine.topology.interpolate import file_secrets, redact

if TYPE_CHECKING:  # made by cli/main.py at first use: a run -q that prints nothing never imports rich
    from rich.console import Console


@contextmanager
def secrets_hidden(*paths: str):
    """An exception escaping a command (reported by main as an internal error) carries no value
    from the environment that the topology files name: it is re-raised with them redacted."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - re-raised, same type name, redacted text
        secrets = {}
        for path in paths:
            secrets.update(file_secrets(path, os.environ))
        text = str(exc)
        if not secrets or redact(text, secrets) == text:
            raise
        raise type(type(exc).__name__, (Exception,), {})(redact(text, secrets)) from exc


def cmd_validate(args, out: Console, err: Console) -> int:
    from engine.connectors.views_helper import helping, started

    environment = getattr(args, "environment", None)
    # DuckDB, if the views need it, starts in a helper process on another core meanwhile (main)
    early = getattr(args, "views_helper", None)  # started by main (absent when called directly)
    with secrets_hidden(*args.paths), helping(args.paths, early):  # without --env: the base and every environment
        loaded = _views_ahead if started() else None
        results = [result for path in args.paths
                   for result in ([validate_file(path, environment=environment, loaded=loaded)] if environment
                                  else validate_every_environment(path, loaded=loaded))]
    if args.format == "json":
        print(to_json(results))
    else:
        for result in results:
            print_text(out, result)
    return EXIT_OK if all(r.ok for r in results) else EXIT_INVALID


def _views_ahead(doc) -> None:
    """Hand the views helper, as soon as a file is loaded, the DuckDB checks its sinks will ask
    when bound (the base's, or the environment's with --env; the environments mostly share the
    base's), to be worked out meanwhile."""
    from engine.connectors.table_checks import prefetch

    sinks = doc.data.get("sinks") if isinstance(doc.data, dict) else None
    for spec in sinks.values() if isinstance(sinks, dict) else ():
        for kind in ("duckdb", "postgres"):
            if isinstance(spec, dict) and isinstance(spec.get(kind), dict):
                prefetch(kind, spec[kind])


def _valid_or_report(path: str, err: Console, environment: Optional[str] = None):
    """The valid topology of ``path`` in ``environment``, or None after printing its problems;
    an environment the file lacks raises ``UnknownEnvironment`` (main: exit 2)."""
    with secrets_hidden(path):
        result: Validation = validate_file(path, environment=environment)
    if not result.ok:
        print_text(err, result)
        return None
    return result.topology


def cmd_run(args, out: Console, err: Console) -> int:
    stop_before_run_on_signals(came_before=held)
    http = _http_or_report(args, err)
    if http is False:
        return EXIT_USAGE
    with secrets_hidden(args.path):
        topology = _valid_or_report(args.path, err, args.environment)
        if topology is None:
            return EXIT_INVALID
        from cli.running import run_options, run_topology, share_refused  # the live view, HTTP: only to run

        if share_refused(topology, args, err):
            return EXIT_USAGE
        if getattr(args, "tap", None):
            from cli.tap import run_tapped

            return run_tapped(topology, args, err)
        return run_topology(topology, run_options(args), out, err, quiet=args.quiet, status_file=args.status_file,
                            http=http or None)


def _http_or_report(args, err: Console):
    """The ``--http`` options (None without one), or False after reporting an address refused."""
    from cli.observe.address import NotLoopback, from_args

    try:
        return from_args(args)
    except NotLoopback as exc:
        from rich.markup import escape

        err.print(error_line(escape(str(exc)), markup=True), highlight=False)
        return False


def cmd_graph(args, out: Console, err: Console) -> int:
    from engine.topology.render import to_dot, to_mermaid

    topology = _valid_or_report(args.path, err, args.environment)
    if topology is None:
        return EXIT_INVALID
    if args.format == "png" and not args.output:
        err.print(error_line("--format png needs -o FILE (a picture is not written to a terminal)", markup=True),
                  highlight=False)
        return EXIT_USAGE
    with secrets_hidden(args.path):
        text = to_mermaid(topology.definition) if args.format == "mermaid" else to_dot(topology.definition)
    text = topology.redact(text)
    if args.format in ("svg", "png"):
        from cli.drawing import render

        return render(text, args.format, args.output, err)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as file:
                file.write(text)
        except OSError as exc:
            return _cannot_write(err, args.output, exc)
    else:
        print(text, end="")
    return EXIT_OK


def _cannot_write(err: Console, path: str, exc: OSError) -> int:
    """One line for an output file that cannot be written (a missing folder, a directory, ...): exit 3."""
    from rich.markup import escape

    err.print(error_line(f"cannot write {escape(path)}: {escape(exc.strerror or str(exc))}", markup=True),
              highlight=False)
    return EXIT_FAILED


def cmd_schema(args, out: Console, err: Console) -> int:
    if args.path:  # the file editors point at (built-in components only)
        print(schema_path("topology.schema.json"))
    else:  # the format as validate knows it, plugins' components included
        from engine.topology.schema import topology_schema

        print(json.dumps(topology_schema(), indent=2))
    return EXIT_OK


def cmd_deploy(args, out: Console, err: Console) -> int:
    stop_before_run_on_signals(came_before=held)
    from cli.deploy import deploy

    if _http_or_report(args, err) is False:
        return EXIT_USAGE
    topology = _valid_or_report(args.path, err, args.environment)
    if topology is None:
        return EXIT_INVALID
    from cli.running import share_refused

    if share_refused(topology, args, err):
        return EXIT_USAGE
    with secrets_hidden(args.path):
        return deploy(topology, args, out, err)


def cmd_generate(args, out: Console, err: Console) -> int:
    from engine.simulation.tms import generate

    if args.postgres:
        return _drive_postgres(args, out, err)
    if args.kafka and not _kafka_answers(args.kafka, err):
        return EXIT_FAILED
    try:
        summary = generate(args.out, orders=args.orders, seed=args.seed, with_schema=args.with_schema,
                           snapshot_after=args.snapshot_after, key_moves=args.key_moves)
    except OSError as exc:
        return _cannot_write(err, exc.filename or args.out, exc)
    _print_generated(summary, out)
    if args.kafka:
        return _publish(args, out, err)
    return EXIT_OK


def _print_generated(summary, out: Console) -> None:
    """What ``generate tms`` wrote: totals on one line, then per table, then the business events."""
    import os

    from rich.table import Table

    tombstones = sum(summary.tombstones.values())
    out.print(f"wrote the TMS workload to {summary.out_dir}: {summary.orders:,} orders (seed {summary.seed}), "
              f"{summary.transactions:,} transactions, {summary.total_change_events:,} change events, "
              f"{tombstones:,} tombstones", highlight=False, soft_wrap=True)
    table = Table()
    table.add_column("table")
    for column in ("change events", "tombstones", "rows at the end"):
        table.add_column(column, justify="right")
    for name, count in summary.change_events.items():
        table.add_row(name, f"{count:,}", f"{summary.tombstones.get(name, 0):,}", f"{summary.rows.get(name, 0):,}")
    table.add_section()
    table.add_row("total", f"{summary.total_change_events:,}", f"{tombstones:,}", f"{sum(summary.rows.values()):,}")
    out.print(table)
    events = ", ".join(f"{name} {count:,}" for name, count in summary.business_events.items())
    out.print(f"expected business events ({sum(summary.business_events.values()):,}): {events}",
              highlight=False, soft_wrap=True)
    out.print(f"technical events (Debezium): {os.path.join(summary.out_dir, 'technical')}; "
              f"ground truth: {os.path.join(summary.out_dir, 'truth')}", highlight=False, soft_wrap=True)


_KAFKA_PROBE = 10.0  # seconds a broker has to answer before anything is generated for it


def _kafka_answers(bootstrap: str, err: Console) -> bool:
    """Whether a broker at ``bootstrap`` answers within ``_KAFKA_PROBE`` seconds, asked before the
    workload is generated (a dead address waited a minute, after the generation)."""
    from engine.connectors.errors import ConnectorError
    from engine.connectors.kafka_admin import admin_client, cluster_metadata

    try:
        with err.status(f"reaching Kafka at {bootstrap} ..."):
            cluster_metadata(admin_client(bootstrap), bootstrap, _KAFKA_PROBE)
    except ConnectorError as exc:
        err.print(error_line(f"{exc}; is a broker running there? "
                             "(`velocity-flow stack up kafka` starts one on loopback)", markup=True), highlight=False)
        return False
    return True


def _publish(args, out: Console, err: Console) -> int:
    import os

    from engine.connectors.errors import ConnectorError
    from engine.connectors.kafka_publish import publish_jsonl
    from engine.simulation.schema import TABLES

    technical = os.path.join(args.out, "technical")
    prefix = args.topic_prefix
    files: Dict[str, Tuple[str, Optional[Sequence[str]]]] = {
        f"{prefix}.public.{name}": (os.path.join(technical, f"{name}.jsonl"), table.primary_key)
        for name, table in TABLES.items()}
    files[f"{prefix}.transaction"] = (os.path.join(technical, "transaction.jsonl"), None)
    try:
        counts = publish_jsonl(args.kafka, files)
    except ConnectorError as exc:
        err.print(error_line(str(exc), markup=True), highlight=False)
        return EXIT_FAILED
    out.print(f"published {sum(counts.values()):,} messages to {len(counts)} topics at {args.kafka}", highlight=False)
    return EXIT_OK


def cmd_demo(args, out: Console, err: Console) -> int:
    from cli.demo import run_demo

    return run_demo(args, out, err)


def _drive_postgres(args, out: Console, err: Console) -> int:
    from rich.markup import escape
    from rich.progress import Progress

    from engine.connectors.errors import ConnectorError
    from engine.connectors.postgres_connection import describe
    from engine.simulation.sql import run_workload

    try:  # where, without the password; a DSN that does not parse is not quoted (psycopg's message would)
        target = describe(args.postgres)
    except ConnectorError:
        err.print(error_line("--postgres is not a libpq connection string or URI (e.g. "
                             "postgresql://user:password@127.0.0.1:15432/tms, or host=... dbname=...)", markup=True),
                  highlight=False)
        return EXIT_USAGE
    try:
        with Progress(console=err, transient=True, disable=not err.is_terminal) as progress:  # on stderr
            task = progress.add_task("TMS transactions", total=None)
            count = run_workload(args.postgres, args.orders, args.seed, args.rate,
                                 progress=lambda n: progress.update(task, completed=n))
    except Exception as exc:  # noqa: BLE001 - psycopg errors: one line, the DSN's password never printed
        reason = _without_password(str(exc).splitlines()[0] if str(exc) else "", args.postgres)
        err.print(error_line(f"TMS database {escape(target)}: {type(exc).__name__}: {escape(reason)}", markup=True),
                  highlight=False)
        return EXIT_FAILED
    out.print(f"executed {count:,} TMS transactions", highlight=False)
    return EXIT_OK


def _without_password(text: str, dsn: str) -> str:
    """``text`` with the password of ``dsn`` (and the DSN itself) replaced by ``***``."""
    from psycopg.conninfo import conninfo_to_dict

    password = str(conninfo_to_dict(dsn).get("password") or "")
    return redact(text, {secret: "***" for secret in (dsn, password) if secret})


def cmd_test(args, out: Console, err: Console) -> int:
    from cli.testing import cmd_test as run_tests

    return run_tests(args, out, err)


def cmd_stack(args, out: Console, err: Console) -> int:
    from cli.stack import stack

    return stack(args, out, err)


def cmd_init(args, out: Console, err: Console) -> int:
    from cli.scaffold import init

    return init(args, out, err)


def cmd_tap(args, out: Console, err: Console) -> int:
    from cli.tap import tap

    with secrets_hidden(args.path):
        topology = _valid_or_report(args.path, err, args.environment)
        return EXIT_INVALID if topology is None else tap(topology, args, out, err)


def cmd_replay(args, out: Console, err: Console) -> int:
    from cli.replay import replay

    with secrets_hidden(args.into):
        topology = _valid_or_report(args.into, err, args.environment)
        return EXIT_INVALID if topology is None else replay(topology, args, out, err)


def cmd_query(args, out: Console, err: Console) -> int:
    from cli.query import run_query

    with secrets_hidden(args.path):
        topology = _valid_or_report(args.path, err, args.environment)
        return EXIT_INVALID if topology is None else run_query(topology, args, out, err)


# Subcommand name -> handler (cli/main.py parses, then calls one of these).
HANDLERS = {"validate": cmd_validate, "run": cmd_run, "graph": cmd_graph, "schema": cmd_schema,
            "deploy": cmd_deploy, "generate": cmd_generate, "demo": cmd_demo, "stack": cmd_stack, "init": cmd_init,
            "test": cmd_test, "tap": cmd_tap, "replay": cmd_replay, "query": cmd_query}
