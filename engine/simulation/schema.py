"""The TMS tables as the simulator sees them (mirror of ``schemas/tms/tms.sql``).

Every column has its PostgreSQL type (as written in the DDL), whether it is nullable and its
default (``None`` when it has none). ``tests/simulation`` checks this mirror against the DDL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Column:
    name: str
    pg_type: str            # "uuid", "text", "char(2)", "numeric(10,3)", "timestamptz", ...
    nullable: bool = True
    default: Optional[object] = None   # Python value of a constant DEFAULT, if any

    @property
    def numeric_scale(self) -> Optional[Tuple[int, int]]:
        """(precision, scale) of a numeric(p,s) column, else None."""
        if not self.pg_type.startswith("numeric("):
            return None
        precision, scale = self.pg_type[len("numeric("):-1].split(",")
        return int(precision), int(scale)


@dataclass(frozen=True)
class Table:
    name: str
    columns: Tuple[Column, ...]
    primary_key: Tuple[str, ...]

    @property
    def column_names(self) -> List[str]:
        return [c.name for c in self.columns]

    def key_of(self, row: Dict[str, object]) -> Tuple[object, ...]:
        return tuple(row[k] for k in self.primary_key)


def _c(name: str, pg_type: str, nullable: bool = True, default: object = None) -> Column:
    return Column(name, pg_type, nullable, default)


NN = False  # readability: _c("id", "uuid", NN)

TABLES: Dict[str, Table] = {t.name: t for t in (
    Table("transport_order", (
        _c("id", "uuid", NN),
        _c("order_number", "text", NN),
        _c("customer_code", "text", NN),
        _c("status", "text", NN, "created"),
        _c("service_level", "text", NN, "standard"),
        _c("origin_city", "text", NN),
        _c("destination_address", "text", NN),
        _c("destination_city", "text", NN),
        _c("destination_country", "char(2)", NN),
        _c("requested_delivery_date", "date", NN),
        _c("total_weight_kg", "numeric(10,3)", NN, 0),
        _c("declared_value", "numeric(12,2)"),
        _c("currency", "char(3)", NN, "EUR"),
        _c("trip_id", "uuid"),
        _c("planned_delivery_at", "timestamptz"),
        _c("eta", "timestamptz"),
        _c("departed_at", "timestamptz"),
        _c("delivered_at", "timestamptz"),
        _c("cancel_reason", "text"),
        _c("attributes", "jsonb", NN, {}),
        _c("created_at", "timestamptz", NN),
        _c("updated_at", "timestamptz", NN),
    ), ("id",)),
    Table("pickup", (
        _c("id", "uuid", NN),
        _c("order_id", "uuid", NN),
        _c("status", "text", NN, "scheduled"),
        _c("address", "text", NN),
        _c("city", "text", NN),
        _c("pickup_date", "date", NN),
        _c("window_start", "timestamptz", NN),
        _c("window_end", "timestamptz", NN),
        _c("attempt", "smallint", NN, 1),
        _c("completed_at", "timestamptz"),
        _c("failed_at", "timestamptz"),
        _c("failure_reason", "text"),
        _c("created_at", "timestamptz", NN),
        _c("updated_at", "timestamptz", NN),
    ), ("id",)),
    Table("handling_unit", (
        _c("id", "uuid", NN),
        _c("order_id", "uuid", NN),
        _c("sscc", "text", NN),
        _c("kind", "text", NN),
        _c("status", "text", NN, "registered"),
        _c("weight_kg", "numeric(10,3)", NN),
        _c("volume_m3", "numeric(8,3)", NN),
        _c("last_scan_local", "timestamp"),
        _c("created_at", "timestamptz", NN),
        _c("updated_at", "timestamptz", NN),
    ), ("id",)),
    Table("trip", (
        _c("id", "uuid", NN),
        _c("trip_number", "text", NN),
        _c("carrier_code", "text", NN),
        _c("vehicle_plate", "text", NN),
        _c("driver_name", "text", NN),
        _c("status", "text", NN, "planned"),
        _c("service_date", "date", NN),
        _c("planned_departure", "timestamptz", NN),
        _c("planned_arrival", "timestamptz", NN),
        _c("actual_departure", "timestamptz"),
        _c("actual_arrival", "timestamptz"),
        _c("distance_km", "numeric(9,1)", NN),
        _c("freight_cost", "numeric(12,2)", NN),
        _c("created_at", "timestamptz", NN),
        _c("updated_at", "timestamptz", NN),
    ), ("id",)),
    Table("stop", (
        _c("id", "uuid", NN),
        _c("trip_id", "uuid", NN),
        _c("sequence", "integer", NN),
        _c("kind", "text", NN),
        _c("location_name", "text", NN),
        _c("city", "text", NN),
        _c("status", "text", NN, "planned"),
        _c("planned_arrival", "timestamptz", NN),
        _c("eta", "timestamptz"),
        _c("actual_arrival", "timestamptz"),
        _c("actual_departure", "timestamptz"),
        _c("updated_at", "timestamptz", NN),
    ), ("id",)),
    Table("leg", (
        _c("id", "uuid", NN),
        _c("trip_id", "uuid", NN),
        _c("sequence", "integer", NN),
        _c("from_stop_id", "uuid", NN),
        _c("to_stop_id", "uuid", NN),
        _c("status", "text", NN, "planned"),
        _c("planned_departure", "timestamptz", NN),
        _c("planned_arrival", "timestamptz", NN),
        _c("actual_departure", "timestamptz"),
        _c("actual_arrival", "timestamptz"),
        _c("distance_km", "numeric(9,1)", NN),
        _c("load_weight_kg", "numeric(10,3)", NN, 0),
        _c("handling_units", "integer", NN, 0),
        _c("updated_at", "timestamptz", NN),
    ), ("id",)),
    Table("order_stop", (
        _c("order_id", "uuid", NN),
        _c("stop_id", "uuid", NN),
        _c("kind", "text", NN),
        _c("created_at", "timestamptz", NN),
    ), ("order_id", "stop_id", "kind")),
    Table("leg_order", (
        _c("leg_id", "uuid", NN),
        _c("order_id", "uuid", NN),
        _c("handling_units", "integer", NN),
        _c("weight_kg", "numeric(10,3)", NN),
        _c("created_at", "timestamptz", NN),
    ), ("leg_id", "order_id")),
    Table("note", (
        _c("id", "bigint", NN),
        _c("order_id", "uuid", NN),
        _c("trip_id", "uuid"),
        _c("kind", "text", NN),
        _c("author", "text", NN),
        _c("body", "text", NN),
        _c("created_at", "timestamptz", NN),
    ), ("id",)),
)}

TABLE_NAMES: Tuple[str, ...] = tuple(sorted(TABLES))
