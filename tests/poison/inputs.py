"""The poison corpus as input files: its cases read, rendered into lines and placed among a
topology's valid lines (``materialize``, which records where every line went). The run and its
judging: tests/poison/harness.py.

A case (one JSON object per line of a case file):

``id``           unique, ``<category>.<name>``
``what``         what is malformed, in words
``topologies``   ``"*"`` (every topology, its primary source) or a list of topology names
``role``         which input of the topology: ``primary``, ``data``, ``markers`` or a source name
``expect``       ``dead`` (exactly one dead letter), ``out`` (in the output, no dead letter),
                 ``skip`` (neither: ignored by design), ``dead|out`` (exactly one of the two)
``step``         optional: the step whose dead letter it must be (``decode`` = ``<source>:decode``)
``line``         the raw line (``encoding: latin1`` turns each character into one byte), or
``event``        a JSON value written compactly, or
``column``       ``{schema, value}``: a Debezium envelope with its Connect schema whose ``after`` row
                 holds the column ``x`` with that schema and value
``gen``          generated content put in place of ``@GEN@`` (nesting, padding, digits, ...)
``also``         more lines of the same case for other inputs (``[{role, event|line}]``)

Placeholders: ``@TOKEN@`` a marker unique to the case (how a dead letter or an output is tied
back to its case), ``@TX@`` / ``@TXN@`` a transaction id unique to the case (text / number),
``@TABLE@`` the topology's main table.
"""

from __future__ import annotations

import base64
import json
import pathlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CASES = CORPUS / "cases"
VALID = CORPUS / "valid"


@dataclass(frozen=True)
class Topology:
    name: str
    yaml: str
    inputs: Dict[str, str]            # source name -> path relative to the run directory
    primary: str
    env: Dict[str, str]               # env var -> path relative to the run directory
    dead: str                         # dead-letter file, relative to the run directory
    files: Tuple[str, ...] = ()       # file sinks
    duckdb: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  # (database, tables)
    table: Optional[str] = None       # main table (@TABLE@)
    markers: Optional[str] = None     # the transaction metadata source
    valid: str = ""                   # directory of valid inputs under corpus/valid
    poison_at_end: bool = False       # poison lines after the valid ones (else in the middle)


TMS_ENV = {"VF_TMS": "tms", "VF_OUT": "out"}
TOPOLOGIES: Dict[str, Topology] = {t.name: t for t in [
    Topology("pickup_domain", "topologies/velocity/pickup_domain.yaml",
             {"pickups": "tms/technical/pickup.jsonl", "transactions": "tms/technical/transaction.jsonl"},
             "pickups", TMS_ENV, "out/dead-letter/pickup_domain.jsonl", ("out/domain/pickup.jsonl",),
             table="pickup", markers="transactions", valid="pickup_domain/technical"),
    Topology("trip_domain", "topologies/velocity/trip_domain.yaml",
             {"trips": "tms/technical/trip.jsonl", "legs": "tms/technical/leg.jsonl", "stops": "tms/technical/stop.jsonl",
              "transactions": "tms/technical/transaction.jsonl"},
             "trips", TMS_ENV, "out/dead-letter/trip_domain.jsonl", ("out/domain/trip.jsonl",),
             table="trip", markers="transactions", valid="trip_domain/technical"),
    Topology("transport_order_domain", "topologies/velocity/transport_order_domain.yaml",
             {"orders": "tms/technical/transport_order.jsonl", "notes": "tms/technical/note.jsonl",
              "handling-units": "tms/technical/handling_unit.jsonl", "order-stops": "tms/technical/order_stop.jsonl",
              "leg-orders": "tms/technical/leg_order.jsonl", "transactions": "tms/technical/transaction.jsonl"},
             "orders", TMS_ENV, "out/dead-letter/transport_order_domain.jsonl", ("out/domain/transport_order.jsonl",),
             table="transport_order", markers="transactions", valid="transport_order_domain/technical"),
    Topology("fast_storage", "topologies/velocity/fast_storage.yaml",
             {"orders": "out/domain/transport_order.jsonl", "pickups": "out/domain/pickup.jsonl", "trips": "out/domain/trip.jsonl"},
             "orders", {"VF_OUT": "out"}, "out/dead-letter/fast_storage.jsonl",
             duckdb=(("out/fast_storage.duckdb", ("transport_order", "note", "handling_unit", "order_stop", "leg_order",
                                                  "pickup", "trip", "leg", "stop")),),
             valid="fast_storage/domain"),
    Topology("event_engine", "topologies/velocity/event_engine.yaml",
             {"orders": "out/domain/transport_order.jsonl", "pickups": "out/domain/pickup.jsonl",
              "trips": "out/domain/trip.jsonl"},
             "orders", {"VF_OUT": "out"}, "out/dead-letter/event_engine.jsonl", ("out/business/business_events.jsonl",),
             duckdb=(("out/business.duckdb", ("business_event",)),), valid="event_engine/domain"),
    Topology("examples", "topologies/examples/transport_orders.yaml", {"orders": "in/transport_order.jsonl"},
             "orders", {"VF_SAMPLES": "in", "VF_OUT": "out"}, "out/dead-letter.jsonl", ("out/heavy_orders.jsonl",),
             duckdb=(("out/velocity.duckdb", ("transport_order", "status_stats")),), valid="examples"),
    Topology("windows", "tests/poison/corpus/topologies/windows.yaml", {"events": "in/events.jsonl"},
             "events", {"VF_IN": "in", "VF_OUT": "out"}, "out/dead-letter.jsonl", ("out/windows.jsonl",),
             valid="windows", poison_at_end=True),
]}


# --- cases -------------------------------------------------------------------------------

def load_cases() -> List[dict]:
    cases, seen = [], set()
    for path in sorted(CASES.glob("*.jsonl")):
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                continue
            case = json.loads(text)
            case["_where"] = f"{path.relative_to(ROOT)}:{number}"
            assert case["id"] not in seen, f"duplicate case id {case['id']}"
            seen.add(case["id"])
            cases.append(case)
    return cases


def cases_for(topology: str, cases: Optional[List[dict]] = None) -> List[dict]:
    cases = load_cases() if cases is None else cases
    return [c for c in cases if c["topologies"] == "*" or topology in c["topologies"]]


def token(case: dict) -> str:
    return "~" + case["id"].replace(".", "-") + "~"


def _generated(gen: dict) -> Tuple[str, bool]:
    """(text, is_string_content) of a ``gen`` spec."""
    (kind, size), = gen.items()
    if kind == "nest":
        return "[" * size + "]" * size, False
    if kind == "nest_objects":
        return '{"a":' * size + "1" + "}" * size, False
    if kind == "digits":
        return "9" * size, False
    if kind == "items":
        return "[" + ",".join(["1"] * size) + "]", False
    if kind == "pad":
        return "x" * size, True
    if kind == "nest_text":
        return "[" * size + "]" * size, True
    if kind == "decimal_bytes":
        raw = bytes([0x7F] + [0x5A] * (size - 1))  # a positive unscaled integer of ~2.4 * size digits
        return base64.b64encode(raw).decode(), True
    raise ValueError(f"unknown gen {kind}")


def _column_envelope(case: dict) -> dict:
    """A Debezium 3.1 JsonConverter envelope (schemas.enable=true) of one insert whose row has the
    primary key ``id`` and the column ``x`` described by the case."""
    column = dict(case["column"]["schema"], optional=True, field="x")
    row = {"type": "struct", "optional": True, "name": "tms.public.@TABLE@.Value", "fields": [
        {"type": "string", "optional": False, "name": "io.debezium.data.Uuid", "version": 1, "field": "id"}, column]}
    source = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source", "field": "source", "fields": [
        {"type": "string", "optional": False, "field": "table"}, {"type": "int64", "optional": True, "field": "txId"},
        {"type": "int64", "optional": True, "field": "lsn"}, {"type": "string", "optional": True, "field": "poison"}]}
    schema = {"type": "struct", "optional": False, "name": "tms.public.@TABLE@.Envelope", "version": 2, "fields": [
        dict(row, field="before"), dict(row, field="after"), source,
        {"type": "string", "optional": False, "field": "op"}, {"type": "int64", "optional": True, "field": "ts_ms"}]}
    payload = {"before": None, "after": {"id": "@TOKEN@", "x": case["column"]["value"]},
               "source": {"table": "@TABLE@", "txId": "@TXN@", "lsn": 990000000, "poison": "@TOKEN@"},
               "op": "c", "ts_ms": 1709528524350}
    return {"schema": schema, "payload": payload}


def render(case: dict, spec: dict, topology: Topology, tx: int) -> bytes:
    """The bytes of one input line of a case."""
    if "line" in spec:
        text = spec["line"]
    elif "column" in spec:
        text = json.dumps(_column_envelope(spec), separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(spec["event"], separators=(",", ":"), ensure_ascii=False)
    text = (text.replace('"@TXN@"', str(tx)).replace("@TXN@", str(tx)).replace("@TX@", str(tx))
            .replace("@TOKEN@", token(case)).replace("@TABLE@", topology.table or "none"))
    if "gen" in case and "@GEN@" in text:
        generated, in_string = _generated(case["gen"])
        text = text.replace("@GEN@", generated) if in_string else text.replace('"@GEN@"', generated).replace("@GEN@", generated)
    if spec.get("encoding", case.get("encoding")) == "latin1":
        return text.encode("latin-1")
    return text.encode("utf-8", "surrogatepass")


def _source_of(topology: Topology, role: str) -> str:
    if role in ("primary", "data"):
        return topology.primary
    if role == "markers":
        assert topology.markers, f"{topology.name} has no transaction markers"
        return topology.markers
    assert role in topology.inputs, f"{topology.name} has no source {role}"
    return role


# --- a run -------------------------------------------------------------------------------

@dataclass
class Layout:
    """Where every line went: (input path, 1-based line) of each case and of the valid lines."""

    directory: pathlib.Path
    case_tx: Dict[str, int] = field(default_factory=dict)
    case_lines: Dict[str, List[Tuple[str, int]]] = field(default_factory=dict)
    valid_lines: Dict[str, set] = field(default_factory=dict)


def materialize(topology: Topology, cases: List[dict], directory: pathlib.Path) -> Layout:
    layout = Layout(directory)
    per_source: Dict[str, List[Tuple[Optional[str], bytes]]] = {name: [] for name in topology.inputs}
    for index, case in enumerate(cases):
        tx = 90000 + index
        layout.case_tx[case["id"]] = tx
        specs = [case] + [dict(extra, gen=case.get("gen")) for extra in case.get("also", [])]
        for spec in specs:
            per_source[_source_of(topology, spec.get("role", case.get("role", "primary")))].append(
                (case["id"], render(case, spec, topology, tx)))
    for source, rel in topology.inputs.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        valid_file = VALID / topology.valid / pathlib.Path(rel).name
        valid = valid_file.read_bytes().splitlines() if valid_file.exists() else []
        cut = len(valid) if topology.poison_at_end else len(valid) // 2
        lines = [(None, v) for v in valid[:cut]] + per_source[source] + [(None, v) for v in valid[cut:]]
        with open(path, "wb") as handle:
            for number, (case_id, data) in enumerate(lines, 1):
                handle.write(data + b"\n")
                if case_id is None:
                    layout.valid_lines.setdefault(str(path), set()).add(number)
                else:
                    layout.case_lines.setdefault(case_id, []).append((str(path), number))
    return layout


