"""A Kafka sink's topic computed per event (``topic_from``) is event content: an illegal or
missing topic dead-letters that event, the rest is delivered, the flow exits 0, and running it
again does the same (no crash loop). The broker runs with auto.create.topics.enable=false."""

from engine.connectors.kafka_topics import legal_name
from hypothesis import given, strategies as st
from tests.integration.kafka_io import consume_all

ROUTED = """\
    version: 1
    name: routed
    sources:
      events: {{file: {{path: "{dir}/in.jsonl"}}}}
    sinks:
      out: {{from: events, kafka: {{brokers: "{bootstrap}", topic_from: "target", key: id}}}}
    dead_letter: {{file: {{path: "{dir}/dead.jsonl"}}}}
    """


def test_events_naming_an_impossible_topic_are_dead_letters_and_the_rest_is_delivered(
        kafka_bootstrap, kafka_topic, flow):
    good, other = kafka_topic("routed"), kafka_topic("routed")
    missing = f"{good}-never-created"
    targets = [good, "bad topic!", other, missing, "", "x" * 250, good, "..", missing, other]
    lines = [{"id": i, "target": t} for i, t in enumerate(targets)]
    lines.append({"id": 99, "target": 5})  # not text: no topic either
    flow.write("in.jsonl", lines)

    for run in (1, 2):  # the same input again: the same outcome, not a failure
        ran = flow.cli(ROUTED, "routed.yaml", bootstrap=kafka_bootstrap)
        assert ran.exit == 0
        delivered = {t: sorted(v["id"] for _, v, _ in consume_all(kafka_bootstrap, t, expected=2 * run, timeout=30))
                     for t in (good, other)}
        assert delivered == {good: [0, 6] * run if run == 1 else [0, 0, 6, 6],
                             other: [2, 9] if run == 1 else [2, 2, 9, 9]}
        dead = ran.dead
        assert len(dead) == 7 and all(d["step"] == "sink:out" for d in dead)  # the file is rewritten by a run
        by_id = {d["event"]["id"]: d for d in dead}
        assert sorted(by_id) == [1, 3, 4, 5, 7, 8, 99]
        assert "is not a Kafka topic name" in by_id[1]["error"] and "is not a Kafka topic name" in by_id[5]["error"]
        assert "does not exist" in by_id[3]["error"] and "does not exist" in by_id[8]["error"]
        assert "no topic" in by_id[4]["error"] and "no topic" in by_id[99]["error"]
        assert by_id[3]["origin"] == f"{flow.dir / 'in.jsonl'}:4"


@given(st.text(max_size=300))
def test_legal_topic_names_follow_kafkas_rule(name):
    expected = 0 < len(name) < 250 and name not in (".", "..") and all(
        c.isascii() and (c.isalnum() or c in "._-") for c in name)
    assert legal_name(name) == expected


def test_a_fixed_topic_from_the_environment_is_a_topic(tmp_path):
    """A topic written ``${PREFIX}.x`` loads as a str subclass (it remembers it came from the
    environment, to keep it out of messages); the sink's encoder takes it as the topic it is."""
    from engine.connectors.kafka_sink import KafkaSink
    from engine.topology.interpolate import interpolate

    topic, used = interpolate("${P}.domain.trip", {"P": "velocity"})
    assert used and type(topic) is not str
    sink = KafkaSink(brokers="127.0.0.1:1", topic=topic)
    assert sink.encoder()({"id": 1})[0] == "velocity.domain.trip"
