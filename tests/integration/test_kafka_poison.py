"""Issue 11, "one bad event never stops a flow", on a real Kafka topic under ``deploy``.

Poison messages sit between good ones on the source topic of a tailing deployment. The flow
must keep running; every good message must come out on the Kafka output topic and in DuckDB;
every poison message must be in the dead-letter sink exactly once, at the step that refused it
and with its real position ``topic[partition]@offset`` (whichever step or sink refused it, also
after a ``map`` that drops ``_meta``); messages that only look hostile (a regex bomb for a
backtracking engine, nesting at the limit, huge integers inside a JSON column, a tombstone)
pass or are skipped as documented. A restart from the same recovery store, with more poison,
neither crashes nor repeats a dead letter.

Expected steps follow docs/connectors.md (*Decoding*, *What a sink does with an event it
cannot write*, the Kafka sink's ``message.max.bytes`` rule) and docs/topology.md (*cast types*:
a decimal with more than ``p-s`` integer digits fails the cast)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from typing import List, NamedTuple, Optional

import duckdb
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXIT_STOPPED = 0  # a deployment stopped by one SIGTERM / Ctrl-C stops cleanly (engine/stopping.py)

POISONED = """\
    version: 1
    name: poisoned
    sources:
      orders: {{kafka: {{brokers: "{bootstrap}", topic: {source}, tail: {tail}, metadata: true}}}}
    steps:
      - id: typed
        cast: {{fields: {{id: int, kg: "decimal(10,2)", at: timestamp}}}}
      - id: named
        filter: "not matches(coalesce(name, ''), '^([a-zA-Z]+ ?)*$') or true"
      - id: domain
        map: {{fields: {{id: id, kg: kg, at: at, doc: doc}}, key: id}}
    sinks:
      out: {{from: domain, kafka: {{brokers: "{bootstrap}", topic: {target}}}}}
      table:
        from: domain
        duckdb: {{path: "{dir}/out.duckdb", table: orders, mode: upsert, key: [id],
                 columns: {{id: int, kg: "decimal(10,2)", at: timestamp, doc: json}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def good(i: int) -> dict:
    return {"id": i, "kg": f"{i}.25", "at": "2026-11-30T10:00:00Z", "doc": {"n": i}, "name": "Ann Lee"}


GOOD = [good(i) for i in range(40)]
BIG_DOC = 1_100_000  # decode takes up to 16 MiB; the Kafka sink's message.max.bytes is 1,000,000


class Case(NamedTuple):
    value: Optional[bytes]  # None: a tombstone
    step: Optional[str]  # the step that dead-letters it; None: no dead letter
    error: str = ""  # a part of the dead letter's reason
    capped: bool = False  # a dead letter over 1 MiB keeps its event as capped text (engine/compiler/sinks.py)

    @property
    def to_kafka(self) -> bool:  # decode and cast stop an event before both sinks
        return self.value is not None and self.step not in ("orders", "typed", "sink:out")

    @property
    def to_table(self) -> bool:
        return self.value is not None and self.step not in ("orders", "typed", "sink:table")

    @property
    def decoded(self):
        return json.loads(self.value)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


POISON = [
    # <source>:decode, dead letters of `orders` with the value's text
    Case(b"{broken", "orders", "malformed JSON"),
    Case(b"null", "orders", "expected a JSON object, got null"),
    Case(b"[1, 2, 3]", "orders", "got an array"),
    Case(b'"just text"', "orders", "got a string"),
    Case(b"42", "orders", "got a number"),
    Case(b"\xff\xfe\x00garbage", "orders", "malformed JSON"),  # not UTF-8
    Case(b'{"id": 1030} {"id": 1031}', "orders", "malformed JSON"),  # two documents in one value
    Case(b'{"id": 1032, "kg": 1e400}', "orders", "beyond the double range"),
    Case(b'{"id": 1033, "doc": "\\ud800"}', "orders", "malformed JSON"),  # an escaped lone surrogate
    Case(('{"id": 1034, "doc": ' + _nested(400) + "}").encode(), "orders", "nested deeper than 128 levels"),
    # cast: dead letters of `typed` whose event is the decoded input object
    Case(b'{"id": "12x", "kg": "1"}', "typed", "cannot cast field 'id'"),
    Case(b'{"id": true, "kg": "1"}', "typed", "booleans are not integers"),
    Case(b'{"id": 1000, "kg": "abc"}', "typed", "not a number"),
    Case(b'{"id": 1001, "kg": "NaN"}', "typed", "not a finite number"),
    Case(b'{"id": 1002, "kg": "123456789012345.5"}', "typed", "does not fit decimal(10,2)"),  # precision
    Case(b'{"id": 1003, "at": 99999999999999999}', "typed", "expected ISO-8601 text"),
    Case(b'{"id": 1004, "at": "9999-12-31T23:59:59-01:00"}', "typed", "out of range"),  # year 10000 in UTC
    # the DuckDB sink: written to Kafka (JSON has every digit), refused by the table
    Case(b'{"id": "123456789012345678901234567890"}', "sink:table", "beyond BIGINT's 64-bit range"),
    Case(b'{"id": 9223372036854775808}', "sink:table", "beyond BIGINT's 64-bit range"),
    Case(b'{"kg": "1"}', "sink:table", "key column 'id' is null"),  # no key for an upsert table
    # the Kafka sink: a message over message.max.bytes; the table takes it
    Case(b'{"id": 1005, "doc": "' + b"x" * BIG_DOC + b'"}', "sink:out", "message.max.bytes", capped=True),
]

HOSTILE_BUT_VALID = [
    Case(None, None),  # a tombstone: skipped
    Case(b'{"id": 1100, "name": "' + b"a" * 5000 + b'!"}', None),  # a regex bomb for a backtracking engine
    Case(b'{"id": 1101, "doc": ' + b'{"a": ' * 127 + b"1" + b"}" * 127 + b"}", None),  # 128 levels: the limit
    Case(b'{"id": 1102, "doc": {"x": 12345678901234567890123}}', None),  # exact digits in a json column
]


def _produce(bootstrap: str, topic: str, values: List[Optional[bytes]]) -> List[int]:
    """Send ``values`` in order (None: a tombstone) and return the offset of each."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "message.max.bytes": 4_000_000})
    offsets: List[Optional[int]] = [None] * len(values)
    errors = []

    def delivered(index):
        def report(error, message):
            if error is not None:
                errors.append(error)
            else:
                offsets[index] = message.offset()
        return report

    for index, value in enumerate(values):
        producer.produce(topic, value, on_delivery=delivered(index))
        producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors and None not in offsets, errors
    return offsets


class Output:
    """The messages of the output topic, read as they come."""

    def __init__(self, bootstrap: str, topic: str):
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        self.messages = []  # (key, value)

    def read(self, seconds: float, until: int = 0) -> list:
        """What came within ``seconds``, until ``until`` messages were read and no more come."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            message = self.consumer.poll(0.2)
            if message is None:
                if len(self.messages) >= until:
                    break
                continue
            if not message.error():
                self.messages.append((message.key().decode() if message.key() else None, json.loads(message.value())))
        return self.messages

    def close(self):
        self.consumer.close()


def _as_int(value):
    return int(value) if isinstance(value, str) else value


def _dead(tmp_path) -> list:
    path = tmp_path / "dead.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _deploy(path, tmp_path) -> list:
    return [sys.executable, "-m", "cli", "deploy", "-q", "-s", "0.3", "-r", str(tmp_path / "rec"), str(path)]


def _no_crash(stderr: str) -> None:
    assert "Traceback" not in stderr and "panicked" not in stderr and "internal error" not in stderr, stderr[-5000:]


def _dead_letter_problems(letter: dict, case: Case, origin: str) -> List[str]:
    """What is wrong with the dead letter of ``case`` (all of it, so one run shows every problem)."""
    problems = []
    if letter.get("origin") != origin:
        problems.append(f"origin {letter.get('origin')!r}, not {origin!r}")
    if letter.get("step") != case.step:
        problems.append(f"step {letter.get('step')!r}, not {case.step!r}")
    if case.error not in (letter.get("error") or ""):
        problems.append(f"error {letter.get('error')!r} without {case.error!r}")
    event = letter.get("event")
    if case.step == "orders":  # undecodable: the value's text
        if not isinstance(event, str) or (case.value.isascii() and event != case.value.decode()):
            problems.append(f"event {str(event)[:80]!r} is not the value's text")
    elif case.capped:  # the event's text, cut
        if not (isinstance(event, str) and event.startswith(f'{{"id":{case.decoded["id"]},') and len(event) < BIG_DOC
                and "capped text" in letter.get("error", "")):
            problems.append(f"event {str(event)[:80]!r} is not the capped text of the event")
    else:  # the decoded input (for a sink: the decoded event or the event as the sink had it)
        if not isinstance(event, dict):
            problems.append(f"event {str(event)[:80]!r} is not an object")
        else:
            meta = event.get("_meta")  # metadata: true puts the position in the decoded event
            if meta is not None and (meta.get("partition"), meta.get("offset")) != (0, int(origin.rsplit("@", 1)[1])):
                problems.append(f"event of another message: _meta {meta}")
            if case.step == "typed":
                if {k: v for k, v in event.items() if k != "_meta"} != case.decoded:
                    problems.append(f"event {str(event)[:120]!r} is not the decoded input")
            elif str(event.get("id")) != str(case.decoded.get("id")):
                problems.append(f"event {str(event)[:120]!r} is not this message's")
    return [f"{case.value[:50]!r} at {origin} ({case.step}): {p}" for p in problems]


def _by_origin(dead: list) -> dict:
    origins = [d.get("origin") for d in dead]
    repeated = [o for o, n in Counter(origins).items() if n > 1]
    assert not repeated, f"dead letters repeated (or without origin): {repeated}"
    return {d["origin"]: d for d in dead}


def test_poison_messages_under_deploy_are_dead_lettered_once_and_a_restart_does_not_crash(
        kafka_bootstrap, kafka_topic, tmp_path):
    started = time.monotonic()
    # the source topic takes the message over 1 MB that decode accepts and the Kafka sink refuses
    source = kafka_topic("poison-in", config={"max.message.bytes": "4000000"})
    target = kafka_topic("poison-out")
    path = tmp_path / "poisoned.yaml"
    text = textwrap.dedent(POISONED)
    path.write_text(text.format(bootstrap=kafka_bootstrap, source=source, target=target, dir=tmp_path, tail="true"))

    # good messages before and after the poison, the hostile-but-valid ones among the poison
    cases = POISON[:10] + HOSTILE_BUT_VALID[:2] + POISON[10:] + HOSTILE_BUT_VALID[2:]
    values = [json.dumps(e).encode() for e in GOOD[:20]] + [c.value for c in cases] + [
        json.dumps(e).encode() for e in GOOD[20:]]
    offsets = _produce(kafka_bootstrap, source, values)
    at = dict(zip(range(len(cases)), offsets[20:20 + len(cases)]))
    expected_origins = {f"{source}[0]@{at[i]}": c for i, c in enumerate(cases) if c.step is not None}
    assert len(expected_origins) == len(POISON)
    # cast makes the 30-digit text an int; the message without an id goes out with id null
    expected_ids = Counter([e["id"] for e in GOOD] + [_as_int(c.decoded.get("id")) for c in cases if c.to_kafka])

    stderr_path = tmp_path / "deploy.stderr"
    output = Output(kafka_bootstrap, target)
    with open(stderr_path, "w") as stderr:
        running = subprocess.Popen(_deploy(path, tmp_path), cwd=ROOT, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and running.poll() is None:
            got = output.read(1.0)
            if len(got) >= sum(expected_ids.values()) and len(_dead(tmp_path)) >= len(POISON):
                break
        time.sleep(1.5)  # a crash after the last poison message would show now
        output.read(1.0)
        assert running.poll() is None, f"the deployment stopped (exit {running.returncode}): " + \
            stderr_path.read_text()[-5000:]  # still running after every poison message
        running.send_signal(signal.SIGTERM)  # a clean stop: snapshot, exit 0
        code = running.wait(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
            running.wait(timeout=30)
        output.close()
    first_stderr = stderr_path.read_text()
    _no_crash(first_stderr)
    assert code == EXIT_STOPPED, first_stderr[-5000:]

    # every good message, and exactly the poison that is valid JSON for Kafka, on the output topic
    messages = output.messages
    assert Counter(v.get("id") for _, v in messages) == expected_ids, sorted(map(str, Counter(
        v.get("id") for _, v in messages).elements()))
    out_good = {v["id"]: (k, v) for k, v in messages if type(v.get("id")) is int and 0 <= v["id"] < 40}
    assert out_good == {i: (str(i), {"id": i, "kg": i + 0.25, "at": "2026-11-30T10:00:00+00:00", "doc": {"n": i}})
                        for i in range(40)}
    deep = next(v for _, v in messages if v.get("id") == 1101)["doc"]
    assert json.dumps(deep, separators=(",", ":")) == '{"a":' * 127 + "1" + "}" * 127
    assert next(v for _, v in messages if v.get("id") == 1102)["doc"] == {"x": 12345678901234567890123}

    # every poison message once in the dead-letter sink, at its offset and step
    dead = _dead(tmp_path)
    missing_origin = [(d["step"], str(d.get("event"))[:60]) for d in dead if not d.get("origin")]
    assert not missing_origin, f"dead letters without an origin: {missing_origin}"
    by_origin = _by_origin(dead)
    assert set(by_origin) == set(expected_origins), (sorted(set(by_origin) - set(expected_origins)),
                                                     sorted(set(expected_origins) - set(by_origin)))
    problems = [p for origin, case in expected_origins.items()
                for p in _dead_letter_problems(by_origin[origin], case, origin)]
    assert not problems, "\n".join(problems)

    # every good message, and the valid poison, in DuckDB
    db = duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True)
    try:
        rows = db.execute('SELECT id, kg::VARCHAR, "at", doc FROM orders WHERE id < 40 ORDER BY id').fetchall()
        assert [(i, kg, at, json.loads(doc)) for i, kg, at, doc in rows] == [
            (i, f"{i}.25", datetime(2026, 11, 30, 10, tzinfo=timezone.utc), {"n": i}) for i in range(40)]
        ids = {r[0] for r in db.execute("SELECT id FROM orders").fetchall()}
        assert ids == set(range(40)) | {c.decoded["id"] for c in cases if c.to_table}
        assert db.execute("SELECT length(doc) FROM orders WHERE id = 1005").fetchone() == (BIG_DOC + 2,)
    finally:
        db.close()

    # restarted, bounded this time: resumes from the recovery store with more poison
    path.write_text(text.format(bootstrap=kafka_bootstrap, source=source, target=target, dir=tmp_path, tail="false"))
    more = [Case(b"{again", "orders", "malformed JSON"), Case(b'{"id": 2001, "kg": "abc"}', "typed", "not a number")]
    new_offsets = _produce(kafka_bootstrap, source, [json.dumps(good(2000)).encode()] + [c.value for c in more])
    again = subprocess.run(_deploy(path, tmp_path), cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
    _no_crash(again.stderr)
    assert again.returncode == 0, again.stderr[-5000:]
    by_origin_again = _by_origin(_dead(tmp_path))  # nothing repeated
    new_origins = {f"{source}[0]@{o}": c for o, c in zip(new_offsets[1:], more)}
    assert set(by_origin_again) == set(expected_origins) | set(new_origins)
    problems = [p for origin, case in new_origins.items()
                for p in _dead_letter_problems(by_origin_again[origin], case, origin)]
    assert not problems, "\n".join(problems)
    for origin in expected_origins:  # the earlier dead letters are the same (written again after a replay: a new time)
        assert {**by_origin_again[origin], "time": None} == {**by_origin[origin], "time": None}
    db = duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True)
    try:
        assert db.execute("SELECT kg::VARCHAR FROM orders WHERE id = 2000").fetchall() == [("2000.25",)]
        assert db.execute("SELECT count(*) FROM orders WHERE id = 2001").fetchone() == (0,)
    finally:
        db.close()
    output = Output(kafka_bootstrap, target)
    try:
        after = Counter(v.get("id") for _, v in output.read(20.0, until=sum(expected_ids.values()) + 1))
    finally:
        output.close()
    assert after[2000] == 1 and 2001 not in after  # at-least-once may repeat others, never lose one
    assert set(after) == set(expected_ids) | {2000}
    assert time.monotonic() - started < 90
