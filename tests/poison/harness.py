"""The poison harness: shipped topologies run through the real CLI on hand-written valid inputs
mixed with the malformed inputs of ``tests/poison/corpus/cases/*.jsonl``.

Written independently of the engine's internals and of the TMS simulator: inputs are files,
the flow is ``python -m cli run -q <topology>`` in a subprocess, results are read back from the
sink files, the DuckDB databases and the dead-letter file.

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
import os
import pathlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
CASES = CORPUS / "cases"
VALID = CORPUS / "valid"
FORBIDDEN = ("Traceback", "panicked", "PanicException")
RUN_TIMEOUT = 120


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


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    dead: List[Tuple[str, dict]]      # (raw line, parsed record)
    outputs: List[str]                 # one text per output event / row (file lines, DuckDB rows as JSON)
    parsed: Dict[str, list]            # file sink -> parsed events; "db:table" -> rows as dicts

    @property
    def crashed(self) -> bool:
        return self.returncode != 0

    def stderr_line(self) -> str:
        """The error the CLI printed, unwrapped (the console wraps long lines)."""
        lines = [line.strip() for line in self.stderr.strip().splitlines() if line.strip()]
        starts = [i for i, line in enumerate(lines) if line.startswith(("error", "Error", "Traceback"))]
        text = " ".join(lines[starts[-1]:] if starts else lines[-3:])
        return text[:400]


def run(topology: Topology, cases: List[dict], directory: pathlib.Path) -> Tuple[Layout, RunResult]:
    layout = materialize(topology, cases, directory)
    env = dict(os.environ)
    env.update({var: str(directory / rel) for var, rel in topology.env.items()})
    env.pop("VELOCITY_FLOW_DEBUG", None)
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "cli", "run", "-q", topology.yaml], cwd=ROOT, env=env,
                              capture_output=True, timeout=RUN_TIMEOUT)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -9, exc.stdout or b"", (exc.stderr or b"") + f"\n[harness] timed out after {RUN_TIMEOUT}s".encode()
    seconds = time.monotonic() - started
    return layout, RunResult(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), seconds,
                             _dead_letters(directory / topology.dead), *_outputs(topology, directory))


def _dead_letters(path: pathlib.Path) -> List[Tuple[str, dict]]:
    if not path.exists():
        return []
    dead = []
    for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):  # not splitlines(): U+2028 is valid in JSON
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = {"_unparsable": line[:200]}
        dead.append((line, record if isinstance(record, dict) else {"_not_an_object": record}))
    return dead


def _outputs(topology: Topology, directory: pathlib.Path) -> Tuple[List[str], Dict[str, list]]:
    texts: List[str] = []
    parsed: Dict[str, list] = {}
    for rel in topology.files:
        path = directory / rel
        lines = path.read_text(encoding="utf-8", errors="replace").split("\n") if path.exists() else []
        lines = [line for line in lines if line.strip()]
        texts += lines
        parsed[rel] = [json.loads(line) for line in lines if line.strip()]
    for rel, tables in topology.duckdb:
        path = directory / rel
        if not path.exists():
            continue
        import duckdb

        con = duckdb.connect(str(path), read_only=True)
        try:
            for table in tables:
                try:
                    cursor = con.execute(f'SELECT * FROM "{table}"')
                except duckdb.Error:
                    continue
                names = [d[0] for d in cursor.description]
                rows = [dict(zip(names, row)) for row in cursor.fetchall()]
                parsed[f"{rel}:{table}"] = rows
                texts += [json.dumps(row, default=str) for row in rows]
        finally:
            con.close()
    return texts, parsed


# --- judging a run -----------------------------------------------------------------------

def judge(topology: Topology, cases: List[dict], layout: Layout, result: RunResult) -> List[str]:
    """Problems of one run, each naming its case (empty: every case behaved)."""
    problems: List[str] = []
    for forbidden in FORBIDDEN:
        if forbidden in result.stderr:
            problems.append(f"stderr contains {forbidden!r}: {result.stderr_line()}")
    if result.crashed:
        problems.append(f"exit code {result.returncode}: {result.stderr_line()}")
    by_origin = {f"{path}:{line}": cid for cid, places in layout.case_lines.items() for path, line in places}
    valid_origins = {f"{path}:{line}" for path, lines in layout.valid_lines.items() for line in lines}
    tokens = {token(c): c["id"] for c in cases}
    if topology.markers:  # after merge_transactions only the case's transaction id may be left
        tokens.update({f'"tx_id":"{tx}"': cid for cid, tx in layout.case_tx.items()})
    dead_of: Dict[str, List[dict]] = {c["id"]: [] for c in cases}
    for raw, record in result.dead:
        origin = record.get("origin")
        matched = set()
        if origin in by_origin:
            matched.add(by_origin[origin])
        matched |= {cid for tok, cid in tokens.items() if tok in raw}
        if not str(record.get("error") or "").strip() or not str(record.get("step") or "").strip():
            problems.append(f"dead letter without a step or a reason: {raw[:200]}")
        if not matched:
            what = "a valid input line" if origin in valid_origins else "no poison case"
            problems.append(f"unexpected dead letter ({what}): step {record.get('step')!r} error {str(record.get('error'))[:160]!r} "
                            f"origin {origin!r} event {json.dumps(record.get('event'), default=str)[:160]}")
            continue
        if len(matched) > 1:
            problems.append(f"one dead letter matches several cases {sorted(matched)}: {raw[:160]}")
        for cid in matched:
            dead_of[cid].append(record)
    def mine(case, text):
        tx = layout.case_tx.get(case["id"])
        return token(case) in text or (topology.markers is not None and f'"tx_id":"{tx}"' in text)

    out_of = {c["id"]: sum(1 for text in result.outputs if mine(c, text)) for c in cases}
    for case in cases:
        cid, expect = case["id"], case["expect"]
        deads, outs = dead_of[cid], out_of[cid]
        label = f"case {cid} ({case['what']}; {case['_where']})"
        if expect == "dead":
            if len(deads) != 1:
                problems.append(f"{label}: expected exactly 1 dead letter, found {len(deads)}"
                                + (f" (and it is in the output {outs}x)" if outs else "")
                                + (f"; steps {sorted({str(d.get('step')) for d in deads})}" if deads else ""))
            elif outs:
                problems.append(f"{label}: dead-lettered but also in the output")
        elif expect == "out":
            if deads:
                problems.append(f"{label}: expected in the output, dead-lettered {len(deads)}x: {str(deads[0].get('error'))[:200]}")
            if not outs:
                problems.append(f"{label}: expected in the output, not found")
        elif expect == "skip":
            if deads or outs:
                problems.append(f"{label}: expected to be skipped, found {len(deads)} dead letter(s), {outs} output(s)")
        elif expect == "dead|out":
            if len(deads) + (1 if outs else 0) != 1:
                problems.append(f"{label}: expected exactly one of 1 dead letter / in the output, found {len(deads)} dead letter(s), "
                                f"{outs} output(s)")
        for record in deads:
            step = str(record.get("step"))
            decode_step = step.endswith(":decode") or step in topology.inputs  # Decode's step id is the source name
            if case.get("step") == "decode" and not decode_step:
                problems.append(f"{label}: dead-lettered by step {step!r}, expected the decode step")
            elif case.get("step") not in (None, "decode") and step != case["step"]:
                problems.append(f"{label}: dead-lettered by step {step!r}, expected {case['step']!r}")
            if decode_step:
                places = {f"{p}:{n}" for p, n in layout.case_lines.get(cid, [])}
                if record.get("origin") not in places:
                    problems.append(f"{label}: decode dead letter without its origin path:line (origin {record.get('origin')!r})")
    return problems


def poison_free(result: RunResult, cases: List[dict], key: str) -> list:
    """The parsed outputs of ``key`` that belong to no case (what the valid inputs produced)."""
    toks = [token(c) for c in cases]
    rows = result.parsed.get(key, [])
    return [r for r in rows if not any(t in json.dumps(r, default=str) for t in toks)]


# --- crashes: which case stops the flow ----------------------------------------------------

def isolate_crashers(topology: Topology, cases: List[dict], directory: pathlib.Path) -> Tuple[Dict[str, str], int]:
    """The cases that make the flow fail on their own (with the valid inputs), found by halving:
    case id -> the failing run's error line; and how many runs it took."""
    found: Dict[str, str] = {}
    runs = [0]

    def fails(subset: List[dict], label: str):
        runs[0] += 1
        _, result = run(topology, subset, directory / f"bisect-{label}")
        bad = result.crashed or any(f in result.stderr for f in FORBIDDEN)
        return (f"exit {result.returncode}: {result.stderr_line()}" if bad else None)

    def search(subset: List[dict], label: str, why: Optional[str]) -> None:
        if why is None:
            return
        if len(subset) == 1:
            found[subset[0]["id"]] = why
            return
        half = len(subset) // 2
        parts = [(subset[:half], label + "a"), (subset[half:], label + "b")]
        with ThreadPoolExecutor(2) as pool:
            whys = list(pool.map(lambda p: fails(*p), parts))
        for (part, sub), part_why in zip(parts, whys):
            search(part, sub, part_why)

    search(cases, "", "the whole batch fails")
    return found, runs[0]


@dataclass
class Verdict:
    problems: List[str]
    crashers: Dict[str, str]
    result: RunResult
    layout: Layout
    cases: List[dict]
    runs: int
    seconds: float


def examine(topology_name: str, directory: pathlib.Path, cases: Optional[List[dict]] = None) -> Verdict:
    """The whole procedure for one topology: one batched run; if it crashes, find the cases that
    crash on their own, report them, and judge a batched run of the others."""
    topology = TOPOLOGIES[topology_name]
    cases = cases_for(topology_name, cases)
    started = time.monotonic()
    layout, result = run(topology, cases, directory / "all")
    runs, crashers = 1, {}
    if result.crashed or any(f in result.stderr for f in FORBIDDEN):
        crashers, extra = isolate_crashers(topology, cases, directory)
        runs += extra
        rest = [c for c in cases if c["id"] not in crashers]
        layout, result = run(topology, rest, directory / "rest")
        runs += 1
        cases = rest
    problems = [f"case {cid} ({_case(cid).get('what')}): the flow fails: {why}" for cid, why in sorted(crashers.items())]
    if crashers and (result.crashed or any(f in result.stderr for f in FORBIDDEN)):
        problems.append("without the cases above the flow still fails (a combination of cases?): " + result.stderr_line())
    problems += judge(topology, cases, layout, result)
    return Verdict(problems, crashers, result, layout, cases, runs, time.monotonic() - started)


_ALL: Dict[str, dict] = {}


def _case(cid: str) -> dict:
    if not _ALL:
        _ALL.update({c["id"]: c for c in load_cases()})
    return _ALL.get(cid, {})
