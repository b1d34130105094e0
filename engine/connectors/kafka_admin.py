"""Provision Kafka topics: compare declared topics with the cluster, then create what is missing.

Idempotent: an existing topic that matches is left alone; one whose partitions, replication
factor or declared configs differ is a conflict, reported with the difference and never
altered (changing a live topic is an operator's decision, not a deploy side effect).
"""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Protocol

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from engine.connectors.errors import ConnectorError

CREATE, UNCHANGED, CONFLICT = "create", "unchanged", "conflict"


class Topic(Protocol):
    """A declared topic (``engine.topology`` gives these)."""

    @property
    def name(self) -> str: ...
    @property
    def brokers(self) -> str: ...
    @property
    def partitions(self) -> int: ...
    @property
    def replication_factor(self) -> int: ...
    @property
    def config(self) -> Mapping[str, str]: ...


@dataclass
class TopicPlan:
    """What deploy does with one topic; ``differences`` explains a conflict."""

    topic: Topic
    action: str
    differences: List[str] = field(default_factory=list)


def plan_topics(topics: Iterable, timeout: float = 10.0,
                clients: Optional[Dict[str, AdminClient]] = None) -> List[TopicPlan]:
    """``clients``: the AdminClients made, by brokers, kept there for ``apply_plan`` (one client
    per cluster for both; the caller drops them when done)."""
    plans = []
    for brokers, group in _by_brokers(topics).items():
        admin = _client(brokers, clients)
        existing = cluster_metadata(admin, brokers, timeout).topics
        for topic in group:
            found = existing.get(topic.name)
            if found is None or found.error is not None:
                plans.append(TopicPlan(topic, CREATE))
                continue
            differences = _shape_differences(topic, found) + _config_differences(admin, topic, timeout)
            plans.append(TopicPlan(topic, CONFLICT if differences else UNCHANGED, differences))
    return plans


def apply_plan(plans: List[TopicPlan], timeout: float = 30.0,
               clients: Optional[Dict[str, AdminClient]] = None) -> None:
    """Create the topics the plan marks ``create``; raise if any fails. ``clients``: plan_topics'."""
    creations = [p.topic for p in plans if p.action == CREATE]
    for brokers, group in _by_brokers(creations).items():
        create_topics(_client(brokers, clients), [NewTopic(t.name, t.partitions, t.replication_factor,
                                                       config=dict(t.config)) for t in group], timeout)


def admin_client(brokers: str) -> AdminClient:
    """An AdminClient that does not log: failures come back as :class:`ConnectorError`."""
    # log_level 0: an unreachable broker is reported once, as a ConnectorError, not as a
    # librdkafka "Connect to ... failed" line on stderr every few milliseconds until the timeout
    return AdminClient({"bootstrap.servers": brokers, "log_level": 0})


def _client(brokers: str, clients: Optional[Dict[str, AdminClient]]) -> AdminClient:
    if clients is None:
        return admin_client(brokers)
    if brokers not in clients:
        clients[brokers] = admin_client(brokers)
    return clients[brokers]


def cluster_metadata(admin: AdminClient, brokers: str, timeout: float):
    """The cluster's metadata (topics, partitions), or a ConnectorError if no broker answers."""
    try:
        return admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise ConnectorError(f"kafka: cannot reach brokers at {brokers} within {timeout:g}s "
                             f"({exc.args[0].str() if exc.args else exc})") from None


def create_topics(admin: AdminClient, topics: List[NewTopic], timeout: float) -> None:
    """Create ``topics``; one that exists already (created meanwhile) is fine, any other failure
    is a ConnectorError."""
    if not topics:
        return
    futures = admin.create_topics(topics, operation_timeout=timeout, request_timeout=timeout)
    for name, future in futures.items():
        try:
            future.result(timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise ConnectorError(f"kafka: cannot create topic '{name}': {exc.args[0].str()}") from None
        except FutureTimeout:
            raise ConnectorError(f"kafka: topic '{name}' not created within {timeout:g}s") from None


def _by_brokers(topics: Iterable) -> Dict[str, list]:
    groups: Dict[str, list] = {}
    for topic in topics:
        groups.setdefault(topic.brokers, []).append(topic)
    return groups


def _shape_differences(topic, found) -> List[str]:
    differences = []
    if len(found.partitions) != topic.partitions:
        differences.append(f"partitions: {len(found.partitions)} on the cluster, {topic.partitions} declared")
    replicas = len(next(iter(found.partitions.values())).replicas) if found.partitions else 0
    if replicas != topic.replication_factor:
        differences.append(f"replication_factor: {replicas} on the cluster, {topic.replication_factor} declared")
    return differences


def _config_differences(admin: AdminClient, topic, timeout: float) -> List[str]:
    if not topic.config:
        return []
    # str(): a name interpolated from ${VARS} is an EnvText, which confluent-kafka refuses (TypeError)
    resource = ConfigResource(ConfigResource.Type.TOPIC, str(topic.name))
    try:
        entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(timeout=timeout)
    except KafkaException as exc:
        raise ConnectorError(f"kafka: cannot read the configs of topic '{topic.name}': {exc.args[0].str()}") from None
    differences = []
    for key, wanted in topic.config.items():
        actual = entries[key].value if key in entries else None
        if actual != wanted:
            differences.append(f"{key}: {actual!r} on the cluster, {wanted!r} declared")
    return differences
