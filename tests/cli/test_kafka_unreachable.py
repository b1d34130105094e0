"""With no broker answering, ``deploy --plan`` and ``generate tms --kafka`` report one error,
not librdkafka's "Connect to ... failed" log line every few milliseconds until the timeout."""

import socket
from types import SimpleNamespace

import pytest

from cli.main import main
from engine.connectors.errors import ConnectorError
from engine.connectors.kafka_admin import plan_topics
from engine.connectors.kafka_publish import publish_jsonl


@pytest.fixture
def closed_port():
    """A loopback port bound but not listening: connecting to it is refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def _topic(brokers):
    return SimpleNamespace(name="vf.unreachable", brokers=brokers, partitions=1, replication_factor=1, config={})


def test_plan_topics_against_a_closed_port_is_one_connector_error(closed_port, capfd):
    with pytest.raises(ConnectorError) as caught:
        plan_topics([_topic(closed_port)], timeout=1.5)
    assert str(caught.value).startswith(f"kafka: cannot reach brokers at {closed_port} within 1.5s")
    captured = capfd.readouterr()
    assert "Connect to" not in captured.err and "rdkafka" not in captured.err, captured.err[:500]


def test_publish_against_a_closed_port_is_one_connector_error(closed_port, tmp_path, capfd):
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": 1}\n')
    with pytest.raises(ConnectorError) as caught:
        publish_jsonl(closed_port, {"vf.unreachable": (str(path), None)}, timeout=1.5)
    assert str(caught.value).startswith(f"kafka: cannot reach brokers at {closed_port} within 1.5s")
    captured = capfd.readouterr()
    assert "Connect to" not in captured.err and "rdkafka" not in captured.err, captured.err[:500]


def test_deploy_plan_without_a_broker_prints_one_error(closed_port, tmp_path, monkeypatch, capfd):
    topology = tmp_path / "t.yaml"
    topology.write_text(f"""\
version: 1
name: unreachable
sources:
  orders: {{file: {{path: {tmp_path / 'in.jsonl'}}}}}
sinks:
  out: {{from: orders, kafka: {{brokers: "{closed_port}", topic: vf.unreachable}}}}
topics:
  vf.unreachable: {{partitions: 1}}
""")
    (tmp_path / "in.jsonl").write_text("")
    assert main(["deploy", str(topology), "--plan"]) == 3  # plan_topics' default timeout: 10 s
    captured = capfd.readouterr()
    assert "Connect to" not in captured.err, captured.err[:500]
    error = " ".join(captured.err.split())
    assert error.startswith(f"error: kafka: cannot reach brokers at {closed_port} within 10s")
    assert error.count("error:") == 1


def test_generate_kafka_without_a_broker_fails_before_generating(closed_port, tmp_path, monkeypatch, capfd):
    """The broker is asked first, for a few seconds: before, the workload was generated and the
    publish then waited a minute for the dead address."""
    monkeypatch.setattr("cli.commands._KAFKA_PROBE", 1.5)
    out = tmp_path / "tms"
    assert main(["generate", "tms", "--orders", "3", "--out", str(out), "--kafka", closed_port]) == 3
    error = " ".join(capfd.readouterr().err.split())
    assert error.startswith(f"error: kafka: cannot reach brokers at {closed_port} within 1.5s")
    assert "velocity-flow stack up kafka" in error and error.count("error:") == 1
    assert not out.exists()
