"""deploy plans and creates a cluster's topics with one AdminClient, dropped before the flow runs."""

import gc
import weakref
from concurrent.futures import Future
from types import SimpleNamespace

from cli import deploy
from engine.binding import validate_text
from engine.connectors import kafka_admin
from engine.connectors.kafka_admin import CREATE, apply_plan, plan_topics
from engine.topology.definitions import TopicDef


class _Admin:
    """An AdminClient of a cluster that has no topic yet."""

    def __init__(self, made: list, brokers: str) -> None:
        self.brokers, self.created = brokers, []
        made.append(weakref.ref(self))

    def list_topics(self, timeout):
        return SimpleNamespace(topics={})

    def create_topics(self, topics, operation_timeout, request_timeout):
        self.created += [t.topic for t in topics]
        done: Future = Future()
        done.set_result(None)
        return {t.topic: done for t in topics}


def _fake_clients(monkeypatch) -> list:
    made: list = []
    monkeypatch.setattr(kafka_admin, "admin_client", lambda brokers: _Admin(made, brokers))
    return made


def test_one_client_per_cluster_for_the_plan_and_the_creations(monkeypatch):
    made = _fake_clients(monkeypatch)
    topics = [TopicDef("a", "one:9092"), TopicDef("b", "two:9092"), TopicDef("c", "one:9092")]
    clients: dict = {}
    plans = plan_topics(topics, clients=clients)
    assert [p.action for p in plans] == [CREATE] * 3
    apply_plan(plans, clients=clients)
    assert sorted(clients) == ["one:9092", "two:9092"] and len(made) == 2
    assert clients["one:9092"].created == ["a", "c"] and clients["two:9092"].created == ["b"]


def test_without_clients_each_call_makes_its_own(monkeypatch):
    made = _fake_clients(monkeypatch)
    apply_plan(plan_topics([TopicDef("a", "one:9092")]))
    assert len(made) == 2


def test_deploy_drops_its_clients_before_the_flow_would_run(monkeypatch, tmp_path):
    made = _fake_clients(monkeypatch)
    text = ("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\n"
            "sinks:\n  out: {from: s, file: {path: o.jsonl}}\n"
            "topics:\n  t1: {brokers: 'one:9092'}\n  t2: {brokers: 'one:9092'}\n")
    result = validate_text("t.yaml", text)
    assert result.ok, result.problems
    started = []
    monkeypatch.setattr(deploy, "run_topology", lambda *a, **k: started.append(made[0]() is None) or 0)
    args = SimpleNamespace(plan=False, provision_only=False, processes=1, workers=1, snapshot_interval=None,
                           recovery_directory=str(tmp_path / "r"), quiet=True, status_file=None, http=None, share=None, cluster=False)
    assert deploy.deploy(result.topology, args, _Quiet(), _Quiet()) == 0
    gc.collect()
    assert len(made) == 1 and started == [True]  # one client, gone when the flow starts


class _Quiet:
    def print(self, *args, **kwargs) -> None:
        pass


def test_an_existing_topic_named_from_the_environment_is_compared_not_a_crash(monkeypatch):
    """A second deploy of a topic named with ${VAR} and configs: an internal error (exit 4) before."""
    from engine.topology.interpolate import EnvText

    class _Existing(_Admin):
        def list_topics(self, timeout):
            partition = SimpleNamespace(replicas=[1])
            return SimpleNamespace(topics={"velocity.domain": SimpleNamespace(error=None, partitions={0: partition})})

        def describe_configs(self, resources, request_timeout):
            if type(resources[0].name) is not str:  # confluent-kafka's own check, in its C code
                raise TypeError(f"Expected .name to be str type, not {type(resources[0].name).__name__}")
            done: Future = Future()
            done.set_result({"retention.ms": SimpleNamespace(value="1000")})
            return {resources[0]: done}

    monkeypatch.setattr(kafka_admin, "admin_client", lambda brokers: _Existing([], brokers))
    name = EnvText([("VF_DOMAIN_PREFIX", "velocity"), ".domain"])
    assert type(name) is not str and name == "velocity.domain"
    plans = plan_topics([TopicDef(name, "one:9092", config={"retention.ms": "1000"})])
    assert [(p.action, p.differences) for p in plans] == [("unchanged", [])]
    plans = plan_topics([TopicDef(name, "one:9092", config={"retention.ms": "5"})])
    assert [(p.action, p.differences) for p in plans] == [
        ("conflict", ["retention.ms: '1000' on the cluster, '5' declared"])]
