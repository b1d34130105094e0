"""deploy's start-up imports only what its flow uses: rich when something is printed, the Kafka
exactly-once outbox only for a sink that asks for it, the supervisor only for ``-p N``; and the
topics table is drawn as it was when rich was imported at the top of cli/deploy.py."""

import io
import os
import subprocess
import sys
import textwrap

from cli.console import SafeConsole
from cli.deploy import plan_table
from engine.connectors.kafka_admin import CONFLICT, CREATE, UNCHANGED, TopicPlan
from engine.topology.definitions import TopicDef

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXACTLY_ONCE = ("engine.connectors.kafka_exactly_once", "engine.connectors.kafka_transactions",
                "engine.connectors.recovery_progress")


def _modules_after(code: str, cwd: str) -> set:
    """The modules a fresh interpreter holds after running ``code`` (its last line of output)."""
    script = textwrap.dedent(code) + "\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    return set(done.stdout.splitlines()[-1].split())


def test_an_at_least_once_kafka_sink_leaves_the_exactly_once_modules_unimported(tmp_path):
    modules = _modules_after("""
        from engine.catalog.sinks import KAFKA
        sink = KAFKA.load()(brokers="127.0.0.1:1", topic="t")
        assert type(sink).__name__ == "KafkaSink", sink
    """, str(tmp_path))
    assert not modules & set(EXACTLY_ONCE)


def test_an_exactly_once_kafka_sink_is_still_the_outbox(tmp_path):
    modules = _modules_after("""
        from engine.catalog.sinks import KAFKA
        from engine.connectors.kafka_exactly_once import ExactlyOnceKafkaSink
        sink = KAFKA.load()(brokers="127.0.0.1:1", topic="t", delivery="exactly-once")
        assert type(sink) is ExactlyOnceKafkaSink and sink.plain.delivery == "exactly-once", sink
    """, str(tmp_path))
    assert set(EXACTLY_ONCE) <= modules


def test_a_quiet_deploy_that_prints_nothing_imports_neither_rich_nor_the_supervisor(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n')
    (tmp_path / "t.yaml").write_text("version: 1\nname: t\nsources:\n  s: {file: {path: in.jsonl}}\n"
                                     "sinks:\n  out: {from: s, file: {path: out.jsonl}}\n")
    modules = _modules_after("""
        from cli.main import main
        assert main(["deploy", "-q", "-r", "rec", "t.yaml"]) == 0
    """, str(tmp_path))
    assert (tmp_path / "out.jsonl").read_text() == '{"a":1}\n'
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}
    assert "cli.processes" not in modules and not modules & set(EXACTLY_ONCE)


# Printed by 0b8f2df (rich imported at the top of cli/deploy.py): a create, an unchanged topic
# whose name holds markup and a backslash, a conflict with its differences, one name redacted.
TABLE = (
    "Kafka topics\n"
    "┏━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┓\n"
    "┃ topic      ┃ partitions ┃ replication ┃ config                      ┃ action                     ┃\n"
    "┡━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━┩\n"
    "│ orders     │ 3          │ 1           │ retention.ms=1000           │ create                     │\n"
    "│ [red]x\\y   │ 1          │ 1           │                             │ unchanged                  │\n"
    "│ ${S}-topic │ 2          │ 3           │ cleanup.policy=compact,     │ conflict                   │\n"
    "│            │            │             │ a=[b]                       │   partitions: 2 declared,  │\n"
    "│            │            │             │                             │ 1 found                    │\n"
    "│            │            │             │                             │   config a: [b] declared   │\n"
    "└────────────┴────────────┴─────────────┴─────────────────────────────┴────────────────────────────┘\n")


def test_the_topics_table_is_drawn_as_before():
    plans = [TopicPlan(TopicDef("orders", "b:9092", 3, 1, {"retention.ms": "1000"}), CREATE),
             TopicPlan(TopicDef("[red]x\\y", "b:9092"), UNCHANGED),
             TopicPlan(TopicDef("secret-topic", "b:9092", 2, 3, {"cleanup.policy": "compact", "a": "[b]"}), CONFLICT,
                       ["partitions: 2 declared, 1 found", "config a: [b] declared"])]
    drawn = io.StringIO()
    SafeConsole(file=drawn, width=100).print(plan_table(plans, lambda text: text.replace("secret", "${S}")))
    assert drawn.getvalue() == TABLE
