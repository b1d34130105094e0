"""The page of ``run --http`` in a real browser (headless Chromium, Debian's ``chromium``):
while a Kafka flow runs, the DAG shows every node of the topology with a non-zero rate, a
screenshot is saved, and the page logs no error. Skips outside CI when Chromium is missing;
under CI (``CI=true``) it installs it (root, apt-get) or fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.observe.chromium import Browser, find_chromium
from tests.observe.scrape import address, api
from tests.services.ci import in_ci

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGY = """\
version: 1
name: shipments
sources:
  orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: true, batch_size: 20}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
  - id: heavy
    filter: "n % 2 == 0"
sinks:
  out: {{kafka: {{brokers: "{bootstrap}", topic: {target}}}, from: heavy}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


@pytest.fixture(scope="module")
def chromium():
    binary = find_chromium(install=in_ci())
    if binary is None:
        if in_ci():
            pytest.fail("Chromium is not installed and could not be (apt-get install -y chromium)", pytrace=False)
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return binary


def _feed(bootstrap: str, topic: str, stop: threading.Event) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    n = 0
    while not stop.is_set():
        for _ in range(50):  # ~500 events/s, one in ten a dead letter (n is not a number)
            producer.produce(topic, json.dumps({"n": "x" if n % 10 == 0 else n}).encode())
            n += 1
        producer.poll(0)
        time.sleep(0.1)
    producer.flush(10)


NODES = """JSON.stringify([...document.querySelectorAll('#dag g.node')].map(g => ({
  step: g.getAttribute('data-step'), rate: Number(g.getAttribute('data-rate') || 0),
  text: g.textContent})))"""


@pytest.mark.parametrize("layout", ["graphviz", "fallback"])
def test_the_page_shows_every_step_running(layout, chromium, kafka_bootstrap, kafka_topic, tmp_path):
    if layout == "graphviz" and shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed (the fallback case runs)")
    env = {**os.environ}
    if layout == "fallback":  # no 'dot' on PATH (the flow's Python is started by its full path)
        (tmp_path / "bin").mkdir()
        env["PATH"] = str(tmp_path / "bin")
    source, target = kafka_topic("page-in", 2), kafka_topic("page-out")
    path = tmp_path / "flow.yaml"
    path.write_text(TOPOLOGY.format(bootstrap=kafka_bootstrap, source=source, target=target, dir=tmp_path))
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(kafka_bootstrap, source, stop), daemon=True)
    feeder.start()
    status_file = tmp_path / "status.json"
    flow = subprocess.Popen([sys.executable, "-m", "cli", "run", "-q", str(path), "--http", "127.0.0.1:0",
                             "--status-file", str(status_file)], cwd=ROOT, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    browser = None
    try:
        base = address(status_file)
        topology = api(base, "topology", "topology")
        assert topology["layout"] == layout
        expected = {n["counters"] for n in topology["nodes"]}
        browser = Browser(chromium)
        browser.open(base + "/")
        deadline, nodes = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            nodes = json.loads(browser.evaluate(NODES) or "[]")
            if {n["step"] for n in nodes} == expected and all(n["rate"] > 0 for n in nodes):
                break
        assert {n["step"] for n in nodes} == expected, nodes
        assert all(n["rate"] > 0 for n in nodes), nodes
        assert all("/s" in n["text"] for n in nodes)
        time.sleep(2)  # the sparklines and the dead letters table fill in
        dead_rows = browser.evaluate("document.querySelectorAll('#dead tbody tr').length")
        assert dead_rows > 0
        shot = tmp_path / f"page-{layout}.png"
        browser.screenshot(shot)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        assert browser.errors == []
    finally:
        if browser is not None:
            browser.close()
        stop.set()
        feeder.join(30)
        flow.send_signal(signal.SIGTERM)
        _, err = flow.communicate(timeout=90)
    assert flow.returncode == 0, err
