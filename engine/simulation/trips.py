"""Trip lifecycle of the simulated TMS: planning, loading, departure, ETA updates, arrivals
(docs/tms.md, lifecycles 2, 4, 5, 7, 8, 9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Callable, Dict, List

from engine.simulation.data import CARRIERS, DEPOTS, DRIVERS, ETA_SHIFTS_MIN, P_DRIVER_NOTE, SCANNER_UTC_OFFSET
from engine.simulation.database import Tx
from engine.simulation.state import SimulationState


class TripLifecycle(SimulationState):
    """Mixin of the simulation: the actions on trips (uses ``rng``, ``db``, ``at``, ...)."""

    # -- trips --
    def _plan_trip_action(self, group: List[int]) -> Callable[[Tx], None]:
        def plan(tx: Tx) -> None:
            rng, now = self.rng, tx.at
            orders = [self.db.rows["transport_order"][(self.order_ids[i],)] for i in group]
            orders = [o for o in orders if o["status"] == "created"]
            if not orders:
                return
            trip_id = self.uuid()
            self.trip_serial += 1
            departure = (now + self.minutes(390, 450)).replace(second=0, microsecond=0)
            # stops: the depot, then one per destination city (first-come order)
            cities: List[str] = []
            for o in orders:
                if o["destination_city"] not in cities:
                    cities.append(o["destination_city"])
            legs_minutes = [rng.randint(25, 95) for _ in cities]
            service = [rng.randint(8, 20) for _ in cities]
            arrivals: List[datetime] = []
            t = departure
            for minutes, stay in zip(legs_minutes, service, strict=False):
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
            for seq, (city, arrival) in enumerate(zip(cities, arrivals, strict=False), start=1):
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
            trip = Trip(trip_id, stop_ids, leg_ids, arrivals, service, legs_minutes)
            self.at(departure - self.minutes(35, 50), self._load_action(trip))
            self.at(departure + self.minutes(0, 25), self._depart_action(trip))
        return plan

    def _live_orders(self, trip: "Trip") -> List[Dict[str, Any]]:
        return [o for o in self.db.select("transport_order", trip_id=trip.id)
                if o["status"] not in ("cancelled",)]

    def _load_action(self, trip: "Trip") -> Callable[[Tx], None]:
        def load(tx: Tx) -> None:
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

    def _depart_action(self, trip: "Trip") -> Callable[[Tx], None]:
        def depart(tx: Tx) -> None:
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

    def _eta_action(self, trip: "Trip", seq: int) -> Callable[[Tx], None]:
        def eta(tx: Tx) -> None:
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

    def _arrive_action(self, trip: "Trip", seq: int) -> Callable[[Tx], None]:
        def arrive(tx: Tx) -> None:
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

    def _leave_action(self, trip: "Trip", seq: int) -> Callable[[Tx], None]:
        def leave(tx: Tx) -> None:
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
class Trip:
    id: str
    stop_ids: List[str]
    leg_ids: List[str]
    arrivals: List[datetime]
    service: List[int]
    legs_minutes: List[int]
    delay: timedelta = field(default_factory=timedelta)

