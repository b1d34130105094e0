"""Deterministic simulator of the TMS database and of what Debezium captures from it.

``generate(out_dir, orders, seed)`` plays the life of ``orders`` transport orders (created,
planned on a trip, picked up or not, loaded, departed, delivered, cancelled) as database
transactions on the tables of ``schemas/tms/tms.sql`` and writes:

* ``technical/<table>.jsonl``: the change events Debezium's PostgreSQL connector writes to the
  table's topic (JsonConverter, optionally with the Connect schema), tombstones as ``null``;
* ``technical/transaction.jsonl``: the transaction metadata topic (BEGIN / END);
* ``truth/tables/<table>.jsonl``: the final state of every table;
* ``truth/business_events.jsonl``: the business events a correct pipeline must derive.

Same ``(orders, seed)`` -> byte-identical files. docs/tms.md is the reference.
"""

from __future__ import annotations

import heapq
import os
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Dict, List, Optional, Tuple

from engine.simulation import debezium as dbz
from engine.simulation.schema import TABLE_NAMES, TABLES

BASE_TIME = datetime(2024, 3, 4, 5, 0, 0, tzinfo=timezone.utc)
SCANNER_UTC_OFFSET = timedelta(hours=1)   # handling_unit.last_scan_local: CET wall clock
FIRST_TX_ID = 7_400
FIRST_LSN = 0x2A00_0000

BUSINESS_EVENT_TYPES = ("PickupCompleted", "PickupFailed", "ShipmentDeparted", "EtaUpdated",
                        "ShipmentDelivered")

CITIES = [("Milano", "IT"), ("Torino", "IT"), ("Bologna", "IT"), ("Verona", "IT"),
          ("Bergamo", "IT"), ("Brescia", "IT"), ("Padova", "IT"), ("Genova", "IT"),
          ("Parma", "IT"), ("Lugano", "CH")]
DEPOTS = ["Piacenza Hub", "Lodi Hub", "Novara Hub"]
CUSTOMERS = ["C-ACME", "C-BRAVO", "C-CORTI", "C-DELTA", "C-EMILIA", "C-FARMA", "C-GUSTO"]
STREETS = ["Via Roma", "Corso Italia", "Via Garibaldi", "Viale Europa", "Via Dante",
           "Via Mazzini", "Via Verdi", "Piazza Duomo"]
CARRIERS = ["TRS-NORD", "LOGI-PO", "FAST-IT"]
DRIVERS = ["Marco Bianchi", "Luca Rossi", "Giulia Conti", "Paolo Ferri", "Sara Gallo",
           "Andrea Greco", "Elena Rinaldi"]
FAILURE_REASONS = ["customer_absent", "goods_not_ready", "address_not_found",
                   "vehicle_breakdown"]
HU_KINDS = [("pallet", 120, 650), ("parcel", 1, 30), ("crate", 15, 120), ("roll_cage", 40, 250)]
INSTRUCTIONS = ["Call the customer 30 minutes before arrival.",
                "Deliver to the rear entrance, loading bay 2.",
                "Tail-lift required.",
                "Goods are fragile: do not stack.",
                "Reception closes at 17:00.",
                "Ask for the warehouse manager on arrival."]
ETA_SHIFTS_MIN = [0, 0, 0, 5, 10, 15, 20, 35, -5, -10]

P_NOTE = 0.55
P_NOTE_EDIT = 0.6
P_NOTE_DELETE = 0.1
P_CUSTOMER_CANCEL = 0.05
P_PICKUP_FAIL = (0.15, 0.35)      # first attempt, second attempt (second failure cancels)
P_DRIVER_NOTE = 0.3


@dataclass
class Summary:
    """What ``generate`` wrote."""
    out_dir: str
    orders: int
    seed: int
    transactions: int
    change_events: Dict[str, int]        # data change events per table (tombstones excluded)
    tombstones: Dict[str, int]
    rows: Dict[str, int]                 # live rows per table at the end
    business_events: Dict[str, int]

    @property
    def total_change_events(self) -> int:
        return sum(self.change_events.values())


# --- the database and its transactions -------------------------------------------------------

@dataclass
class _Change:
    table: str
    op: str
    before: Optional[Dict[str, Any]]
    after: Optional[Dict[str, Any]]


class _Tx:
    """One open transaction: applies changes to the database at once, records them."""

    def __init__(self, db: "_Database", at: datetime) -> None:
        self.db = db
        self.at = at
        self.changes: List[_Change] = []
        # first before-image of every row touched (None: the row did not exist)
        self.initial: Dict[Tuple[str, tuple], Optional[Dict[str, Any]]] = {}
        self.first_touch: Dict[Tuple[str, tuple], int] = {}

    def _touch(self, table: str, key: tuple) -> None:
        ident = (table, key)
        if ident not in self.initial:
            current = self.db.rows[table].get(key)
            self.initial[ident] = None if current is None else dict(current)
            self.first_touch[ident] = len(self.changes)

    def insert(self, table: str, row: Dict[str, Any]) -> Dict[str, Any]:
        spec = TABLES[table]
        full = {c.name: row.get(c.name, c.default if c.default is not None else None)
                for c in spec.columns}
        if spec.name == "transport_order" and "attributes" not in row:
            full["attributes"] = {}
        missing = set(row) - set(full)
        if missing:
            raise KeyError(f"{table}: unknown columns {sorted(missing)}")
        key = spec.key_of(full)
        if key in self.db.rows[table]:
            raise KeyError(f"{table}: duplicate key {key}")
        self._touch(table, key)
        self.db.rows[table][key] = full
        self.db.reindex(table, key, None, full)
        self.changes.append(_Change(table, "c", None, dict(full)))
        return full

    def update(self, table: str, key: tuple, **values: Any) -> Dict[str, Any]:
        """UPDATE one row; emitted even when nothing changes (a no-op update)."""
        spec = TABLES[table]
        current = self.db.rows[table][key]
        unknown = set(values) - set(spec.column_names)
        if unknown:
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        self._touch(table, key)
        before = dict(current)
        current.update(values)
        self.db.reindex(table, key, before, current)
        self.changes.append(_Change(table, "u", before, dict(current)))
        return current

    def delete(self, table: str, key: tuple) -> None:
        self._touch(table, key)
        before = self.db.rows[table].pop(key)
        self.db.reindex(table, key, before, None)
        self.changes.append(_Change(table, "d", before, None))

    def row(self, table: str, key: tuple) -> Dict[str, Any]:
        return self.db.rows[table][key]


class _Database:
    def __init__(self) -> None:
        self.rows: Dict[str, Dict[tuple, Dict[str, Any]]] = {t: {} for t in TABLE_NAMES}

        # (table, column) -> value -> keys of the rows holding it; built on a column's first select
        self._indexes: Dict[Tuple[str, str], Dict[Any, set]] = {}

    def select(self, table: str, **where: Any) -> List[Dict[str, Any]]:
        """Rows matching ``where``, in primary-key order (deterministic)."""
        (column, value), *rest = where.items()
        rows = self.rows[table]
        matches = [(k, rows[k]) for k in self._index(table, column).get(value, ())
                   if all(rows[k][c] == v for c, v in rest)]
        return [r for _, r in sorted(matches, key=lambda kv: _sort_key(kv[0]))]

    def _index(self, table: str, column: str) -> Dict[Any, set]:
        index = self._indexes.get((table, column))
        if index is None:
            index = self._indexes[(table, column)] = {}
            for key, row in self.rows[table].items():
                index.setdefault(row[column], set()).add(key)
        return index

    def reindex(self, table: str, key: tuple, before: Optional[dict], after: Optional[dict]) -> None:
        """Keep the column indexes of ``table`` right after a row changed from ``before`` to ``after``."""
        for (indexed, column), index in self._indexes.items():
            if indexed != table:
                continue
            if before is not None:
                index[before[column]].discard(key)
            if after is not None:
                index.setdefault(after[column], set()).add(key)


def _sort_key(key: tuple) -> tuple:
    return tuple(str(k) if not isinstance(k, int) else f"{k:020d}" for k in key)


# --- writer: Debezium encoding and the ground truth ------------------------------------------

class _Writer:
    def __init__(self, rng: random.Random, with_schema: bool) -> None:
        self.rng = rng
        self.with_schema = with_schema
        self.lines: Dict[str, List[str]] = {t: [] for t in TABLE_NAMES}
        self.tx_lines: List[str] = []
        self.business: List[str] = []
        self.tx_id = FIRST_TX_ID
        self.lsn = FIRST_LSN
        self.last_commit_lsn = FIRST_LSN
        self.last_commit_us = 0
        self.transactions = 0
        self.change_counts: Counter = Counter()
        self.tombstones: Counter = Counter()
        self.business_counts: Counter = Counter()
        self.schemas = {t: dbz.envelope_schema(TABLES[t]) for t in TABLE_NAMES} \
            if with_schema else {}

    def _next_lsn(self) -> int:
        self.lsn += 8 * self.rng.randint(6, 60)
        return self.lsn

    def commit(self, tx: _Tx) -> None:
        if not tx.changes:
            return
        rng = self.rng
        self.transactions += 1
        self.tx_id += rng.randint(1, 4)          # other, uncaptured transactions in between
        at_us = int((tx.at - dbz._EPOCH).total_seconds()) * 1_000_000
        commit_us = max(at_us + rng.randint(1_000, 900_000), self.last_commit_us + 1)
        self.last_commit_us = commit_us
        begin_lsn = self._next_lsn()
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
            payload = dbz.change_payload(
                TABLES[change.table], change.op, change.before, change.after,
                tx_id=self.tx_id, lsn=lsn, last_commit_lsn=self.last_commit_lsn,
                commit_us=commit_us, emit_us=emit_us, total_order=total,
                data_collection_order=per_table[change.table])
            schema = self.schemas.get(change.table)
            self.lines[change.table].append(dbz.dumps(dbz.wrap(schema, payload)))
            self.change_counts[change.table] += 1
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
    def _business_events(self, tx: _Tx, ts_ms: int) -> None:
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


# --- the simulation --------------------------------------------------------------------------

class _Simulation:
    def __init__(self, orders: int, seed: int, with_schema: bool) -> None:
        self.rng = random.Random(seed)
        self.orders = orders
        self.db = _Database()
        self.writer = _Writer(random.Random(seed * 7919 + 17), with_schema)
        self.queue: List[Tuple[datetime, int, Callable[[_Tx], None]]] = []
        self.seq = 0
        self.last_at = BASE_TIME - timedelta(seconds=1)
        self.note_id = 1000
        self.hu_serial = 0
        self.trip_serial = 0
        self.order_ids: Dict[int, str] = {}
        self.committed: List[Tuple[datetime, List[_Change]]] = []  # for the SQL driver

    # -- helpers --
    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def at(self, when: datetime, action: Callable[[_Tx], None]) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, action))

    def run(self) -> None:
        self.schedule_orders()
        while self.queue:
            when, _, action = heapq.heappop(self.queue)
            when = max(when, self.last_at + timedelta(seconds=1))
            self.last_at = when
            tx = _Tx(self.db, when)
            action(tx)
            self.writer.commit(tx)
            if tx.changes:
                self.committed.append((when, tx.changes))

    def minutes(self, lo: int, hi: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(lo, hi))

    # -- orders --
    def schedule_orders(self) -> None:
        rng = self.rng
        t = BASE_TIME
        index = 0
        while index < self.orders:
            size = min(rng.randint(2, 5), self.orders - index)
            group: List[int] = []
            for _ in range(size):
                t = t + timedelta(seconds=rng.randint(60, 600))
                self.at(t, self._create_order_action(index))
                group.append(index)
                index += 1
            self.at(t + self.minutes(5, 20), self._plan_trip_action(group))

    def _create_order_action(self, index: int) -> Callable[[_Tx], None]:
        def create(tx: _Tx) -> None:
            rng, now = self.rng, tx.at
            order_id = self.uuid()
            self.order_ids[index] = order_id
            city, country = rng.choice(CITIES)
            origin, _ = rng.choice(CITIES)
            level = rng.choices(["standard", "express", "same_day"], [70, 25, 5])[0]
            attributes = {"customer_ref": f"PO-{rng.randint(10000, 99999)}",
                          "temperature_controlled": rng.random() < 0.15,
                          "tags": sorted(rng.sample(["adr", "fragile", "heavy", "b2c", "b2b"],
                                                    rng.randint(0, 2)))}
            tx.insert("transport_order", {
                "id": order_id, "order_number": f"TO-2024-{index + 1:06d}",
                "customer_code": rng.choice(CUSTOMERS), "status": "created",
                "service_level": level, "origin_city": origin,
                "destination_address": f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
                "destination_city": city, "destination_country": country,
                "requested_delivery_date": (now + timedelta(days=rng.randint(1, 3))).date(),
                "total_weight_kg": Decimal("0.000"),
                "declared_value": Decimal(rng.randint(5_000, 2_500_000)).scaleb(-2),
                "currency": "EUR" if country == "IT" else "CHF",
                "attributes": attributes, "created_at": now, "updated_at": now})
            # the TMS saves every handling unit and recomputes the order weight each time:
            # several UPDATEs of the same order row in one transaction
            total = Decimal("0.000")
            for _ in range(rng.randint(1, 4)):
                kind, lo, hi = rng.choice(HU_KINDS)
                weight = Decimal(rng.randint(lo * 1000, hi * 1000)).scaleb(-3)
                self.hu_serial += 1
                tx.insert("handling_unit", {
                    "id": self.uuid(), "order_id": order_id,
                    "sscc": f"38012345{self.hu_serial:010d}", "kind": kind,
                    "status": "registered", "weight_kg": weight,
                    "volume_m3": Decimal(rng.randint(20, 2400)).scaleb(-3),
                    "last_scan_local": None, "created_at": now, "updated_at": now})
                total += weight
                tx.update("transport_order", (order_id,), total_weight_kg=total, updated_at=now)
            window_start = (now + self.minutes(20, 90)).replace(second=0)
            pickup_id = self.uuid()
            tx.insert("pickup", {
                "id": pickup_id, "order_id": order_id, "status": "scheduled",
                "address": f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
                "city": origin, "pickup_date": window_start.date(),
                "window_start": window_start, "window_end": window_start + timedelta(hours=1),
                "attempt": 1, "created_at": now, "updated_at": now})
            if index == 0 or rng.random() < P_NOTE:
                note_id = self.new_note_id()
                tx.insert("note", {"id": note_id, "order_id": order_id, "trip_id": None,
                                   "kind": "delivery_instruction", "author": "customer.portal",
                                   "body": rng.choice(INSTRUCTIONS), "created_at": now})
                if index == 0 or rng.random() < P_NOTE_EDIT:
                    self.at(now + self.minutes(10, 90), self._edit_note_action(note_id))
                elif rng.random() < P_NOTE_DELETE:
                    self.at(now + self.minutes(10, 90), self._delete_note_action(note_id))
            self.at(window_start + self.minutes(0, 59), self._pickup_action(pickup_id, 1))
            if index % 7 == 3 or rng.random() < P_CUSTOMER_CANCEL:
                if index % 7 != 3 or rng.random() < 0.5:
                    self.at(now + self.minutes(15, 100),
                            self._cancel_action(order_id, "customer_request"))
        return create

    def new_note_id(self) -> int:
        self.note_id += self.rng.randint(1, 3)
        return self.note_id

    def _edit_note_action(self, note_id: int) -> Callable[[_Tx], None]:
        def edit(tx: _Tx) -> None:
            current = self.db.rows["note"].get((note_id,))
            if current is None:
                return
            # how the TMS saves an edited note: DELETE + INSERT of the same row
            body = current["body"] + " " + self.rng.choice(
                ["Updated by customer service.", "Phone: +39 02 5550 1234.",
                 "Gate code 4471.", "Second floor, no lift."])
            replacement = dict(current, body=body)
            tx.delete("note", (note_id,))
            tx.insert("note", replacement)
        return edit

    def _delete_note_action(self, note_id: int) -> Callable[[_Tx], None]:
        def delete(tx: _Tx) -> None:
            if (note_id,) in self.db.rows["note"]:
                tx.delete("note", (note_id,))
        return delete

    # -- pickups --
    def _pickup_action(self, pickup_id: str, attempt: int) -> Callable[[_Tx], None]:
        def pickup(tx: _Tx) -> None:
            rng, now = self.rng, tx.at
            row = self.db.rows["pickup"][(pickup_id,)]
            order = self.db.rows["transport_order"][(row["order_id"],)]
            if row["status"] != "scheduled" or order["status"] == "cancelled":
                return
            if rng.random() < P_PICKUP_FAIL[attempt - 1]:
                reason = rng.choice(FAILURE_REASONS)
                tx.update("pickup", (pickup_id,), status="failed", failed_at=now,
                          failure_reason=reason, updated_at=now)
                if attempt == 1:
                    start = (now + self.minutes(60, 90)).replace(second=0)
                    self.at(now + self.minutes(5, 20), self._reschedule_action(pickup_id, start))
                    self.at(start + self.minutes(0, 59), self._pickup_action(pickup_id, 2))
                else:
                    self._cancel(tx, row["order_id"], "pickup_failed")
                return
            tx.update("pickup", (pickup_id,), status="completed", completed_at=now,
                      updated_at=now)
            for hu in self.db.select("handling_unit", order_id=row["order_id"]):
                tx.update("handling_unit", (hu["id"],), status="picked_up",
                          last_scan_local=(now + SCANNER_UTC_OFFSET).replace(tzinfo=None),
                          updated_at=now)
        return pickup

    def _reschedule_action(self, pickup_id: str, start: datetime) -> Callable[[_Tx], None]:
        def reschedule(tx: _Tx) -> None:
            row = self.db.rows["pickup"][(pickup_id,)]
            order = self.db.rows["transport_order"][(row["order_id"],)]
            if row["status"] != "failed" or order["status"] == "cancelled":
                return
            tx.update("pickup", (pickup_id,), status="scheduled", attempt=row["attempt"] + 1,
                      pickup_date=start.date(), window_start=start,
                      window_end=start + timedelta(hours=1), updated_at=tx.at)
        return reschedule

    # -- cancellation --
    def _cancel_action(self, order_id: str, reason: str) -> Callable[[_Tx], None]:
        def cancel(tx: _Tx) -> None:
            order = self.db.rows["transport_order"][(order_id,)]
            pickup = self.db.select("pickup", order_id=order_id)[0]
            if order["status"] not in ("created", "planned") or pickup["status"] == "completed":
                return
            if pickup["status"] in ("scheduled", "failed"):
                tx.update("pickup", (pickup["id"],), status="cancelled", updated_at=tx.at)
            self._cancel(tx, order_id, reason)
        return cancel

    def _cancel(self, tx: _Tx, order_id: str, reason: str) -> None:
        now = tx.at
        tx.update("transport_order", (order_id,), status="cancelled", cancel_reason=reason,
                  updated_at=now)
        for hu in self.db.select("handling_unit", order_id=order_id):
            tx.update("handling_unit", (hu["id"],), status="cancelled", updated_at=now)
        # unlink the order from its trip: link rows deleted, planned leg loads reduced
        for link in self.db.select("leg_order", order_id=order_id):
            leg = self.db.rows["leg"][(link["leg_id"],)]
            tx.delete("leg_order", (link["leg_id"], order_id))
            tx.update("leg", (leg["id"],), load_weight_kg=leg["load_weight_kg"] - link["weight_kg"],
                      handling_units=leg["handling_units"] - link["handling_units"],
                      updated_at=now)
        for link in self.db.select("order_stop", order_id=order_id):
            tx.delete("order_stop", (order_id, link["stop_id"], link["kind"]))
        tx.insert("note", {"id": self.new_note_id(), "order_id": order_id,
                           "trip_id": self.db.rows["transport_order"][(order_id,)]["trip_id"],
                           "kind": "internal", "author": "tms",
                           "body": f"Order cancelled: {reason.replace('_', ' ')}.",
                           "created_at": now})

    # -- trips --
    def _plan_trip_action(self, group: List[int]) -> Callable[[_Tx], None]:
        def plan(tx: _Tx) -> None:
            rng, now = self.rng, tx.at
            orders = [self.db.rows["transport_order"][(self.order_ids[i],)] for i in group]
            orders = [o for o in orders if o["status"] == "created"]
            if not orders:
                return
            trip_id = self.uuid()
            self.trip_serial += 1
            departure = (now + self.minutes(390, 450)).replace(second=0)
            # stops: the depot, then one per destination city (first-come order)
            cities: List[str] = []
            for o in orders:
                if o["destination_city"] not in cities:
                    cities.append(o["destination_city"])
            legs_minutes = [rng.randint(25, 95) for _ in cities]
            service = [rng.randint(8, 20) for _ in cities]
            arrivals: List[datetime] = []
            t = departure
            for minutes, stay in zip(legs_minutes, service):
                t = t + timedelta(minutes=minutes)
                arrivals.append(t)
                t = t + timedelta(minutes=stay)
            distances = [Decimal(m * rng.randint(9, 13) // 10 * 10 + rng.randint(0, 9)).scaleb(-1)
                         for m in legs_minutes]
            total_km = sum(distances, Decimal("0.0"))
            tx.insert("trip", {
                "id": trip_id, "trip_number": f"TR-{now:%y%m%d}-{self.trip_serial:04d}",
                "carrier_code": rng.choice(CARRIERS),
                "vehicle_plate": f"{rng.choice('ABCDEFG')}{rng.choice('ABCDEFG')}"
                                 f"{rng.randint(100, 999)}{rng.choice('KLMNP')}{rng.choice('RSTVZ')}",
                "driver_name": rng.choice(DRIVERS), "status": "planned",
                "service_date": departure.date(), "planned_departure": departure,
                "planned_arrival": arrivals[-1], "actual_departure": None,
                "actual_arrival": None, "distance_km": total_km,
                "freight_cost": (total_km * Decimal("1.85") + Decimal(rng.randint(4000, 9000))
                                 .scaleb(-2)).quantize(Decimal("0.01")),
                "created_at": now, "updated_at": now})
            depot_id = self.uuid()
            tx.insert("stop", {
                "id": depot_id, "trip_id": trip_id, "sequence": 0, "kind": "depot",
                "location_name": rng.choice(DEPOTS), "city": "Piacenza", "status": "planned",
                "planned_arrival": departure - timedelta(minutes=45), "eta": None,
                "actual_arrival": None, "actual_departure": None, "updated_at": now})
            stop_ids = [depot_id]
            for seq, (city, arrival) in enumerate(zip(cities, arrivals), start=1):
                stop_id = self.uuid()
                stop_ids.append(stop_id)
                tx.insert("stop", {
                    "id": stop_id, "trip_id": trip_id, "sequence": seq, "kind": "delivery",
                    "location_name": f"{city} consignees", "city": city, "status": "planned",
                    "planned_arrival": arrival, "eta": arrival, "actual_arrival": None,
                    "actual_departure": None, "updated_at": now})
            leg_ids = []
            weights = {o["id"]: o["total_weight_kg"] for o in orders}
            hus = {o["id"]: len(self.db.select("handling_unit", order_id=o["id"])) for o in orders}
            stop_of = {o["id"]: cities.index(o["destination_city"]) + 1 for o in orders}
            for seq in range(1, len(cities) + 1):
                leg_id = self.uuid()
                leg_ids.append(leg_id)
                on_board = [o["id"] for o in orders if stop_of[o["id"]] >= seq]
                leg_departure = departure if seq == 1 else \
                    arrivals[seq - 2] + timedelta(minutes=service[seq - 2])
                tx.insert("leg", {
                    "id": leg_id, "trip_id": trip_id, "sequence": seq,
                    "from_stop_id": stop_ids[seq - 1], "to_stop_id": stop_ids[seq],
                    "status": "planned", "planned_departure": leg_departure,
                    "planned_arrival": arrivals[seq - 1], "actual_departure": None,
                    "actual_arrival": None, "distance_km": distances[seq - 1],
                    "load_weight_kg": sum((weights[o] for o in on_board), Decimal("0.000")),
                    "handling_units": sum(hus[o] for o in on_board), "updated_at": now})
            for o in orders:
                oid = o["id"]
                tx.insert("order_stop", {"order_id": oid, "stop_id": depot_id, "kind": "pickup",
                                         "created_at": now})
                tx.insert("order_stop", {"order_id": oid, "stop_id": stop_ids[stop_of[oid]],
                                         "kind": "delivery", "created_at": now})
                for seq in range(1, stop_of[oid] + 1):
                    tx.insert("leg_order", {"leg_id": leg_ids[seq - 1], "order_id": oid,
                                            "handling_units": hus[oid], "weight_kg": weights[oid],
                                            "created_at": now})
                eta = arrivals[stop_of[oid] - 1]
                attributes = dict(o["attributes"], route=f"R{self.trip_serial:04d}")
                tx.update("transport_order", (oid,), status="planned", trip_id=trip_id,
                          planned_delivery_at=eta, eta=eta, attributes=attributes,
                          updated_at=now)
            trip = _Trip(trip_id, stop_ids, leg_ids, arrivals, service, legs_minutes)
            self.at(departure - self.minutes(35, 50), self._load_action(trip))
            self.at(departure + self.minutes(0, 25), self._depart_action(trip))
        return plan

    def _live_orders(self, trip: "_Trip") -> List[Dict[str, Any]]:
        return [o for o in self.db.select("transport_order", trip_id=trip.id)
                if o["status"] not in ("cancelled",)]

    def _load_action(self, trip: "_Trip") -> Callable[[_Tx], None]:
        def load(tx: _Tx) -> None:
            now = tx.at
            orders = [o for o in self._live_orders(trip) if o["status"] == "planned"]
            if not orders:
                return
            # loading: the TMS zeroes the first leg's load and adds handling units one by one
            leg_key = (trip.leg_ids[0],)
            tx.update("leg", leg_key, load_weight_kg=Decimal("0.000"), handling_units=0,
                      updated_at=now)
            for o in orders:
                pickup = self.db.select("pickup", order_id=o["id"])[0]
                if pickup["status"] != "completed":
                    continue
                for hu in self.db.select("handling_unit", order_id=o["id"]):
                    tx.update("handling_unit", (hu["id"],), status="loaded",
                              last_scan_local=(now + SCANNER_UTC_OFFSET).replace(tzinfo=None),
                              updated_at=now)
                    leg = tx.row("leg", leg_key)
                    tx.update("leg", leg_key, load_weight_kg=leg["load_weight_kg"] + hu["weight_kg"],
                              handling_units=leg["handling_units"] + 1, updated_at=now)
        return load

    def _depart_action(self, trip: "_Trip") -> Callable[[_Tx], None]:
        def depart(tx: _Tx) -> None:
            now = tx.at
            orders = [o for o in self._live_orders(trip) if o["status"] == "planned"
                      and self.db.select("pickup", order_id=o["id"])[0]["status"] == "completed"]
            if not orders:
                tx.update("trip", (trip.id,), status="cancelled", updated_at=now)
                for leg_id in trip.leg_ids:
                    tx.update("leg", (leg_id,), status="cancelled", updated_at=now)
                for stop_id in trip.stop_ids:
                    tx.update("stop", (stop_id,), status="skipped", updated_at=now)
                return
            tx.update("trip", (trip.id,), status="departed", actual_departure=now,
                      updated_at=now)
            tx.update("stop", (trip.stop_ids[0],), status="departed", actual_departure=now,
                      updated_at=now)
            tx.update("leg", (trip.leg_ids[0],), status="in_progress", actual_departure=now,
                      updated_at=now)
            planned = self.db.rows["trip"][(trip.id,)]["planned_departure"]
            shift = now - planned
            for o in orders:
                eta = o["planned_delivery_at"] + shift
                tx.update("transport_order", (o["id"],), status="in_transit", departed_at=now,
                          eta=eta, updated_at=now)
            # the TMS saves the trip aggregate a second time with nothing changed: no-op UPDATE
            tx.update("trip", (trip.id,))
            trip.delay = shift
            self.at(now + timedelta(minutes=trip.legs_minutes[0] // 2),
                    self._eta_action(trip, 1))
        return depart

    def _eta_action(self, trip: "_Trip", seq: int) -> Callable[[_Tx], None]:
        def eta(tx: _Tx) -> None:
            rng, now = self.rng, tx.at
            trip.delay += timedelta(minutes=rng.choice(ETA_SHIFTS_MIN))
            # the telematics feed recomputes every downstream ETA; an unchanged ETA is still
            # written (a no-op UPDATE when the delay did not move)
            for stop_seq in range(seq, len(trip.stop_ids)):
                stop_id = trip.stop_ids[stop_seq]
                stop = self.db.rows["stop"][(stop_id,)]
                new_eta = stop["planned_arrival"] + trip.delay
                if new_eta != stop["eta"]:
                    tx.update("stop", (stop_id,), eta=new_eta, updated_at=now)
                for link in self.db.select("order_stop", stop_id=stop_id, kind="delivery"):
                    order = self.db.rows["transport_order"][(link["order_id"],)]
                    if order["status"] != "in_transit":
                        continue
                    new_order_eta = order["planned_delivery_at"] + trip.delay
                    if new_order_eta == order["eta"]:
                        tx.update("transport_order", (order["id"],), eta=order["eta"],
                                  updated_at=order["updated_at"])
                    else:
                        tx.update("transport_order", (order["id"],), eta=new_order_eta,
                                  updated_at=now)
            arrive_at = self.db.rows["stop"][(trip.stop_ids[seq],)]["planned_arrival"] \
                + trip.delay
            self.at(max(arrive_at, now + timedelta(minutes=1)), self._arrive_action(trip, seq))
        return eta

    def _arrive_action(self, trip: "_Trip", seq: int) -> Callable[[_Tx], None]:
        def arrive(tx: _Tx) -> None:
            rng, now = self.rng, tx.at
            stop_id = trip.stop_ids[seq]
            tx.update("leg", (trip.leg_ids[seq - 1],), status="completed", actual_arrival=now,
                      updated_at=now)
            tx.update("stop", (stop_id,), status="arrived", actual_arrival=now, updated_at=now)
            for link in self.db.select("order_stop", stop_id=stop_id, kind="delivery"):
                order = self.db.rows["transport_order"][(link["order_id"],)]
                if order["status"] != "in_transit":
                    continue
                tx.update("transport_order", (order["id"],), status="delivered",
                          delivered_at=now, updated_at=now)
                for hu in self.db.select("handling_unit", order_id=order["id"]):
                    tx.update("handling_unit", (hu["id"],), status="delivered",
                              last_scan_local=(now + SCANNER_UTC_OFFSET).replace(tzinfo=None),
                              updated_at=now)
                if rng.random() < P_DRIVER_NOTE:
                    tx.insert("note", {"id": self.new_note_id(), "order_id": order["id"],
                                       "trip_id": trip.id, "kind": "driver",
                                       "author": self.db.rows["trip"][(trip.id,)]["driver_name"],
                                       "body": rng.choice(["Left at reception.",
                                                           "Signed by the warehouse manager.",
                                                           "One pallet wrapped again."]),
                                       "created_at": now})
            self.at(now + timedelta(minutes=trip.service[seq - 1]), self._leave_action(trip, seq))
        return arrive

    def _leave_action(self, trip: "_Trip", seq: int) -> Callable[[_Tx], None]:
        def leave(tx: _Tx) -> None:
            now = tx.at
            tx.update("stop", (trip.stop_ids[seq],), status="departed", actual_departure=now,
                      updated_at=now)
            if seq == len(trip.leg_ids):
                arrival = self.db.rows["stop"][(trip.stop_ids[seq],)]["actual_arrival"]
                tx.update("trip", (trip.id,), status="completed", actual_arrival=arrival,
                          updated_at=now)
                return
            tx.update("leg", (trip.leg_ids[seq],), status="in_progress", actual_departure=now,
                      updated_at=now)
            self.at(now + timedelta(minutes=trip.legs_minutes[seq] // 2),
                    self._eta_action(trip, seq + 1))
        return leave


@dataclass
class _Trip:
    id: str
    stop_ids: List[str]
    leg_ids: List[str]
    arrivals: List[datetime]
    service: List[int]
    legs_minutes: List[int]
    delay: timedelta = field(default_factory=timedelta)


# --- entry point -----------------------------------------------------------------------------

def _write_lines(path: str, lines: List[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")


def generate(out_dir: str, orders: int, seed: int, with_schema: bool = False) -> Summary:
    """Simulate ``orders`` transport orders and write the technical topics and the truth."""
    if orders < 0:
        raise ValueError("orders must be >= 0")
    sim = _Simulation(orders, seed, with_schema)
    sim.run()
    w = sim.writer
    technical = os.path.join(out_dir, "technical")
    for table in TABLE_NAMES:
        _write_lines(os.path.join(technical, f"{table}.jsonl"), w.lines[table])
    _write_lines(os.path.join(technical, "transaction.jsonl"), w.tx_lines)
    rows: Dict[str, int] = {}
    for table in TABLE_NAMES:
        spec = TABLES[table]
        live = sorted(sim.db.rows[table].items(), key=lambda kv: _sort_key(kv[0]))
        rows[table] = len(live)
        _write_lines(os.path.join(out_dir, "truth", "tables", f"{table}.jsonl"),
                     [dbz.dumps(dbz.plain_row(spec, row)) for _, row in live])
    _write_lines(os.path.join(out_dir, "truth", "business_events.jsonl"), w.business)
    return Summary(
        out_dir=out_dir, orders=orders, seed=seed, transactions=w.transactions,
        change_events={t: w.change_counts[t] for t in TABLE_NAMES},
        tombstones={t: w.tombstones[t] for t in TABLE_NAMES},
        rows=rows,
        business_events={k: w.business_counts[k] for k in BUSINESS_EVENT_TYPES})


def transactions(orders: int, seed: int) -> List[Tuple[datetime, List[_Change]]]:
    """The same workload as :func:`generate`, as (time, row changes) per database transaction,
    for a driver that replays it as SQL (engine/simulation/sql.py)."""
    sim = _Simulation(orders, seed, with_schema=False)
    sim.run()
    return sim.committed
