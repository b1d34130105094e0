"""velocity-flow tap FILE STEP and run --tap STEP: the events leaving a place, one JSON line each."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from cli.main import main

FLOW = """\
version: 1
name: tapped
sources: {{orders: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int, kg: "decimal(10,2)", at: timestamp}}}}
  - id: split
    route: {{when: {{big: "n > 5"}}, otherwise: small}}
sinks:
  big: {{from: split.big, file: {{path: "{dir}/big.jsonl"}}}}
  small: {{from: split.small, file: {{path: "{dir}/small.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
"""


@pytest.fixture
def flow(tmp_path):
    lines = [json.dumps({"n": str(i), "kg": f"{i}.50", "at": "2024-05-01T10:00:00Z"}) for i in range(10)]
    lines[3] = json.dumps({"n": "three", "kg": "1", "at": "2024-05-01T10:00:00Z"})
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\nnot json\n")
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.format(dir=tmp_path))
    return tmp_path, str(path)


def _lines(text: str) -> list:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_tap_prints_exactly_the_events_leaving_a_step(flow, capsys):
    directory, path = flow
    assert main(["tap", path, "typed"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == '{"n":0,"kg":0.50,"at":"2024-05-01T10:00:00+00:00"}'  # exact decimal, ISO time
    assert [e["n"] for e in _lines(out)] == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert "9 event(s) shown of 9" in err and "dry run" in err
    # dry: the sinks and the dead-letter sink are left untouched
    assert not any((directory / name).exists() for name in ("big.jsonl", "small.jsonl", "dead.jsonl"))


def test_tap_a_route_output_and_the_dead_letters(flow, capsys):
    _, path = flow
    assert main(["tap", path, "split.big"]) == 0
    assert [e["n"] for e in _lines(capsys.readouterr().out)] == [6, 7, 8, 9]
    assert main(["tap", path, "dead_letter"]) == 0
    dead = _lines(capsys.readouterr().out)
    assert sorted((d["step"], d["origin"].rsplit("/", 1)[-1]) for d in dead) == [("orders", "in.jsonl:11"),
                                                                                  ("typed", "in.jsonl:4")]
    assert {d["step"]: d["event"] for d in dead}["orders"] == "not json"  # as the source read it


def test_tap_limit_and_every(flow, capsys):
    _, path = flow
    assert main(["tap", path, "orders", "--every", "3"]) == 0
    assert [e["n"] for e in _lines(capsys.readouterr().out)] == ["0", "three", "6", "9"]  # events 1, 4, 7, 10
    assert main(["tap", path, "orders", "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    assert [e["n"] for e in _lines(out)] == ["0", "1"] and "2 event(s) shown" in err
    assert main(["tap", path, "orders", "--every", "2", "--limit", "3"]) == 0
    assert [e["n"] for e in _lines(capsys.readouterr().out)] == ["0", "2", "4"]


def test_tap_pretty_and_sink_input(flow, capsys):
    _, path = flow
    assert main(["tap", path, "sink:small", "--format", "pretty", "--limit", "1"]) == 0
    out = capsys.readouterr().out
    assert '"n": 0' in out and "\n" in out.strip()  # indented JSON
    assert '"kg": 0.50' in out  # the decimal's digits, as the json format writes them (rich's print_json: 0.5)


def test_an_unknown_step_lists_the_places(flow, capsys):
    _, path = flow
    assert main(["tap", path, "typd"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'typed'?" in err
    assert "orders, typed, split.big, split.small, sink:big, sink:small, dead_letter" in err
    assert main(["tap", path, "split"]) == 2  # a route is tapped by its outputs
    assert "did you mean 'split.big'?" in capsys.readouterr().err


def test_no_secret_in_the_messages(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TAP_SECRET_DIR", str(tmp_path))
    (tmp_path / "in.jsonl").write_text('{"n": "1", "kg": "1", "at": "2024-05-01T10:00:00Z"}\n')
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW.format(dir="${TAP_SECRET_DIR}"))
    assert main(["tap", str(path), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) not in err and "${TAP_SECRET_DIR}" in err


def test_an_unknown_place_is_printed_as_typed(flow, capsys):
    assert main(["tap", flow[1], "[bold]typed[/bold]"]) == 2  # was printed as 'typed', markup taken as style
    assert "'[bold]typed[/bold]' is not a place of this flow" in capsys.readouterr().err


def test_run_tap_is_a_real_run(flow, capsys):
    directory, path = flow
    assert main(["run", path, "-q", "--tap", "split.small"]) == 0
    assert [e["n"] for e in _lines(capsys.readouterr().out)] == [0, 1, 2, 4, 5]
    assert len((directory / "small.jsonl").read_text().splitlines()) == 5  # the sinks written
    assert len((directory / "dead.jsonl").read_text().splitlines()) == 2
    assert main(["run", path, "--tap", "nowhere"]) == 2


KAFKA_FLOW = """\
version: 1
name: kafka-tap
sources: {{orders: {{file: {{path: "{dir}/in.jsonl"}}}}}}
steps:
  - id: typed
    cast: {{fields: {{n: int}}}}
sinks:
  out: {{from: typed, file: {{path: "{dir}/out.jsonl"}}}}
dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
environments:
  kafka:
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {topic}, group_id: {group}, start: committed}}}}
    sinks:
      out: {{kafka: {{brokers: "{bootstrap}", topic: {target}}}}}
"""


def test_tap_on_a_tailing_kafka_source_stops_after_the_limit(kafka_bootstrap, kafka_topic, tmp_path, capsys):
    from confluent_kafka import Consumer, TopicPartition

    from tests.integration.kafka_io import committed_offset, produce

    topic, target, group = kafka_topic("tap-in"), kafka_topic("tap-out"), f"tap-{uuid.uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, [{"n": str(i)} for i in range(20)])
    path = tmp_path / "flow.yaml"
    path.write_text(KAFKA_FLOW.format(bootstrap=kafka_bootstrap, topic=topic, target=target, group=group, dir=tmp_path))
    (tmp_path / "in.jsonl").write_text('{"n": "-1"}\n')
    assert main(["tap", str(path), "typed"]) == 0  # the base: files
    assert [e["n"] for e in _lines(capsys.readouterr().out)] == [-1]
    # the kafka environment; its source tails (no tail: false): only --limit ends this run, cleanly
    assert main(["tap", str(path), "typed", "--env", "kafka", "--limit", "5", "-w", "1"]) == 0
    out, err = capsys.readouterr()
    assert [e["n"] for e in _lines(out)] == [0, 1, 2, 3, 4]
    assert "5 event(s) shown" in err
    # dry: nothing produced to the sink's topic, no offsets committed to the group
    assert committed_offset(kafka_bootstrap, group, topic) < 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(target, 0), timeout=10)
        assert high == 0
    finally:
        consumer.close()
    assert not os.path.exists(tmp_path / "dead.jsonl")
