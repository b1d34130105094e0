"""Which topic an event may send a Kafka sink's message to.

A topic computed per event (``topic_from``) is event content: a message to a topic that
cannot exist (an illegal name) or does not exist on brokers that do not create topics would
fail at every retry of its batch, stop the flow, and stop it again after each restart on the
same input: a crash loop caused by one event. So the sink's encoder checks such a topic and
dead-letters the event instead. What is checked:

* the name: 1 to 249 characters of ``a-z A-Z 0-9 . _ -``, not ``.`` or ``..`` (Kafka's rule);
* that the brokers have the topic (or create it on first use, which the metadata request
  triggers when they do), with one metadata request per new name; names found are cached
  for the life of the sink, names refused for ``RECHECK_SECONDS``.

Brokers that do not answer decide nothing: the event goes on, and if they are really gone
the write fails as a broken destination, which is what it is.
"""

from __future__ import annotations

import re
import time
from typing import Dict, Mapping, Optional

from confluent_kafka import KafkaError, KafkaException, Producer

from engine.connectors.errors import Unwritable

_LEGAL = re.compile(r"[a-zA-Z0-9._-]{1,249}")
RECHECK_SECONDS = 10.0
_MAX_REFUSED = 10_000
_REFUSED_CODES = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError.TOPIC_AUTHORIZATION_FAILED,
                  KafkaError.TOPIC_EXCEPTION}


def legal_name(topic: object) -> bool:
    return isinstance(topic, str) and _LEGAL.fullmatch(topic) is not None and topic not in (".", "..")


class TopicCheck:
    """``check(topic)`` returns the topic or raises ``Unwritable`` saying why no message can go there."""

    def __init__(self, config: Mapping[str, object], fixed: Optional[str], timeout: float) -> None:
        self._config = {**config, "log_level": 0}  # an unreachable broker: reported by the write
        self._known = {fixed} if fixed else set()  # the sink's own topic fails as a destination
        self._refused: Dict[str, tuple] = {}
        self._timeout = timeout
        self._client: Optional[Producer] = None

    def check(self, topic: str) -> str:
        if topic in self._known:
            return topic
        if not legal_name(topic):
            raise Unwritable(f"{topic!r} is not a Kafka topic name (1-249 characters of a-z A-Z 0-9 . _ -)")
        refused = self._refused.get(topic)
        if refused is not None and time.monotonic() - refused[0] < RECHECK_SECONDS:
            raise Unwritable(refused[1])
        reason = self._lookup(topic)
        if reason is None:
            self._known.add(topic)
            self._refused.pop(topic, None)
            return topic
        if len(self._refused) >= _MAX_REFUSED:
            self._refused.clear()
        self._refused[topic] = (time.monotonic(), reason)
        raise Unwritable(reason)

    def _lookup(self, topic: str) -> Optional[str]:
        """None if messages can go to ``topic`` (or the brokers did not say), else why not."""
        if self._client is None:
            self._client = Producer(self._config)
        try:
            found = self._client.list_topics(topic, timeout=self._timeout).topics.get(topic)
        except KafkaException:
            return None
        if found is None:
            return f"topic {topic!r} does not exist and the brokers do not create topics"
        error = found.error
        if error is not None and error.code() in _REFUSED_CODES:
            why = "does not exist and the brokers do not create topics" if error.code() in (
                KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC) else f"cannot be written ({error.str()})"
            return f"topic {topic!r} {why}"
        return None
