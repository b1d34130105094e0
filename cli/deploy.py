"""``velocity-flow deploy``: provision the topology's Kafka topics, check its PostgreSQL sinks'
tables against their declared columns, then run it durably.

Durable means with a recovery store (default ``.velocity/recovery/<topology name>``), so a
stopped or crashed deployment resumes where its last snapshot left it. ``--processes N``
starts N local processes (each a ``velocity-flow run``): independent shares of the Kafka
partitions (``--share I/N``, a store each under the root) when every component of the flow
declares that it can run so (engine/shares.py), else one Bytewax cluster (``--process-id`` and
the shared ``--addresses``). Several machines run the same command line by hand, each with its
own ``--share`` or ``--process-id`` (docs/deploy.md).
"""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING, List, Optional

from cli.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK, error_line
from cli.observe.address import from_args
from cli.plain import plain_file
from cli.running import report_error, run_options, run_topology
from engine.binding.model import Topology
from engine.shares import holds_cluster_store, layout_problem

if TYPE_CHECKING:  # rich only once something is printed (cli/plain.py): the consoles are LazyConsoles
    from rich.console import Console
    from rich.table import Table


def deploy(topology: Topology, args, out: Console, err: Console) -> int:
    clients: dict = {}  # one AdminClient per cluster for the plan and the creations, not one each
    try:
        code = provision(topology, args, out, err, clients)
    finally:
        clients.clear()  # their threads end before the flow starts its own clients
    if code is not None:
        return code
    root = recovery_directory(topology, args)
    shares = in_shares(topology, args, root)
    problem = layout_problem(root, args.share.count if args.share else shares)
    if problem is not None:
        report_error(err, topology, problem)
        return EXIT_FAILED
    if shares is None and in_shares(topology, args):  # a deployment from before shares, or of -p 1
        _say(out, topology, f"{root} holds the store of one process or a cluster: running as one cluster, as it did "
             "(a new recovery directory runs as shares)")
    if args.snapshot_interval is None:  # Bytewax's 10 s: a crash loop faster than that never progresses
        args.snapshot_interval = DEPLOY_SNAPSHOT_INTERVAL
    http = from_args(args)  # checked by cmd_deploy
    if args.processes == 1:
        recovery = os.path.join(root, args.share.directory) if args.share else root
        return run_topology(topology, run_options(args, recovery), out, err, quiet=args.quiet,
                            status_file=args.status_file, http=http)
    if shares is None and not args.cluster and args.processes > 1:
        from engine.binding.shares import blockers  # why not independent processes: what the user would change

        reasons = blockers(topology)  # (none: a shareable flow kept in its cluster store, said above)
        if reasons:
            _say(out, topology, "one Bytewax cluster, not shares (docs/deploy.md): " + "; ".join(reasons))
    if http is None:
        return run_processes(args, root, out, err, shares=shares)
    return serve_cluster(topology, http, args, root, out, err, shares)


def _say(out: Console, topology: Topology, text: str) -> None:
    from rich.markup import escape

    out.print(escape(topology.redact(text)), highlight=False, soft_wrap=True)


def in_shares(topology: Topology, args, root: Optional[str] = None) -> Optional[int]:
    """``-p N`` as N independent shares (engine/shares.py): N when the flow can and --cluster is
    not given, else None (one process, or a cluster). With ``root``: None also when it holds the
    store of one process or a cluster, which goes on as it was (an existing deployment)."""
    from engine.binding.shares import blockers

    if args.processes == 1 or args.cluster or blockers(topology):
        return None
    return None if root is not None and holds_cluster_store(root) else args.processes


def provision(topology: Topology, args, out: Console, err: Console, clients: dict) -> Optional[int]:
    """The topics' plan (printed), the tables' check, then the creations: an exit code when deploy
    ends there (a failure, a conflict, --plan, --provision-only), None when the flow is to run."""
    from engine.connectors.errors import ConnectorError
    from engine.connectors.kafka_admin import CONFLICT, apply_plan, plan_topics

    hide = topology.redact  # topic names, brokers and paths may come from the environment
    try:
        plans = plan_topics(topology.topics.values(), clients=clients)
    except ConnectorError as exc:
        report_error(err, topology, exc)
        return EXIT_FAILED
    if plans:
        print_plan(plans, hide, out)
    conflicts = [p for p in plans if p.action == CONFLICT]
    if conflicts:
        report_conflicts(conflicts, hide, err)
        return EXIT_INVALID
    tables = check_tables(topology, out, err)
    if tables != EXIT_OK:
        return tables
    if args.plan:
        from rich.markup import escape

        root = recovery_directory(topology, args)
        shares = in_shares(topology, args, root)
        how = "independent shares" if shares else "process(es)"
        out.print(escape(hide(f"plan: run '{topology.name}' with {args.processes} {how} x {args.workers} "
                              f"worker(s), recovery in {root}")),
                  highlight=False, soft_wrap=True)
        problem = layout_problem(root, args.share.count if args.share else shares)  # what deploy would refuse
        if problem is not None:
            report_error(err, topology, problem)
            return EXIT_FAILED
        return EXIT_OK
    try:
        apply_plan(plans, clients=clients)
    except ConnectorError as exc:
        report_error(err, topology, exc)
        return EXIT_FAILED
    if args.provision_only:
        return EXIT_OK
    return None


def report_conflicts(conflicts, hide, err: Console) -> None:
    from rich.markup import escape

    for plan in conflicts:
        for difference in plan.differences:
            err.print(escape(hide(f"topic {plan.topic.name}: {difference}")), highlight=False, soft_wrap=True)
    err.print(error_line(f"{len(conflicts)} topic(s) exist with other settings; deploy changes no "
                         "existing topic: align the topology or the cluster", markup=True), highlight=False)


def check_tables(topology: Topology, out: Console, err: Console) -> int:
    """The ``postgres`` sinks' tables as the flow will find them (engine/connectors/postgres_plan.py),
    before it starts: one line each; a table that exists with other columns is an error line."""
    from cli.query import databases

    sinks = {name: options for name, options in databases(topology).items() if options["kind"] == "postgres"}
    if not sinks:
        return EXIT_OK
    from rich.markup import escape

    from engine.connectors.errors import ConnectorError
    from engine.connectors.postgres_plan import AS_DECLARED, CONFLICT, CREATE, plan_tables

    hide = topology.redact
    try:
        plans = plan_tables(sinks)
    except ConnectorError as exc:
        report_error(err, topology, exc)
        return EXIT_FAILED
    for sink in sinks:
        actions = [p.action for p in plans if p.sink == sink]
        counts = ", ".join(f"{actions.count(a)} {word}" for a, word in ((AS_DECLARED, "exist as declared"),
                                                                          (CREATE, "to create")) if a in actions)
        out.print(escape(hide(f"postgres sink '{sink}': tables {counts or 'none'}")), highlight=False,
                  soft_wrap=True)
    conflicts = [p for p in plans if p.action == CONFLICT]
    for plan in conflicts:
        err.print(error_line(escape(hide(plan.line())) + "; deploy changes no existing table: align the "
                             "topology or the table", markup=True), highlight=False, soft_wrap=True)
    return EXIT_INVALID if conflicts else EXIT_OK


DEPLOY_SNAPSHOT_INTERVAL = 5.0  # seconds; docs/deploy.md weighs it


def recovery_directory(topology: Topology, args) -> str:
    return args.recovery_directory or os.path.join(".velocity", "recovery", topology.name)


def print_plan(plans, hide, out: Console) -> None:
    """The topics' plan: rich's table on a terminal; on anything else (a log, a pipe, CI) the
    same columns as plain text, never cut to the width (a topic name is what one greps for)
    and without rich (~20 ms of CPU at every start of a deployment)."""
    file = plain_file(out)
    text = plain_plan(plans, hide) if file is not None else ""
    if file is not None and all(map(str.isprintable, text.splitlines())):
        file.write(text)
        file.flush()  # as rich's print does: before what deploy's processes print to the same file
    else:  # a terminal, or a control character in a name or value: rich's table shows it safely
        out.print(plan_table(plans, hide))


def plain_plan(plans, hide=str) -> str:
    """The plan as aligned plain text: a title, a header, a row per topic and, under a
    conflict, its differences indented."""
    rows = [("topic", "partitions", "replication", "config", "action")]
    notes: List[List[str]] = [[]]
    for plan in plans:
        topic = plan.topic
        rows.append((hide(topic.name), str(topic.partitions), str(topic.replication_factor),
                     hide(", ".join(f"{k}={v}" for k, v in topic.config.items())), plan.action))
        notes.append([hide(str(d)) for d in plan.differences])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = ["Kafka topics"]
    for row, differences in zip(rows, notes, strict=True):
        lines.append("  ".join([cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)] + [row[-1]]))
        lines += [f"  {d}" for d in differences]
    return "\n".join(lines) + "\n"


def plan_table(plans, hide=str) -> "Table":
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Kafka topics", title_justify="left")
    for column in ("topic", "partitions", "replication", "config", "action"):
        table.add_column(column)
    colors = {"create": "green", "unchanged": "dim", "conflict": "red"}
    for plan in plans:
        topic = plan.topic
        config = escape(hide(", ".join(f"{k}={v}" for k, v in topic.config.items())))
        differences = "".join(f"\n  {escape(hide(str(d)))}" for d in plan.differences)
        action = f"[{colors[plan.action]}]{plan.action}[/]" + differences
        table.add_row(escape(hide(topic.name)), str(topic.partitions), str(topic.replication_factor), config, action)
    return table


def serve_cluster(topology: Topology, http, args, recovery: str, out: Console, err: Console,
                  shares: Optional[int] = None) -> int:
    """``deploy -p N --http``: the processes each serve a loopback port; deploy serves ``http``
    for all of them (cli/observe/cluster.py)."""
    from cli.observe.cluster import ClusterView
    from cli.observe.server import ServeFailed, Serving

    peers = [f"http://127.0.0.1:{port}" for port in free_ports(args.processes)]
    serving = Serving(http, ClusterView(topology, peers))
    try:
        url = serving.start()
    except ServeFailed as exc:
        report_error(err, topology, exc)
        return EXIT_FAILED
    err.print(f"serving {url}/ for the {args.processes} processes (metrics: {url}/metrics)", highlight=False)
    try:
        return run_processes(args, recovery, out, err, peers, shares)
    finally:
        serving.close()


def run_processes(args, recovery: str, out: Console, err: Console, peers: Optional[List[str]] = None,
                  shares: Optional[int] = None) -> int:
    """Start ``args.processes`` local processes and wait for all: one Bytewax cluster sharing the
    recovery store ``recovery``, or with ``shares`` independent shares of the partitions, each
    with its store under ``recovery``. Each child validates its own copy of ``args.path``."""
    from cli.processes import supervise  # ctypes, subprocess: only deploy -p N needs them
    from engine.runtime.recovery_store import StoreUnusable, prepare_recovery_directory
    from engine.shares import Share
    from engine.stopping import stopped_before_run

    if not shares:
        try:
            prepare_recovery_directory(recovery, args.processes)  # a share's store is made by its process
        except StoreUnusable as exc:  # a read-only or full disk: one line, as run says it
            from rich.markup import escape

            err.print(error_line(escape(str(exc)), markup=True), highlight=False)
            return EXIT_FAILED
    if stopped_before_run():  # a SIGTERM during start-up: a clean stop, no process started
        return EXIT_OK
    addresses = "" if shares else ";".join(f"127.0.0.1:{port}" for port in free_ports(args.processes))
    commands: List[List[str]] = []
    for index in range(args.processes):
        command = [sys.executable, "-m", "cli", "run", args.path, "-q", "-w", str(args.workers)]
        if shares:
            share = Share(index, shares)
            command += ["--share", str(share), "-r", os.path.join(recovery, share.directory)]
        else:
            command += ["-i", str(index), "-a", addresses, "-r", recovery]
        if args.snapshot_interval:
            command += ["-s", str(args.snapshot_interval)]
        if args.status_file:  # one file per process: PATH.0, PATH.1, ...
            command += ["--status-file", f"{args.status_file}.{index}"]
        if getattr(args, "environment", None):
            command += ["--env", args.environment]
        if peers:  # deploy --http: each process serves its own on loopback, deploy answers for all
            command += ["--http", peers[index][len("http://"):]]
        commands.append(command)
    if shares:
        out.print(f"starting {len(commands)} independent processes, each a share of the Kafka partitions "
                  "(the flow keeps no keyed state; --cluster for one Bytewax cluster)", highlight=False)
    else:
        out.print(f"starting {len(commands)} processes of one cluster ({addresses})", highlight=False)
    # each child is told its place on its command line: the environment's (a machine set up for a
    # cluster, a share given to deploy) would contradict it
    env = {k: v for k, v in os.environ.items() if k not in ("BYTEWAX_ADDRESSES", "BYTEWAX_PROCESS_ID",
                                                            "VELOCITY_FLOW_SHARE")}
    return supervise(commands, out, err, env)


def free_ports(count: int) -> List[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
