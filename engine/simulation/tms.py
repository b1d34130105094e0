"""Deterministic simulator of the TMS database and of what Debezium captures from it.

``generate(out_dir, orders, seed)`` plays the life of ``orders`` transport orders (created,
planned on a trip, picked up or not, loaded, departed, delivered, cancelled) as database
transactions on the tables of ``schemas/tms/tms.sql`` and writes:

* ``technical/<table>.jsonl``: the change events Debezium's PostgreSQL connector writes to the
  table's topic (JsonConverter, optionally with the Connect schema), tombstones as ``null``;
* ``technical/transaction.jsonl``: the transaction metadata topic (BEGIN / END);
* ``truth/tables/<table>.jsonl``: the final state of every table;
* ``truth/business_events.jsonl``: the business events a correct pipeline must derive.

Options: ``snapshot_after=N`` starts the connector after the first N transactions (they are
not streamed: the rows they left are read by the initial snapshot, ``op: r``);
``key_moves=True`` moves handling units between orders (their domain key) within seconds.

Same arguments -> byte-identical files. docs/tms.md is the reference. The lifecycles are in
``orders.py`` and ``trips.py``, the database in ``database.py``, the encoding in ``writer.py``.
"""

from __future__ import annotations

import heapq
import os
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Dict, List, Tuple

from engine.simulation import connector_encoding as dbz
from engine.simulation.data import BASE_TIME, BUSINESS_EVENT_TYPES
from engine.simulation.database import Change, Database, Tx, sort_key
from engine.simulation.orders import OrderLifecycle
from engine.simulation.schema import TABLE_NAMES, TABLES
from engine.simulation.trips import TripLifecycle
from engine.simulation.writer import Writer

__all__ = ["BASE_TIME", "BUSINESS_EVENT_TYPES", "Summary", "generate", "transactions"]


@dataclass
class Summary:
    """What ``generate`` wrote."""
    out_dir: str
    orders: int
    seed: int
    transactions: int                    # streamed transactions (BEGIN/END pairs)
    change_events: Dict[str, int]        # data change events per table, snapshot reads included
    tombstones: Dict[str, int]
    rows: Dict[str, int]                 # live rows per table at the end
    business_events: Dict[str, int]
    snapshot_rows: Dict[str, int] = field(default_factory=dict)   # op "r" events per table
    key_moves: int = 0                   # handling units moved to another order

    @property
    def total_change_events(self) -> int:
        return sum(self.change_events.values())


class _Simulation(OrderLifecycle, TripLifecycle):
    def __init__(self, orders: int, seed: int, with_schema: bool, snapshot_after: int = 0,
                 key_moves: bool = False) -> None:
        self.rng = random.Random(seed)
        self.orders = orders
        self.db = Database()
        self.writer = Writer(random.Random(seed * 7919 + 17), with_schema,
                             capturing=snapshot_after == 0)
        # the sub-second part of every transaction's now() (its own stream: the workload
        # itself does not depend on it)
        self.clock = random.Random(seed * 104_729 + 3)
        self.snapshot_after = snapshot_after
        self.key_moves = key_moves
        self.move_rng = random.Random(seed * 15_485_863 + 5)
        self.moves_done = 0
        self.queue: List[Tuple[datetime, int, Callable[[Tx], None]]] = []
        self.seq = 0
        self.last_at = BASE_TIME - timedelta(seconds=1)
        self.note_id = 1000
        self.hu_serial = 0
        self.trip_serial = 0
        self.order_ids: Dict[int, str] = {}
        self.committed: List[Tuple[datetime, List[Change]]] = []  # for the SQL driver

    # -- helpers --
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def at(self, when: datetime, action: Callable[[Tx], None]) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, action))

    def run(self) -> None:
        self.schedule_orders()
        done = 0
        while self.queue:
            when, _, action = heapq.heappop(self.queue)
            when = max(when, self.last_at + timedelta(seconds=1))
            self.last_at = when
            tx = Tx(self.db, when + timedelta(microseconds=self.clock.randint(0, 899_999)))
            action(tx)
            self.writer.commit(tx)
            if tx.changes:
                self.committed.append((tx.at, tx.changes))
                done += 1
                if done == self.snapshot_after:   # the connector starts: initial snapshot
                    self.writer.snapshot(self.db, tx.at + timedelta(milliseconds=100))

    def minutes(self, lo: int, hi: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(lo, hi))


# --- entry point -----------------------------------------------------------------------------

def _write_lines(path: str, lines: List[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def generate(out_dir: str, orders: int, seed: int, with_schema: bool = False, *,
             snapshot_after: int = 0, key_moves: bool = False) -> Summary:
    """Simulate ``orders`` transport orders and write the technical topics and the truth.

    ``snapshot_after``: the connector starts after that many transactions (0: before the
    first one, no snapshot); ``key_moves``: handling units change order (docs/tms.md)."""
    if orders < 0:
        raise ValueError("orders must be >= 0")
    if snapshot_after < 0:
        raise ValueError("snapshot_after must be >= 0")
    sim = _Simulation(orders, seed, with_schema, snapshot_after, key_moves)
    sim.run()
    w = sim.writer
    if not w.capturing:   # fewer transactions than snapshot_after: snapshot at the end
        w.snapshot(sim.db, sim.last_at + timedelta(seconds=1))
    technical = os.path.join(out_dir, "technical")
    for table in TABLE_NAMES:
        _write_lines(os.path.join(technical, f"{table}.jsonl"), w.lines[table])
    _write_lines(os.path.join(technical, "transaction.jsonl"), w.tx_lines)
    rows: Dict[str, int] = {}
    for table in TABLE_NAMES:
        spec = TABLES[table]
        live = sorted(sim.db.rows[table].items(), key=lambda kv: sort_key(kv[0]))
        rows[table] = len(live)
        _write_lines(os.path.join(out_dir, "truth", "tables", f"{table}.jsonl"),
                     [dbz.dumps(dbz.plain_row(spec, row)) for _, row in live])
    _write_lines(os.path.join(out_dir, "truth", "business_events.jsonl"), w.business)
    return Summary(
        out_dir=out_dir, orders=orders, seed=seed, transactions=w.transactions,
        change_events={t: w.change_counts[t] for t in TABLE_NAMES},
        tombstones={t: w.tombstones[t] for t in TABLE_NAMES},
        rows=rows,
        business_events={k: w.business_counts[k] for k in BUSINESS_EVENT_TYPES},
        snapshot_rows={t: w.snapshot_rows[t] for t in TABLE_NAMES},
        key_moves=sim.moves_done)


def transactions(orders: int, seed: int, *, key_moves: bool = False
                 ) -> List[Tuple[datetime, List[Change]]]:
    """The same workload as :func:`generate`, as (time, row changes) per database transaction,
    for a driver that replays it as SQL (engine/simulation/sql.py)."""
    sim = _Simulation(orders, seed, with_schema=False, key_moves=key_moves)
    sim.run()
    return sim.committed
