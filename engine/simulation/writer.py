"""What Debezium writes for the simulated transactions (table topics, transaction topic) and the
business events a correct pipeline derives from them (docs/tms.md)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional

from engine.simulation import connector_encoding as dbz
from engine.simulation.data import FIRST_LSN, FIRST_TX_ID
from engine.simulation.database import Database, Tx, sort_key
from engine.simulation.schema import TABLE_NAMES, TABLES


class Writer:
    """Encodes committed transactions as Debezium records. Until ``capturing`` (the connector
    has not started yet) a commit only moves the transaction ids and the WAL position on;
    ``snapshot`` then writes the rows the connector's initial snapshot reads."""

    def __init__(self, rng: random.Random, with_schema: bool, capturing: bool = True) -> None:
        self.rng = rng
        self.with_schema = with_schema
        self.capturing = capturing
        self.lines: Dict[str, List[str]] = {t: [] for t in TABLE_NAMES}
        self.tx_lines: List[str] = []
        self.business: List[str] = []
        self.tx_id = FIRST_TX_ID
        self.lsn = FIRST_LSN
        self.last_commit_lsn: Optional[int] = None    # a new connector has seen no commit yet
        self.last_commit_us = 0
        self.transactions = 0
        self.change_counts: Counter = Counter()
        self.tombstones: Counter = Counter()
        self.snapshot_rows: Counter = Counter()
        self.business_counts: Counter = Counter()
        self.schemas = {t: dbz.envelope_schema(TABLES[t]) for t in TABLE_NAMES} \
            if with_schema else {}

    def _next_lsn(self) -> int:
        self.lsn += 8 * self.rng.randint(6, 60)
        return self.lsn

    def _record(self, table: str, payload: dict) -> None:
        self.lines[table].append(dbz.dumps(dbz.wrap(self.schemas.get(table), payload)))
        self.change_counts[table] += 1

    def snapshot(self, db: Database, at: datetime) -> None:
        """The initial snapshot (``snapshot.mode=initial``) of ``db`` as it is at ``at``: one
        ``r`` event per row, tables in TableId order, no transaction records and no
        ``transaction`` block. Every record carries the snapshot transaction's txId and the
        WAL position read when it started (the LSN streaming resumes after); ``source.ts_ms``
        is when the row was read; ``source.snapshot`` marks the first and last record of the
        snapshot and of each table (Debezium's ``RelationalSnapshotChangeEventSource``)."""
        rng = self.rng
        self.capturing = True
        self.tx_id += rng.randint(1, 4)
        snapshot_lsn = self._next_lsn()
        read_us = _micros(at) + rng.randint(200_000, 900_000)
        tables = [t for t in sorted(TABLE_NAMES)]
        for t_index, table in enumerate(tables):
            rows = [row for _, row in sorted(db.rows[table].items(), key=lambda kv: sort_key(kv[0]))]
            for r_index, row in enumerate(rows):
                read_us += rng.randint(20, 400)
                marker = _snapshot_marker(t_index == 0, t_index == len(tables) - 1,
                                          r_index == 0, r_index == len(rows) - 1)
                payload = dbz.change_payload(
                    TABLES[table], "r", None, row, tx_id=self.tx_id, lsn=snapshot_lsn,
                    last_commit_lsn=None, commit_us=read_us,
                    emit_us=read_us + rng.randint(2_000, 60_000), snapshot=marker)
                self._record(table, payload)
                self.snapshot_rows[table] += 1
        self.last_commit_us = max(self.last_commit_us, read_us)

    def commit(self, tx: Tx) -> None:
        if not tx.changes:
            return
        rng = self.rng
        self.tx_id += rng.randint(1, 4)          # other, uncaptured transactions in between
        commit_us = max(_micros(tx.at) + rng.randint(1_000, 90_000), self.last_commit_us + 1)
        self.last_commit_us = commit_us
        begin_lsn = self._next_lsn()
        if not self.capturing:                   # before the connector started
            self.lsn += 8 * (len(tx.changes) + 1) * 30
            return
        self.transactions += 1
        self.tx_lines.append(dbz.dumps(dbz.wrap(
            dbz.TRANSACTION_VALUE_SCHEMA if self.with_schema else None,
            dbz.transaction_payload("BEGIN", self.tx_id, begin_lsn, commit_us // 1000))))
        emit_us = commit_us + rng.randint(5_000, 400_000)
        per_table: Counter = Counter()
        order_of_tables: List[str] = []
        for total, change in enumerate(tx.changes, start=1):
            lsn = self._next_lsn()
            if change.table not in per_table:
                order_of_tables.append(change.table)
            per_table[change.table] += 1
            emit_us += rng.randint(50, 3_000)
            self._record(change.table, dbz.change_payload(
                TABLES[change.table], change.op, change.before, change.after,
                tx_id=self.tx_id, lsn=lsn, last_commit_lsn=self.last_commit_lsn,
                commit_us=commit_us, emit_us=emit_us, total_order=total,
                data_collection_order=per_table[change.table]))
            if change.op == "d":
                self.lines[change.table].append("null")       # Kafka tombstone: null value
                self.tombstones[change.table] += 1
        commit_lsn = self._next_lsn()
        self.tx_lines.append(dbz.dumps(dbz.wrap(
            dbz.TRANSACTION_VALUE_SCHEMA if self.with_schema else None,
            dbz.transaction_payload("END", self.tx_id, commit_lsn, commit_us // 1000,
                                    {t: per_table[t] for t in order_of_tables}))))
        self.last_commit_lsn = commit_lsn
        self._business_events(tx, commit_us // 1000)

    # -- business events: from the net change of every row over the transaction --
    def _business_events(self, tx: Tx, ts_ms: int) -> None:
        def emit(kind: str, **fields: Any) -> None:
            record = {"type": kind, **fields, "tx_id": self.tx_id, "ts_ms": ts_ms}
            self.business.append(dbz.dumps(record))
            self.business_counts[kind] += 1

        touched = sorted(tx.initial, key=lambda ident: tx.first_touch[ident])
        for table, key in touched:
            before = tx.initial[(table, key)]
            after = tx.db.rows[table].get(key)
            if after is None:
                continue
            was = before["status"] if before is not None and "status" in before else None
            if table == "pickup":
                if after["status"] == "completed" and was != "completed":
                    emit("PickupCompleted", pickup_id=after["id"], order_id=after["order_id"],
                         completed_at=dbz.zoned_timestamp(after["completed_at"]))
                if after["status"] == "failed" and was != "failed":
                    emit("PickupFailed", pickup_id=after["id"], order_id=after["order_id"],
                         reason=after["failure_reason"],
                         failed_at=dbz.zoned_timestamp(after["failed_at"]))
            elif table == "transport_order":
                if after["status"] == "in_transit" and was != "in_transit":
                    emit("ShipmentDeparted", order_id=after["id"], trip_id=after["trip_id"],
                         departed_at=dbz.zoned_timestamp(after["departed_at"]))
                prev_eta = before["eta"] if before is not None else None
                if after["eta"] is not None and after["eta"] != prev_eta:
                    delay = (after["eta"] - after["planned_delivery_at"]).total_seconds()
                    emit("EtaUpdated", order_id=after["id"],
                         eta=dbz.zoned_timestamp(after["eta"]),
                         previous_eta=None if prev_eta is None else dbz.zoned_timestamp(prev_eta),
                         delay_minutes=int(delay // 60))
                if after["status"] == "delivered" and was != "delivered":
                    emit("ShipmentDelivered", order_id=after["id"],
                         delivered_at=dbz.zoned_timestamp(after["delivered_at"]))


def _micros(at: datetime) -> int:
    return (at - dbz.EPOCH) // timedelta(microseconds=1)


def _snapshot_marker(first_table: bool, last_table: bool, first_row: bool, last_row: bool) -> str:
    """``source.snapshot`` of a snapshot read (``SnapshotRecord``, lower case in JSON)."""
    if last_table and last_row:
        return "last"
    if first_table and first_row:
        return "first"
    if last_row:
        return "last_in_data_collection"
    if first_row:
        return "first_in_data_collection"
    return "true"
