"""Topologies on a real Kafka broker: exact outputs, partitions over workers and processes,
dead letters with positions, loud delivery failures, resume without loss or duplicates."""

import json
import os
import uuid
import subprocess
import sys

import duckdb
import pytest

from cli.main import main
from engine.compiler import compile_topology
from engine.runtime.runner import RunFailed, RunOptions, run_dataflow
from engine.binding import validate_text
from tests.integration.kafka_io import consume_all, produce

ORDERS = [{"id": i, "status": ["NEW", "DRAFT", "PLANNED"][i % 3], "kg": f"{i}.5", "city": ["Milano", "Roma"][i % 2]}
          for i in range(300)]


KAFKA_TO_KAFKA = """\
    version: 1
    name: k2k
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false, metadata: true}}}}
    steps:
      - id: typed
        cast: {{fields: {{kg: "decimal(10,2)"}}}}
      - id: active
        filter: "status != 'DRAFT'"
      - id: domain
        map: {{fields: {{id: id, status: lower(status), kg: kg, partition: _meta.partition}}, key: id}}
    sinks:
      out:
        from: domain
        kafka: {{brokers: "{bootstrap}", topic: {target}, headers: {{status: "upper(status)"}}}}
      table:
        from: domain
        duckdb: {{path: "{dir}/out.duckdb", table: orders, mode: upsert, key: [id],
                 columns: {{id: int, status: str, kg: "decimal(10,2)"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def expected_domain():
    return {e["id"]: (e["status"].lower(), f"{e['id']}.50") for e in ORDERS if e["status"] != "DRAFT"}


def test_kafka_to_kafka_and_duckdb_with_exact_output(kafka_bootstrap, kafka_topic, flow):
    source, target = kafka_topic("orders", partitions=4), kafka_topic("domain", partitions=2)
    produce(kafka_bootstrap, source, ORDERS, key=lambda e: e["id"], raw=[b"{broken"])
    ran = flow.run(KAFKA_TO_KAFKA, bootstrap=kafka_bootstrap, source=source, target=target)
    messages = consume_all(kafka_bootstrap, target, expected=200)
    assert {int(k): (v["status"], str(v["kg"])) for k, v, _ in messages} == {
        i: (s, kg.replace(".50", ".5")) for i, (s, kg) in expected_domain().items()}
    assert len(messages) == 200 and all(h == {"status": v["status"].upper()} for _, v, h in messages)
    assert all("_key" not in v and "_meta" not in v for _, v, _ in messages)
    rows = ran.table("table", "SELECT id, status, kg::VARCHAR FROM orders")
    assert {r[0]: (r[1], r[2]) for r in rows} == expected_domain()
    dead = ran.dead
    assert [(d["step"], d["event"]) for d in dead] == [("orders", "{broken")]
    assert dead[0]["origin"].startswith(f"{source}[") and "@" in dead[0]["origin"]


AGGREGATE = """\
    version: 1
    name: kagg
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false}}}}
    steps:
      - id: per-city
        aggregate: {{key: city, compute: {{n: count(), ids: sum(id)}}, emit: final}}
    sinks:
      out: {{from: per-city, file: {{path: "{out}"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def _aggregate_rows(path):
    return sorted((r["city"], r["n"], r["ids"]) for r in map(json.loads, open(path).read().splitlines()))


def test_partitions_over_workers_and_processes_give_the_same_aggregates(kafka_bootstrap, kafka_topic, flow):
    source = kafka_topic("orders", partitions=4)
    produce(kafka_bootstrap, source, ORDERS, key=lambda e: e["id"])  # keys (cities) spread over partitions
    expected = sorted((city, 150, sum(e["id"] for e in ORDERS if e["city"] == city)) for city in ("Milano", "Roma"))
    for name, options in [("one", RunOptions()), ("two", RunOptions(workers=2))]:
        out = flow.dir / f"{name}.jsonl"
        flow.run(AGGREGATE, options, bootstrap=kafka_bootstrap, source=source, out=out)
        assert _aggregate_rows(out) == expected, name
    path = flow.yaml(AGGREGATE, "kagg.yaml", bootstrap=kafka_bootstrap, source=source, out=flow.dir / "procs.jsonl")
    code = subprocess.run([sys.executable, "-m", "cli", "deploy", str(path), "-p", "2", "-r", str(flow.dir / "rec")],
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          capture_output=True, text=True, timeout=180)
    assert code.returncode == 0, code.stderr
    assert "one Bytewax cluster, not shares (docs/deploy.md): step 'per-city' (aggregate) keeps state" in code.stdout
    assert _aggregate_rows(flow.dir / "procs.jsonl") == expected


def test_a_failed_delivery_stops_the_flow_loudly(kafka_bootstrap, kafka_topic, flow):
    source = kafka_topic("orders")
    produce(kafka_bootstrap, source, ORDERS[:5])
    text = KAFKA_TO_KAFKA.replace('headers: {{status: "upper(status)"}}', 'timeout: 2s')
    with pytest.raises(RunFailed) as caught:
        flow.run(text, bootstrap=kafka_bootstrap, source=source, target="no-such-topic-here")
    assert "kafka sink:" in caught.value.message and "not delivered" in caught.value.message


def test_an_unreachable_broker_fails_fast_with_a_clear_message(flow):
    text = AGGREGATE.replace("tail: false", "tail: false, timeout: 2s")
    with pytest.raises(RunFailed) as caught:
        flow.run(text, bootstrap="127.0.0.1:1", source="x", out=flow.dir / "o.jsonl")
    assert "cannot reach brokers at 127.0.0.1:1 within 2s" in caught.value.message


DEPLOY = """\
    version: 1
    name: dep
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false}}}}
    steps:
      - id: typed
        cast: {{fields: {{id: int}}}}
    sinks:
      table:
        from: typed
        duckdb: {{path: "{dir}/out.duckdb", table: orders, mode: upsert, key: [id], columns: {{id: int, status: str}}}}
      copy: {{from: typed, kafka: {{brokers: "{bootstrap}", topic: {target}, key: "str(id)"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """
TOPICS = """    topics:
      {target}: {{partitions: 3, config: {{cleanup.policy: compact}}}}
    """


def test_deploy_creates_topics_idempotently_and_refuses_conflicts(kafka_bootstrap, kafka_topic, flow, capsys, monkeypatch):
    monkeypatch.chdir(flow.dir)
    source = kafka_topic("orders")
    target = f"created-{source}"
    path = flow.yaml(DEPLOY.rstrip(" ") + TOPICS, "dep.yaml", bootstrap=kafka_bootstrap, source=source, target=target)
    assert main(["deploy", "--plan", str(path)]) == 0
    assert "create" in capsys.readouterr().out
    produce(kafka_bootstrap, source, ORDERS[:10])
    assert main(["deploy", "-q", str(path)]) == 0
    assert main(["deploy", "--plan", str(path)]) == 0
    assert "unchanged" in capsys.readouterr().out
    path.write_text(path.read_text().replace("partitions: 3", "partitions: 5"))
    assert main(["deploy", "--plan", str(path)]) == 1
    assert f"topic {target}: partitions: 3 on the cluster, 5 declared" in capsys.readouterr().err
    assert len(consume_all(kafka_bootstrap, target, expected=10)) == 10


def test_a_restarted_deploy_resumes_without_losing_or_duplicating(kafka_bootstrap, kafka_topic, flow, monkeypatch):
    monkeypatch.chdir(flow.dir)
    source = kafka_topic("orders", partitions=2)
    target = kafka_topic("copy")
    path = flow.yaml(DEPLOY, "dep.yaml", bootstrap=kafka_bootstrap, source=source, target=target)
    produce(kafka_bootstrap, source, ORDERS[:100])
    assert main(["deploy", "-q", "-s", "0.2", str(path)]) == 0
    produce(kafka_bootstrap, source, ORDERS[100:250])
    assert main(["deploy", "-q", "-s", "0.2", str(path)]) == 0  # resumes from the recovery store
    db = duckdb.connect(str(flow.dir / "out.duckdb"))
    assert db.execute("SELECT count(*), count(DISTINCT id), min(id), max(id) FROM orders").fetchone() == (250, 250, 0, 249)
    assert sorted(v["id"] for _, v, _ in consume_all(kafka_bootstrap, target, expected=250)) == list(range(250))


CRASH = """\
    version: 1
    name: crash
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: {tail}}}}}
    sinks:
      copy: {{from: orders, file: {{path: "{dir}/copy.jsonl"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_killed_deployment_resumes_exactly_once_into_a_file(kafka_bootstrap, kafka_topic, flow):
    import signal
    import time

    source = kafka_topic("orders", partitions=2)
    path, copy = flow.dir / "crash.yaml", flow.dir / "copy.jsonl"
    command = [sys.executable, "-m", "cli", "deploy", "-q", "-s", "0.3", "-r", str(flow.dir / "rec"), str(path)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    flow.yaml(CRASH, "crash.yaml", bootstrap=kafka_bootstrap, source=source, tail="true")
    produce(kafka_bootstrap, source, ORDERS[:150])
    running = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not copy.exists() or len(copy.read_text().splitlines()) < 150):
        time.sleep(0.1)
    running.send_signal(signal.SIGKILL)  # no clean shutdown: whatever was written after the snapshot is suspect
    running.wait(timeout=30)
    assert len(copy.read_text().splitlines()) == 150
    produce(kafka_bootstrap, source, ORDERS[150:])
    flow.yaml(CRASH, "crash.yaml", bootstrap=kafka_bootstrap, source=source, tail="false")
    assert subprocess.run(command, cwd=root, capture_output=True, timeout=120).returncode == 0
    ids = [json.loads(line)["id"] for line in copy.read_text().splitlines()]
    assert sorted(ids) == [e["id"] for e in ORDERS]  # nothing lost, nothing twice


FILE_TO_KAFKA = """\
    version: 1
    name: f2k
    sources:
      orders: {{file: {{path: "{dir}/in.jsonl"}}}}
    sinks:
      routed: {{from: orders, kafka: {{brokers: "{bootstrap}", topic_from: "if(kg > 100, '{big}', '{small}')", key: id}}}}
    dead_letter: {{kafka: {{brokers: "{bootstrap}", topic: {dead}}}}}
    """


def test_file_to_kafka_with_a_topic_per_event_and_dead_letters_on_kafka(kafka_bootstrap, kafka_topic, flow):
    big, small, dead = kafka_topic("big"), kafka_topic("small"), kafka_topic("dead")
    flow.write("in.jsonl", [{"id": i, "kg": i * 10} for i in range(20)] + ["oops"])
    flow.run(FILE_TO_KAFKA, bootstrap=kafka_bootstrap, big=big, small=small, dead=dead)
    assert sorted(int(k) for k, _, _ in consume_all(kafka_bootstrap, big, expected=9)) == list(range(11, 20))
    assert sorted(v["id"] for _, v, _ in consume_all(kafka_bootstrap, small, expected=11)) == list(range(11))
    [(_, letter, _)] = consume_all(kafka_bootstrap, dead, expected=1)
    assert (letter["step"], letter["event"], letter["origin"]) == ("orders", "oops", f"{flow.dir}/in.jsonl:21")


def test_generated_tms_events_on_kafka_feed_the_domain_flow(kafka_bootstrap, tmp_path, monkeypatch):
    """generate --kafka publishes Debezium-like topics; a domain flow reads them from Kafka."""
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    prefix = f"tms{uuid.uuid4().hex[:8]}"
    assert main(["generate", "tms", "--orders", "15", "--seed", "5", "--out", str(tmp_path / "tms"),
                 "--kafka", kafka_bootstrap, "--topic-prefix", prefix]) == 0
    text = open("topologies/velocity/pickup_domain.yaml").read()
    for name in ("pickups", "transactions"):
        topic = f"{prefix}.public.pickup" if name == "pickups" else f"{prefix}.transaction"
        start = text.index(f"  {name}: {{file:")
        end = text.index("\n", start)
        text = text[:start] + f'  {name}: {{kafka: {{brokers: "{kafka_bootstrap}", topic: {topic}, tail: false}}}}' + text[end:]
    result = validate_text("pickup.yaml", text, env={"VF_OUT": str(tmp_path / "out")})
    assert result.ok, [d.message for d in result.diagnostics]
    run_dataflow(compile_topology(result.topology), RunOptions())
    from_kafka = [json.loads(line) for line in (tmp_path / "out" / "domain" / "pickup.jsonl").read_text().splitlines()]
    truth = [json.loads(line) for line in (tmp_path / "tms" / "truth" / "tables" / "pickup.jsonl").read_text().splitlines()]
    final = {}
    for event in from_kafka:
        for change in event["changes"]:
            final[change["after"]["id"]] = change["after"]["status"]
    assert final == {row["id"]: row["status"] for row in truth}


GROUP_FLOW = """\
    version: 1
    name: kgroup
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: false, group_id: {group}, start: committed}}}}
    steps:
      - id: typed
        cast: {{fields: {{id: int}}}}
    sinks:
      out: {{from: typed, file: {{path: "{out}"}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_a_group_resumes_from_its_committed_offsets_without_a_recovery_store(kafka_bootstrap, kafka_topic, flow):
    """The last epoch's offsets are committed once the run has ended (during a run, each snapshot
    commits the one before it): a second run with ``start: committed`` starts at the end."""
    from tests.integration.kafka_io import committed_offset

    source, group = kafka_topic("grouped", partitions=3), f"g-{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, source, ORDERS, key=lambda e: e["id"])
    first = flow.run(GROUP_FLOW, bootstrap=kafka_bootstrap, source=source, group=group, out=f"{flow.dir}/a.jsonl")
    assert sorted(e["id"] for e in first.rows("out")) == list(range(len(ORDERS)))
    assert sum(committed_offset(kafka_bootstrap, group, source, p) for p in range(3)) == len(ORDERS)
    produce(kafka_bootstrap, source, [{"id": "1000"}], key=lambda e: e["id"])
    second = flow.run(GROUP_FLOW, bootstrap=kafka_bootstrap, source=source, group=group, out=f"{flow.dir}/b.jsonl")
    assert [e["id"] for e in second.rows("out")] == [1000]
