"""The simulated TMS workload as SQL: one transaction of INSERT/UPDATE/DELETE statements per
simulated transaction, for a real PostgreSQL that Debezium captures (the real-CDC path).

Every UPDATE writes all columns, even when nothing changes, so PostgreSQL logs the same no-op
updates the simulator describes; a note edit stays a DELETE and an INSERT.
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

from engine.simulation.schema import TABLES

Statement = Tuple[str, List[Any]]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def statement(table: str, op: str, before: Optional[Dict[str, Any]], after: Optional[Dict[str, Any]]) -> Statement:
    spec = TABLES[table]
    if op == "c":
        assert after is not None, "an insert has an after image"
        names = [c.name for c in spec.columns]
        marks = ", ".join(["%s"] * len(names))
        return (f"INSERT INTO {_quote(table)} ({', '.join(map(_quote, names))}) VALUES ({marks})",
                [after[n] for n in names])
    assert before is not None, "an update or delete has a before image"
    where = " AND ".join(f"{_quote(k)} = %s" for k in spec.primary_key)
    key = [before[k] for k in spec.primary_key]
    if op == "d":
        return f"DELETE FROM {_quote(table)} WHERE {where}", key
    assert after is not None, "an update has an after image"
    names = [c.name for c in spec.columns if c.name not in spec.primary_key]
    sets = ", ".join(f"{_quote(n)} = %s" for n in names)
    return f"UPDATE {_quote(table)} SET {sets} WHERE {where}", [after[n] for n in names] + key


def run_workload(dsn: str, orders: int, seed: int, rate: float = 0.0, progress=None) -> int:
    """Execute the workload against ``dsn``, one database transaction per simulated one, at
    most ``rate`` transactions per second (0: as fast as possible). Returns the count."""
    import psycopg
    from psycopg.types.json import Jsonb

    workload = list(sql_transactions(orders, seed))  # simulate first: the rate is the database's
    with psycopg.connect(dsn) as con:
        # A simulated TMS needs no durability: without waiting for each commit's WAL flush the
        # driver can offer thousands of transactions per second (Debezium reads them all the same).
        con.execute("SET synchronous_commit TO off")
        con.commit()
        with con.pipeline():  # pipeline mode: no round trip per statement
            _execute(con, workload, rate, progress, Jsonb)
    return len(workload)


def _execute(con, workload, rate: float, progress, Jsonb) -> None:
    import time

    started = time.monotonic()
    for done, statements in enumerate(workload, start=1):
        with con.transaction():
            for sql, params in statements:
                con.execute(sql, [Jsonb(p) if isinstance(p, (dict, list)) else p for p in params])
        if progress is not None:
            progress(done)
        if rate > 0:
            time.sleep(max(0.0, started + done / rate - time.monotonic()))


def sql_transactions(orders: int, seed: int) -> Iterator[List[Statement]]:
    """The statements of each transaction, in commit order."""
    from engine.simulation.tms import transactions

    for _, changes in transactions(orders, seed):
        yield [statement(c.table, c.op, c.before, c.after) for c in changes]
