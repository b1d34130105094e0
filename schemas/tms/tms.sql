-- TMS (Transport Management System) database of the Velocity Track & Trace.
--
-- The schema the simulator (engine/simulation/tms.py) models: every row change it generates
-- is a change of one of these tables, encoded as Debezium's PostgreSQL connector would encode
-- it. docs/tms.md describes the tables, the lifecycles and the change events.
--
-- Conventions
--   * uuid primary keys for entities, bigint for notes, composite keys for link tables;
--   * enums are text columns with CHECK constraints (no PostgreSQL ENUM types, so Debezium
--     sends them as plain strings);
--   * weights numeric(10,3) kg, volumes numeric(8,3) m3, distances numeric(9,1) km,
--     amounts numeric(12,2);
--   * instants are timestamptz; the one wall-clock value read from a scanner is a
--     timestamp without time zone (handling_unit.last_scan_local);
--   * REPLICA IDENTITY FULL on every table, so UPDATE and DELETE events carry the whole
--     old row in "before" (Debezium needs it to show before-images).

BEGIN;

CREATE TABLE transport_order (
    id                      uuid          PRIMARY KEY,
    order_number            text          NOT NULL UNIQUE,
    customer_code           text          NOT NULL,
    status                  text          NOT NULL DEFAULT 'created'
        CHECK (status IN ('created', 'planned', 'in_transit', 'delivered', 'cancelled')),
    service_level           text          NOT NULL DEFAULT 'standard'
        CHECK (service_level IN ('standard', 'express', 'same_day')),
    origin_city             text          NOT NULL,
    destination_address     text          NOT NULL,
    destination_city        text          NOT NULL,
    destination_country     char(2)       NOT NULL,
    requested_delivery_date date          NOT NULL,
    total_weight_kg         numeric(10,3) NOT NULL DEFAULT 0,
    declared_value          numeric(12,2),
    currency                char(3)       NOT NULL DEFAULT 'EUR',
    trip_id                 uuid,
    planned_delivery_at     timestamptz,
    eta                     timestamptz,
    departed_at             timestamptz,
    delivered_at            timestamptz,
    cancel_reason           text,
    attributes              jsonb         NOT NULL DEFAULT '{}'::jsonb,
    created_at              timestamptz   NOT NULL,
    updated_at              timestamptz   NOT NULL
);

CREATE TABLE pickup (
    id              uuid         PRIMARY KEY,
    order_id        uuid         NOT NULL REFERENCES transport_order (id),
    status          text         NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'completed', 'failed', 'cancelled')),
    address         text         NOT NULL,
    city            text         NOT NULL,
    pickup_date     date         NOT NULL,
    window_start    timestamptz  NOT NULL,
    window_end      timestamptz  NOT NULL,
    attempt         smallint     NOT NULL DEFAULT 1,
    completed_at    timestamptz,
    failed_at       timestamptz,
    failure_reason  text
        CHECK (failure_reason IS NULL OR failure_reason IN
               ('customer_absent', 'goods_not_ready', 'address_not_found', 'vehicle_breakdown')),
    created_at      timestamptz  NOT NULL,
    updated_at      timestamptz  NOT NULL
);

CREATE TABLE handling_unit (
    id               uuid          PRIMARY KEY,
    order_id         uuid          NOT NULL REFERENCES transport_order (id),
    sscc             text          NOT NULL UNIQUE,
    kind             text          NOT NULL CHECK (kind IN ('pallet', 'parcel', 'crate', 'roll_cage')),
    status           text          NOT NULL DEFAULT 'registered'
        CHECK (status IN ('registered', 'picked_up', 'loaded', 'delivered', 'cancelled')),
    weight_kg        numeric(10,3) NOT NULL,
    volume_m3        numeric(8,3)  NOT NULL,
    last_scan_local  timestamp,
    created_at       timestamptz   NOT NULL,
    updated_at       timestamptz   NOT NULL
);

CREATE TABLE trip (
    id                 uuid          PRIMARY KEY,
    trip_number        text          NOT NULL UNIQUE,
    carrier_code       text          NOT NULL,
    vehicle_plate      text          NOT NULL,
    driver_name        text          NOT NULL,
    status             text          NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'departed', 'completed', 'cancelled')),
    service_date       date          NOT NULL,
    planned_departure  timestamptz   NOT NULL,
    planned_arrival    timestamptz   NOT NULL,
    actual_departure   timestamptz,
    actual_arrival     timestamptz,
    distance_km        numeric(9,1)  NOT NULL,
    freight_cost       numeric(12,2) NOT NULL,
    created_at         timestamptz   NOT NULL,
    updated_at         timestamptz   NOT NULL
);

-- fermata: a place a trip calls at (the depot first, then the delivery addresses)
CREATE TABLE stop (
    id                uuid         PRIMARY KEY,
    trip_id           uuid         NOT NULL REFERENCES trip (id),
    sequence          integer      NOT NULL,
    kind              text         NOT NULL CHECK (kind IN ('depot', 'delivery')),
    location_name     text         NOT NULL,
    city              text         NOT NULL,
    status            text         NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'arrived', 'departed', 'skipped')),
    planned_arrival   timestamptz  NOT NULL,
    eta               timestamptz,
    actual_arrival    timestamptz,
    actual_departure  timestamptz,
    updated_at        timestamptz  NOT NULL,
    UNIQUE (trip_id, sequence)
);

-- tratta: the drive between two consecutive stops of a trip
CREATE TABLE leg (
    id                 uuid          PRIMARY KEY,
    trip_id            uuid          NOT NULL REFERENCES trip (id),
    sequence           integer       NOT NULL,
    from_stop_id       uuid          NOT NULL REFERENCES stop (id),
    to_stop_id         uuid          NOT NULL REFERENCES stop (id),
    status             text          NOT NULL DEFAULT 'planned'
        CHECK (status IN ('planned', 'in_progress', 'completed', 'cancelled')),
    planned_departure  timestamptz   NOT NULL,
    planned_arrival    timestamptz   NOT NULL,
    actual_departure   timestamptz,
    actual_arrival     timestamptz,
    distance_km        numeric(9,1)  NOT NULL,
    load_weight_kg     numeric(10,3) NOT NULL DEFAULT 0,
    handling_units     integer       NOT NULL DEFAULT 0,
    updated_at         timestamptz   NOT NULL,
    UNIQUE (trip_id, sequence)
);

-- which stops serve an order: its loading stop (the depot) and its delivery stop
CREATE TABLE order_stop (
    order_id    uuid         NOT NULL REFERENCES transport_order (id),
    stop_id     uuid         NOT NULL REFERENCES stop (id),
    kind        text         NOT NULL CHECK (kind IN ('pickup', 'delivery')),
    created_at  timestamptz  NOT NULL,
    PRIMARY KEY (order_id, stop_id, kind)
);

-- which legs carry an order (every leg from the depot to its delivery stop)
CREATE TABLE leg_order (
    leg_id          uuid           NOT NULL REFERENCES leg (id),
    order_id        uuid           NOT NULL REFERENCES transport_order (id),
    handling_units  integer        NOT NULL,
    weight_kg       numeric(10,3)  NOT NULL,
    created_at      timestamptz    NOT NULL,
    PRIMARY KEY (leg_id, order_id)
);

-- nota: free text attached to an order (optionally to a trip). The TMS saves an edited note
-- by deleting and re-inserting it (same id) in one transaction.
CREATE TABLE note (
    id          bigint       PRIMARY KEY,
    order_id    uuid         NOT NULL REFERENCES transport_order (id),
    trip_id     uuid         REFERENCES trip (id),
    kind        text         NOT NULL CHECK (kind IN ('delivery_instruction', 'internal', 'customer', 'driver')),
    author      text         NOT NULL,
    body        text         NOT NULL,
    created_at  timestamptz  NOT NULL
);

CREATE INDEX pickup_order_idx ON pickup (order_id);
CREATE INDEX handling_unit_order_idx ON handling_unit (order_id);
CREATE INDEX stop_trip_idx ON stop (trip_id);
CREATE INDEX leg_trip_idx ON leg (trip_id);
CREATE INDEX order_stop_stop_idx ON order_stop (stop_id);
CREATE INDEX leg_order_order_idx ON leg_order (order_id);
CREATE INDEX note_order_idx ON note (order_id);

ALTER TABLE transport_order REPLICA IDENTITY FULL;
ALTER TABLE pickup          REPLICA IDENTITY FULL;
ALTER TABLE handling_unit   REPLICA IDENTITY FULL;
ALTER TABLE trip            REPLICA IDENTITY FULL;
ALTER TABLE stop            REPLICA IDENTITY FULL;
ALTER TABLE leg             REPLICA IDENTITY FULL;
ALTER TABLE order_stop      REPLICA IDENTITY FULL;
ALTER TABLE leg_order       REPLICA IDENTITY FULL;
ALTER TABLE note            REPLICA IDENTITY FULL;

COMMIT;
