"""``velocity-flow demo``: Velocity's whole chain on the embedded default, in one command.

Generates a TMS workload (Debezium change events), then runs the shipped topologies in order:
technical -> domain (transport orders, pickups), MicroBatch into the DuckDB Fast Storage, and
the Event Engine. Shows progress while it works and a summary at the end: events per stage,
dead letters, a sample of business events, where the DuckDB files are and queries to try.
"""

from __future__ import annotations

import os
from typing import List, Tuple

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.exits import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, error_line
from engine.metrics import MetricsRegistry
from engine.resources import topologies_dir
from engine.stopping import stop_requested

STAGES: List[Tuple[str, str]] = [
    ("technical -> domain: transport orders", "transport_order_domain.yaml"),
    ("technical -> domain: pickups", "pickup_domain.yaml"),
    ("technical -> domain: trips", "trip_domain.yaml"),
    ("MicroBatch -> Fast Storage", "fast_storage.yaml"),
    ("Event Engine -> business events", "event_engine.yaml"),
]
QUERIES = [
    "SELECT status, count(*) FROM transport_order GROUP BY status ORDER BY 2 DESC",
    "SELECT trip_number, status, len(stops) AS stops, len(goods) AS orders FROM load ORDER BY trip_number LIMIT 3",
    (
        "SELECT order_number, status, departure_time, route FROM order_metrics WHERE status = 'delivered' "
        "ORDER BY order_number LIMIT 3"
    ),
    "SELECT type, count(*), round(avg(delay_minutes), 1) AS avg_delay FROM business_event GROUP BY 1 ORDER BY 1",
]


def run_demo(args, out: Console, err: Console) -> int:
    from engine.simulation import generate

    base = os.path.abspath(args.out)
    env = {**os.environ, "VF_TMS": os.path.join(base, "tms"), "VF_OUT": base}
    results: List[Tuple[str, Tuple[int, int, int]]] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=out, disable=args.quiet) as progress:
        task = progress.add_task(f"generating a TMS workload ({args.orders} orders)", total=None)
        summary = generate(env["VF_TMS"], orders=args.orders, seed=args.seed, with_schema=True)
        progress.update(task, description=f"TMS workload: {summary.transactions:,} transactions, "
                                          f"{sum(summary.change_events.values()):,} change events")
        progress.stop_task(task)
        for title, file_name in STAGES:
            task = progress.add_task(title, total=None)
            code, counts = _run_stage(os.path.join(topologies_dir(), "velocity", file_name), env, err)
            progress.stop_task(task)
            if code != EXIT_OK:
                return code
            if stop_requested():  # Ctrl-C or SIGTERM ended this stage early: the demo stops, the rest is not run
                err.print(f"interrupted during '{title}': the demo stopped; run it again to start over",
                          highlight=False)
                return EXIT_INTERRUPTED
            results.append((title, counts))
    if not args.quiet:
        _summary(out, base, results)
    return EXIT_OK


def _run_stage(path: str, env: dict, err: Console):
    from cli.validation_report import print_text
    from engine.binding import validate_file
    from engine.compiler import compile_topology
    from engine.runtime.runner import RunFailed, RunOptions, run_dataflow

    result = validate_file(path, env)
    if not result.ok:
        print_text(err, result)
        return EXIT_INVALID, None
    topology = result.topology
    assert topology is not None  # valid
    metrics = MetricsRegistry()
    try:
        run_dataflow(compile_topology(topology, metrics), RunOptions())
    except RunFailed as failure:
        err.print(error_line(f"{os.path.basename(path)}: {failure.message}", markup=True), highlight=False)
        return EXIT_FAILED, None
    counters = metrics.snapshot()
    read = sum(counters[name].events_in for name in topology.sources if name in counters)
    written = sum(c.events_in for name, c in counters.items() if name.startswith("sink:"))
    dead = counters["dead_letter"].events_in if "dead_letter" in counters else 0
    return EXIT_OK, (read, written, dead)


def _summary(out: Console, base: str, results) -> None:
    table = Table(title="Velocity demo", title_justify="left")
    for column in ("stage", "events read", "events written", "dead letters"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for title, (read, written, dead) in results:
        table.add_row(title, f"{read:,}", f"{written:,}", f"[red]{dead:,}[/red]" if dead else "0")
    out.print(table)
    _sample(out, base)
    out.print(f"\nFast Storage: [bold]{os.path.join(base, 'fast_storage.duckdb')}[/bold]   "
              f"business events: [bold]{os.path.join(base, 'business.duckdb')}[/bold]", highlight=False)
    for query in QUERIES:
        database = "business.duckdb" if "business_event" in query else "fast_storage.duckdb"
        out.print(_query_table(os.path.join(base, database), query))
    out.print("Query them yourself, e.g. python -c \"import duckdb; print(duckdb.connect('"
              + os.path.join(base, "fast_storage.duckdb") + "').sql('SHOW TABLES'))\"", highlight=False, soft_wrap=True)


def _query_table(database: str, query: str) -> Table:
    import duckdb

    con = duckdb.connect(database, read_only=True)
    try:
        cursor = con.execute(query)
        names, rows = [d[0] for d in cursor.description], cursor.fetchall()
    finally:
        con.close()
    table = Table(title=query, title_justify="left", title_style="dim")
    for name in names:
        table.add_column(name)
    for row in rows:
        table.add_row(*[str(v) for v in row])
    return table


def _sample(out: Console, base: str) -> None:
    import duckdb

    con = duckdb.connect(os.path.join(base, "business.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT type, order_id, coalesce(departed_at, delivered_at, eta, completed_at, failed_at), "
                           "delay_minutes FROM business_event ORDER BY occurred_at, type LIMIT 8").fetchall()
    finally:
        con.close()
    sample = Table(title="A sample of business events", title_justify="left")
    for column in ("type", "order", "when", "delay (min)"):
        sample.add_column(column)
    for kind, order, when, delay in rows:
        sample.add_row(kind, str(order)[:8], str(when), "" if delay is None else str(delay))
    out.print(sample)
