"""Upsert into PostgreSQL: the ``postgres`` sink vs hand-written psycopg, in one run.

Both write the same events (8 columns, one of every type the sink takes: int key, float,
bool, text, date, json, timestamp, decimal(12,3)), in batches of 1,000 (the file source's
default), each batch one transaction, into a table with a primary key; half of the rows
insert, half update rows of an earlier batch:

* ``sink``: engine/connectors/postgres.py's partition, fed as the flow feeds it: each event
  encoded by the sink's encoder (its per-value checks), then ``write_batch`` (``COPY`` into a
  temporary staging table, then ``INSERT ... SELECT ... ON CONFLICT (id) DO UPDATE``);
* ``psycopg``: what one writes by hand with psycopg 3: the same temporary table, ``COPY``
  with ``write_row`` of each event's values, the same ``INSERT ... ON CONFLICT``, one
  transaction per batch (no checks, no last-row-per-key pass: the batches hold distinct keys).

Rounds go sink, psycopg, sink, psycopg, ... each into a fresh table; the figure is rows/s.

    python bench/postgres_upsert.py [--rows 200000] [--rounds 5] [--dsn postgresql://...]

Without ``--dsn`` (or ``VELOCITY_PG_DSN``) it starts its own server with scripts/postgres
(``--port 0``, a temporary state directory) and stops it after. Prints each round, the
medians, then, last, ``ratio sink/psycopg: median [min..max]`` of the per-round ratios.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import orjson  # noqa: E402
import psycopg  # noqa: E402

from engine.connectors.postgres_tables import postgres_sink  # noqa: E402

BATCH = 1000
COLUMNS = {"id": "int", "f": "float", "b": "bool", "s": "str", "day": "date", "j": "json", "t": "timestamp",
           "amount": "decimal(12,3)"}
NAMES = list(COLUMNS)
DDL = ("id bigint PRIMARY KEY, f double precision, b boolean, s text, day date, j jsonb, "
       "t timestamp with time zone, amount numeric(12,3)")
UPDATES = ", ".join(f"{n} = EXCLUDED.{n}" for n in NAMES[1:])


def events(count: int) -> list:
    """``count`` events; ids repeat after half, so the second half updates the first."""
    rng = random.Random(42)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    half = max(count // 2, BATCH)
    return [{"id": i % half, "f": rng.random() * 1000, "b": i % 3 == 0, "s": f"order-{i}-{rng.randrange(10**6)}",
             "day": date(2026, 1, 1) + timedelta(days=i % 365), "j": {"n": i, "tags": ["a", "b"], "w": 1.5},
             "t": start + timedelta(seconds=i), "amount": Decimal(rng.randrange(10**8)) / 1000}
            for i in range(count)]


def run_sink(dsn: str, schema: str, rows: list) -> float:
    sink = postgres_sink(dsn=dsn, schema=schema, table="orders", columns=COLUMNS, mode="upsert", key=["id"])
    encode = sink.encoder()
    part = sink.build_part("bench", sink.path, None)
    started = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        part.write_batch([[encode(e) for e in rows[i:i + BATCH]]])
    elapsed = time.perf_counter() - started
    part.close()
    return elapsed


def run_psycopg(dsn: str, schema: str, rows: list) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(f"CREATE TABLE orders ({DDL})")
        conn.execute(f"CREATE TEMPORARY TABLE stage ({DDL.replace(' PRIMARY KEY', '')}) ON COMMIT DELETE ROWS")
        copy_sql = f"COPY stage ({', '.join(NAMES)}) FROM STDIN"
        upsert = f"INSERT INTO orders SELECT * FROM stage ON CONFLICT (id) DO UPDATE SET {UPDATES}"
        started = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy(copy_sql) as copy:
                    for e in rows[i:i + BATCH]:
                        copy.write_row((e["id"], e["f"], e["b"], e["s"], e["day"], orjson.dumps(e["j"]).decode(),
                                        e["t"], e["amount"]))
                cur.execute(upsert)
        return time.perf_counter() - started


def check(dsn: str, schemas: list, count: int) -> None:
    """Every run left the same table."""
    with psycopg.connect(dsn) as conn:
        found = {conn.execute(f"SELECT count(*), sum(amount), sum(hashtext(s)) FROM {s}.orders").fetchone()
                 for s in schemas}
    assert len(found) == 1 and next(iter(found))[0] == max(count // 2, BATCH), found


def start_server(state: str) -> str:
    script = os.path.join(HERE, "..", "scripts", "postgres")
    started = subprocess.run([sys.executable, script, "start", "--state-dir", state, "--port", "0",
                              "--watch-pid", str(os.getpid())], capture_output=True, text=True, timeout=180)
    if started.returncode != 0:
        sys.exit(f"scripts/postgres start failed: {started.stderr.strip()[-500:]}")
    return started.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dsn", default=os.environ.get("VELOCITY_PG_DSN"))
    args = parser.parse_args()
    state = None
    dsn = args.dsn
    if not dsn:
        state = tempfile.mkdtemp(prefix="bench-pg-")
        dsn = start_server(state)
    try:
        rows = events(args.rows)
        ratios, rates = [], {"sink": [], "psycopg": []}
        schemas = []
        for round_ in range(1, args.rounds + 1):
            figures = {}
            for name, run in (("sink", run_sink), ("psycopg", run_psycopg)):
                schema = f"bench_{name}_{round_}_{os.getpid()}"
                schemas.append(schema)
                figures[name] = args.rows / run(dsn, schema, rows)
                rates[name].append(figures[name])
            ratios.append(figures["sink"] / figures["psycopg"])
            print(f"round {round_}: sink {figures['sink']:,.0f} rows/s, psycopg {figures['psycopg']:,.0f} rows/s, "
                  f"ratio {ratios[-1]:.3f}", flush=True)
        check(dsn, schemas, args.rows)
        with psycopg.connect(dsn, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
        print(f"median: sink {statistics.median(rates['sink']):,.0f} rows/s, "
              f"psycopg {statistics.median(rates['psycopg']):,.0f} rows/s ({args.rows:,} rows, batches of {BATCH:,})")
        print(f"ratio sink/psycopg: {statistics.median(ratios):.3f} [{min(ratios):.3f}..{max(ratios):.3f}]")
    finally:
        if state is not None:
            subprocess.run([sys.executable, os.path.join(HERE, "..", "scripts", "postgres"), "stop", "--state-dir",
                            state, "--purge"], capture_output=True, timeout=120)


if __name__ == "__main__":
    main()
