"""A file of row changes for the PostgreSQL Fast Storage flow tests, and the topology that
writes them (tests/integration/test_postgres_fast_storage.py)."""

from __future__ import annotations

import json
import pathlib
import random

TOPOLOGY = """
version: 1
name: pg-fast-storage-{name}
sources:
  changes: {{file: {{path: "{dir}/changes.jsonl"}}}}
steps:
  - id: items
    from: changes
    filter: "table == 'item' and op != 'd'"
  - id: latest
    map: {{fields: {{id: "after.id", n: "after.n", v: "after.v"}}}}
sinks:
  fast:
    from: changes
    postgres:
      dsn: "${{PG_DSN}}"
      schema: "${{PG_SCHEMA}}"
      reconnect: 60s
      tables:
        item: {{key: [id], columns: {{id: int, v: str, n: int, amount: "decimal(10,2)", t: timestamp, tags: json}}}}
        pair: {{key: [a, b], columns: {{a: str, b: int, note: str, day: date}}}}
  latest:
    from: latest
    postgres: {{dsn: "${{PG_DSN}}", schema: "${{PG_SCHEMA}}", table: item_latest, mode: upsert, key: [id],
               columns: {{id: int, n: int, v: str}}, reconnect: 60s}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


def write_changes(path: pathlib.Path, count: int, seed: int = 7) -> None:
    """``count`` row changes of two tables; positions mostly rising, some late (older than
    what came before), some deletes and re-creations."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            lsn = 1000 + i * 3 - (rng.randrange(40) if rng.random() < 0.1 else 0)  # one in ten arrives late
            if rng.random() < 0.7:
                key = rng.randrange(3000)
                row = {"id": key, "v": f"v{i}-é\t", "n": i, "amount": f"{rng.randrange(-10**6, 10**6)}.{i % 100:02d}",
                       "t": f"2026-12-01T{i % 24:02d}:{i % 60:02d}:00.{i % 999999:06d}Z", "tags": {"i": i, "k": [key]}}
                table = "item"
            else:
                row = {"a": f"A{rng.randrange(50)}", "b": rng.randrange(40), "note": f"n{i}", "day": "2026-12-01"}
                table = "pair"
            op = "d" if rng.random() < 0.08 else rng.choice("cu")
            change = {"table": table, "op": op, "lsn": lsn, "seq": i % 5}
            change.update({"before": row, "after": None} if op == "d" else {"before": None, "after": row})
            out.write(json.dumps(change) + "\n")


def tables(dsn: str, schema: str) -> dict:
    """Every table the flow writes, as sorted rows (text), positions tables included."""
    import psycopg

    found = {}
    with psycopg.connect(dsn, options=f"-c search_path={schema} -c TimeZone=UTC") as conn:
        for table in ("item", "pair", "item_latest", "_positions_item", "_positions_pair"):
            found[table] = sorted(tuple(map(str, row)) for row in conn.execute(f"SELECT * FROM {table}").fetchall())
    return found
