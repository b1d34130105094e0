"""The poison harness: shipped topologies run through the real CLI on hand-written valid inputs
mixed with the malformed inputs of ``tests/poison/corpus/cases/*.jsonl``.

Written independently of the engine's internals and of the TMS simulator: inputs are files,
the flow is ``python -m cli run -q <topology>`` in a subprocess, results are read back from the
sink files, the DuckDB databases and the dead-letter file.

The corpus's format and how its cases become input files: tests/poison/inputs.py.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from tests.poison.inputs import (  # noqa: F401 - the tests read them as harness.X
    ROOT,
    TOPOLOGIES,
    Layout,
    Topology,
    cases_for,
    load_cases,
    materialize,
    render,
    token,
)

FORBIDDEN = ("Traceback", "panicked", "PanicException")
RUN_TIMEOUT = 120


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
