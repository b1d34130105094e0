"""``run --http`` on a flow of files: /metrics (read with Prometheus's parser) counts exactly
the known input, the JSON API follows its schema, values from the environment are never
served, and the address rules (loopback unless --http-public, a port in use) are one line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from tests.observe.scrape import SCHEMA, address, api, get, metrics, sample

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-not-for-scrapers"
TOPOLOGY = """\
version: 1
name: observed
sources:
  orders: {{file: {{path: "{dir}/${{SKIP_TAG}}/in.jsonl", batch_size: 100}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
  - id: kept
    filter: "tag != '${{SKIP_TAG}}' and n >= 100"
sinks:
  out: {{from: kept, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""
TOTAL, BAD = 1000, 100  # every 10th event has n = "x": a cast dead letter carrying the secret


def _write_flow(tmp_path: Path) -> Path:
    (tmp_path / SECRET).mkdir()  # the input's path holds the secret too: partition labels, origins
    with open(tmp_path / SECRET / "in.jsonl", "w") as handle:
        for i in range(TOTAL):
            handle.write(json.dumps({"n": "x" if i % 10 == 0 else i, "tag": SECRET if i % 10 == 0 else "ok"}) + "\n")
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(dir=tmp_path))
    return path


def _run(*argv, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "SKIP_TAG": SECRET}
    return subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", *argv], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kwargs)


def _finished(base: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api(base, "status", "status")
        if status["state"] == "finished":
            return status
        time.sleep(0.2)
    raise AssertionError(f"the flow did not finish in {timeout}s: {status}")


def test_metrics_and_api_count_the_known_input_exactly(tmp_path):
    path = _write_flow(tmp_path)
    status_file = tmp_path / "status.json"
    flow = _run(str(path), "--http", "127.0.0.1:0", "--http-linger", "60", "--status-file", str(status_file))
    try:
        base = address(status_file)
        status = _finished(base)
        scraped = metrics(base)
        kept = sum(1 for i in range(TOTAL) if i % 10 and i >= 100)
        expected = {"orders": (TOTAL, TOTAL, 0), "typed": (TOTAL, TOTAL - BAD, BAD), "kept": (TOTAL - BAD, kept, 0),
                    "dead_letter": (BAD, BAD, 0)}
        for step, (events_in, events_out, dead) in expected.items():
            assert sample(scraped, "velocity_flow_step_events_in_total", step=step) == events_in, step
            assert sample(scraped, "velocity_flow_step_events_out_total", step=step) == events_out, step
            assert sample(scraped, "velocity_flow_step_dead_letters_total", step=step) == dead, step
            assert status["steps"][step] == {"in": events_in, "out": events_out, "dead": dead}
        assert sample(scraped, "velocity_flow_sink_delivered_total", sink="out") == kept
        assert sample(scraped, "velocity_flow_sink_failed_total", sink="out") == 0
        batches = TOTAL // 100  # batch_size 100: one histogram observation a batch
        assert sample(scraped, "velocity_flow_step_batch_seconds_count", step="typed") == batches
        assert sample(scraped, "velocity_flow_step_batch_seconds_bucket", step="typed", le="+Inf") == batches
        assert sample(scraped, "velocity_flow_step_batch_seconds_sum", step="typed") > 0
        assert sample(scraped, "velocity_flow_info", topology="observed", state="finished") == 1
        snapshot = sample(scraped, "velocity_flow_source_last_snapshot_timestamp_seconds", source="orders",
                          partition=f"{tmp_path}/${{SKIP_TAG}}/in.jsonl")  # the last epoch's, at the end of the input
        assert time.time() - 60 < snapshot <= time.time()
        assert sample(scraped, "process_cpu_seconds_total") > 0
        assert sample(scraped, "process_resident_memory_bytes") > 0

        topology = api(base, "topology", "topology")
        assert [n["counters"] for n in topology["nodes"]] == ["orders", "typed", "kept", "sink:out", "dead_letter"]
        assert {(e["from"], e["to"]) for e in topology["edges"]} == {
            ("src_orders", "step_typed"), ("step_typed", "step_kept"), ("step_kept", "sink_out")}
        health = api(base, "health", "health")
        assert health == {"ok": True, "state": "finished", "down": {}}
        dead = api(base, "dead-letters?limit=5", "dead_letters")
        assert dead["total"] == BAD and dead["by_step"] == {"typed": BAD} and len(dead["recent"]) == 5
        assert dead["recent"][0]["origin"] == f"{tmp_path}/${{SKIP_TAG}}/in.jsonl:{TOTAL - 9}"  # the newest first
        assert "'x'" in dead["recent"][0]["error"] and "${SKIP_TAG}" in dead["recent"][0]["event"]  # redacted
        assert json.loads(get(f"{base}/api/v1/schema")[2]) == SCHEMA
        jsonschema.Draft202012Validator.check_schema(SCHEMA)

        served = [get(f"{base}{p}")[2] for p in ("/", "/metrics", "/api/v1/status", "/api/v1/topology",
                                                  "/api/v1/dead-letters?limit=100", "/api/v1/graph.svg")]
        assert all(SECRET.encode() not in body for body in served)
        assert b"<svg" in served[-1] and all(f"<title>{n['id']}</title>".encode() in served[-1]
                                             for n in topology["nodes"])
        page = served[0].decode()
        assert "/static/app.js" in page and "://" not in page  # nothing from elsewhere: no CDN
        for name in ("app.js", "style.css", "favicon.svg"):
            assert get(f"{base}/static/{name}")[0] == 200
        assert get(f"{base}/static/../api.schema.json")[0] == 404
        assert get(f"{base}/nowhere")[0] == 404
        request = urllib.request.Request(f"{base}/api/v1/status", headers={"Host": "rebound.example:80"})
        with pytest.raises(urllib.error.HTTPError) as refused:  # DNS rebinding: another site's name
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
        saved = json.loads(status_file.read_text())
        assert saved["http"] == base and saved["state"] == "finished"
    finally:
        flow.send_signal(signal.SIGTERM)  # ends the linger
        out, err = flow.communicate(timeout=60)
    assert flow.returncode == 0, err
    assert f"serving {base}/" in err and SECRET not in err + out


def test_another_machine_address_needs_http_public(tmp_path):
    flow = _run(str(_write_flow(tmp_path)), "--http", "0.0.0.0:0")
    out, err = flow.communicate(timeout=60)
    assert flow.returncode == 2
    assert err.strip().splitlines() == [err.strip()] and "--http-public" in err and "Traceback" not in err


def test_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        flow = _run(str(_write_flow(tmp_path)), "--http", f"127.0.0.1:{port}")
        out, err = flow.communicate(timeout=60)
    assert flow.returncode == 3
    assert err.strip() == (f"error: --http 127.0.0.1:{port}: the address is in use (another program listens "
                           "there); choose another port, or 0 for any free one")
    assert not (tmp_path / "out.jsonl").exists()  # the flow did not start


@pytest.mark.parametrize("text, expected", [("127.0.0.1:9464", ("127.0.0.1", 9464)), (":0", ("127.0.0.1", 0)),
                                            ("9000", ("127.0.0.1", 9000)), ("[::1]:80", ("::1", 80)),
                                            ("localhost:1", ("localhost", 1))])
def test_addresses(text, expected):
    from cli.observe.address import checked, parse_address

    assert parse_address(text) == expected
    assert checked(*expected, public=False).port == expected[1]


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "example.org", "::"])
def test_other_hosts_are_refused_without_public(host):
    from cli.observe.address import NotLoopback, checked

    with pytest.raises(NotLoopback):
        checked(host, 1, public=False)
    assert checked(host, 1, public=True).host == host


def test_without_graphviz_the_page_gets_a_plain_drawing_of_the_same_graph(tmp_path, monkeypatch):
    import shutil as shutil_module

    from cli.observe import picture
    from engine.binding import validate_file
    from engine.topology.render import graph

    monkeypatch.setenv("SKIP_TAG", SECRET)
    topology = validate_file(str(_write_flow(tmp_path))).topology
    monkeypatch.setattr(shutil_module, "which", lambda name: None)
    drawn, layout = picture.svg(topology, topology.redact)
    assert layout == "fallback" and drawn.startswith("<svg")
    nodes, edges = graph(topology.definition)
    assert all(drawn.count(f"<title>{node}</title>") == 1 for node, _, _, _ in nodes)
    assert all(f"<title>{src}&#45;&gt;{dst}</title>" in drawn for src, dst, _ in edges)
    import xml.etree.ElementTree as ElementTree

    ElementTree.fromstring(drawn)  # well-formed: the page parses it as XML
