"""Order lifecycle of the simulated TMS: creation with handling units, notes, pickups,
cancellation (docs/tms.md, lifecycles 1, 3, 6, 10)."""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Callable, List, Optional, Tuple

from engine.simulation.data import (
    BASE_TIME,
    CITIES,
    CUSTOMERS,
    FAILURE_REASONS,
    FAST_STORAGE_CHUNKS,
    HU_KINDS,
    INSTRUCTIONS,
    P_CUSTOMER_CANCEL,
    P_NOTE,
    P_NOTE_DELETE,
    P_NOTE_EDIT,
    P_PICKUP_FAIL,
    SCANNER_UTC_OFFSET,
    STREETS,
)
from engine.simulation.database import Tx
from engine.simulation.state import SimulationState


class OrderLifecycle(SimulationState):
    """Mixin of the simulation: the actions on orders (uses ``rng``, ``db``, ``at``, ...)."""

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
            if self.key_moves and len(group) >= 2:
                self.at(t + timedelta(seconds=self.move_rng.randint(20, 60)),
                        self._key_move_action(group))

    def _create_order_action(self, index: int) -> Callable[[Tx], None]:
        def create(tx: Tx) -> None:
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
            window_start = (now + self.minutes(20, 90)).replace(second=0, microsecond=0)
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

    def _edit_note_action(self, note_id: int) -> Callable[[Tx], None]:
        def edit(tx: Tx) -> None:
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

    def _delete_note_action(self, note_id: int) -> Callable[[Tx], None]:
        def delete(tx: Tx) -> None:
            if (note_id,) in self.db.rows["note"]:
                tx.delete("note", (note_id,))
        return delete

    # -- pickups --
    def _pickup_action(self, pickup_id: str, attempt: int) -> Callable[[Tx], None]:
        def pickup(tx: Tx) -> None:
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
                    start = (now + self.minutes(60, 90)).replace(second=0, microsecond=0)
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

    def _reschedule_action(self, pickup_id: str, start: datetime) -> Callable[[Tx], None]:
        def reschedule(tx: Tx) -> None:
            row = self.db.rows["pickup"][(pickup_id,)]
            order = self.db.rows["transport_order"][(row["order_id"],)]
            if row["status"] != "failed" or order["status"] == "cancelled":
                return
            tx.update("pickup", (pickup_id,), status="scheduled", attempt=row["attempt"] + 1,
                      pickup_date=start.date(), window_start=start,
                      window_end=start + timedelta(hours=1), updated_at=tx.at)
        return reschedule

    # -- cancellation --
    def _cancel_action(self, order_id: str, reason: str) -> Callable[[Tx], None]:
        def cancel(tx: Tx) -> None:
            order = self.db.rows["transport_order"][(order_id,)]
            pickup = self.db.select("pickup", order_id=order_id)[0]
            if order["status"] not in ("created", "planned") or pickup["status"] == "completed":
                return
            if pickup["status"] in ("scheduled", "failed"):
                tx.update("pickup", (pickup["id"],), status="cancelled", updated_at=tx.at)
            self._cancel(tx, order_id, reason)
        return cancel

    def _cancel(self, tx: Tx, order_id: str, reason: str) -> None:
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


    # -- key moves: a handling unit changes order (its domain key) within seconds --
    def _key_move_action(self, group: List[int]) -> Callable[[Tx], None]:
        """Handling unit ``hu`` of order A is re-weighed (a change under key A), 2 s later moved
        to order B, and every second time moved back to A 2 s after that: the row's changes
        sit under two domain keys in one 5 s MicroBatch period, the stale one under either
        chunk (pairs are picked so that all four (stale chunk, final chunk) cases occur)."""
        def reweigh(tx: Tx) -> None:
            pair = self._move_pair(group)
            if pair is None:
                return
            a, b = pair
            hus = self.db.select("handling_unit", order_id=a)
            if not hus:
                return
            hu, now = hus[0], tx.at
            weight = max(hu["weight_kg"] + Decimal(self.move_rng.randint(-900, 900)).scaleb(-3),
                         Decimal("0.100"))
            order = self.db.rows["transport_order"][(a,)]
            tx.update("transport_order", (a,),
                      total_weight_kg=order["total_weight_kg"] - hu["weight_kg"] + weight,
                      updated_at=now)
            tx.update("handling_unit", (hu["id"],), weight_kg=weight, updated_at=now)
            back = self.moves_done % 2 == 1
            self.moves_done += 1
            self.at(now + timedelta(seconds=2), self._move_hu_action(hu["id"], a, b))
            if back:
                self.at(now + timedelta(seconds=4), self._move_hu_action(hu["id"], b, a))
        return reweigh

    def _move_pair(self, group: List[int]) -> Optional[Tuple[str, str]]:
        """Two orders of the group still ``created``; the k-th move wants chunk(A) = 0 and
        chunk(B) = 1 for k % 4 in (0, 1), the reverse for k % 4 in (2, 3) (else any pair)."""
        ids = [self.order_ids[i] for i in group if i in self.order_ids]
        ids = [o for o in ids if self.db.rows["transport_order"][(o,)]["status"] == "created"]
        if len(ids) < 2:
            return None
        want_a = 0 if self.moves_done % 4 < 2 else 1
        for a in ids:
            for b in ids:
                if fast_storage_chunk(a) == want_a and fast_storage_chunk(b) == 1 - want_a:
                    return a, b
        return ids[0], ids[1]

    def _move_hu_action(self, hu_id: str, source: str, target: str) -> Callable[[Tx], None]:
        def move(tx: Tx) -> None:
            hu = self.db.rows["handling_unit"].get((hu_id,))
            orders = self.db.rows["transport_order"]
            if hu is None or hu["order_id"] != source or \
                    any(orders[(o,)]["status"] != "created" for o in (source, target)):
                return
            now, weight = tx.at, hu["weight_kg"]
            tx.update("handling_unit", (hu_id,), order_id=target, updated_at=now)
            tx.update("transport_order", (source,),
                      total_weight_kg=orders[(source,)]["total_weight_kg"] - weight, updated_at=now)
            tx.update("transport_order", (target,),
                      total_weight_kg=orders[(target,)]["total_weight_kg"] + weight, updated_at=now)
        return move


def fast_storage_chunk(order_id: str) -> int:
    """The MicroBatch chunk of an order's row changes in topologies/velocity/fast_storage.yaml
    (``key: domain + ':' + key``, ``chunks: 2``; crc32 like engine/operators/micro_batch.py)."""
    return zlib.crc32(f"transport_order:{order_id}".encode()) % FAST_STORAGE_CHUNKS
