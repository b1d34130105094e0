"""``POST /api/v1/query`` of ``run --http`` (cli/observe/query_api.py): the path of
``velocity-flow query`` over HTTP. A running flow answers whole batches of its DuckDB sink
while it writes, and its file once it has finished; a PostgreSQL sink is queried in a
read-only transaction; what is not a read-only query from this machine is refused in one line."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import psycopg

from tests.cli.test_query import BATCH, LIVE, _changes
from tests.observe.scrape import SCHEMA, address, api

ROOT = Path(__file__).resolve().parents[2]
# the flow of tests/cli/test_query.py, with a file sink too (not queryable)
TOPOLOGY = LIVE.format(batch=BATCH) + "  copy: {from: changes, file: {path: out/copy.jsonl}}\n"


def post(base: str, body, content_type: str = "application/json", host=None):
    """(status, JSON answer) of a POST to /api/v1/query."""
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type, "Content-Length": str(len(data))}
    if host:
        headers["Host"] = host
    try:
        conn.request("POST", "/api/v1/query", body=data, headers=headers)
        response = conn.getresponse()
        answer = json.loads(response.read())
    finally:
        conn.close()
    definition = "query" if response.status == 200 else "error"
    jsonschema.validate(answer, {**SCHEMA, "$ref": f"#/$defs/{definition}"})
    return response.status, answer


def _run(cwd: Path, *argv: str, env=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", *argv], cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_a_running_flow_answers_queries_on_its_duckdb_sink_over_http(tmp_path):
    _changes(tmp_path / "changes.jsonl", 120_000)
    (tmp_path / "flow.yaml").write_text(TOPOLOGY)
    flow = _run(tmp_path, "flow.yaml", "--http", "127.0.0.1:0", "--http-linger", "60",
                "--status-file", str(tmp_path / "status.json"))
    sql = "SELECT (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM b) AS b, (SELECT max(g) FROM a) AS g"
    try:
        base = address(tmp_path / "status.json")
        seen = []
        while api(base, "status", "status")["state"] in ("starting", "running"):
            status, answer = post(base, {"sql": sql})
            assert status == 200, answer
            a, b, _ = answer["rows"][0]
            assert answer["sink"] == "fast" and answer["columns"] == ["a", "b", "g"]
            assert a == b and a % 250 == 0, answer  # both tables at the same whole batch
            seen.append(a)
            time.sleep(0.05)
        assert seen and seen == sorted(seen), seen
        # finished (lingering): the flow has closed its file, read read-only now
        status, answer = post(base, {"sql": sql, "sink": "fast"})
        assert (status, answer["rows"]) == (200, [[60_000, 60_000, 239]])
        refusals = [
            post(base, {"sql": "DELETE FROM a"}),
            post(base, {"sql": "SELECT nope FROM a"}),
            post(base, {"sql": "SELECT 1", "sink": "fats"}),
            post(base, {"sql": "SELECT 1", "sink": "copy"}),
            post(base, {"query": "SELECT 1"}),
            post(base, b"SELECT 1", content_type="text/plain"),
            post(base, b"{not json"),
            post(base, {"sql": "SELECT 1"}, host="evil.example:80"),
        ]
        assert [s for s, _ in refusals] == [422, 422, 404, 404, 400, 415, 400, 403], refusals
        assert all("\n" not in a["error"] for _, a in refusals)
        assert refusals[2][1]["error"].startswith("no duckdb or postgres sink 'fats' in flow.yaml (it has: fast)")
        assert api(base, "status", "status")["state"] == "finished"  # a refused query never stops anything
    finally:
        flow.terminate()
        flow.wait(timeout=60)


def test_a_postgres_sink_is_queried_over_http_in_a_read_only_transaction(tmp_path, postgres_dsn, postgres_schema):
    (tmp_path / "changes.jsonl").write_text("".join(json.dumps({"id": i, "v": f"v{i}"}) + "\n" for i in range(10)))
    (tmp_path / "flow.yaml").write_text(
        "version: 1\nname: pg-http\nsources:\n  rows: {file: {path: changes.jsonl}}\n"
        "sinks:\n  fast:\n    from: rows\n    postgres: {dsn: '${PG_DSN}', schema: '${PG_SCHEMA}', table: t, "
        "mode: upsert, key: [id], columns: {id: int, v: str}}\n")
    flow = _run(tmp_path, "flow.yaml", "--http", "127.0.0.1:0", "--http-linger", "60",
                "--status-file", str(tmp_path / "status.json"),
                env={"PG_DSN": postgres_dsn, "PG_SCHEMA": postgres_schema})
    try:
        base = address(tmp_path / "status.json")
        deadline = time.monotonic() + 60
        while api(base, "status", "status")["state"] != "finished" and time.monotonic() < deadline:
            time.sleep(0.1)
        status, answer = post(base, {"sql": "SELECT count(*) AS n, max(v) AS top FROM t"})
        assert (status, answer["rows"], answer["types"]) == (200, [[10, "v9"]], ["int8", "text"])
        status, answer = post(base, {"sql": "DELETE FROM t"})
        assert status == 422 and "read-only transaction" in answer["error"]
        assert postgres_dsn not in answer["error"]
    finally:
        flow.terminate()
        flow.wait(timeout=60)
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute(f'SELECT count(*) FROM "{postgres_schema}".t').fetchone() == (10,)
