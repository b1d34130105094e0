"""deploy's start-up imports only what its flow uses: rich when something is printed on a
terminal, the Kafka exactly-once outbox only for a sink that asks for it, the supervisor only for
``-p N``; the topics table is drawn on a terminal as it was when rich was imported at the top of
cli/deploy.py, and written as plain text, uncut, anywhere else."""

import io
import os
import subprocess
import sys
import textwrap

from cli.console import SafeConsole
from cli.deploy import plain_plan, plan_table, print_plan
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


PLAIN = (
    "Kafka topics\n"
    "topic       partitions  replication  config                         action\n"
    "orders      3           1            retention.ms=1000              create\n"
    "[red]x\\y    1           1                                           unchanged\n"
    "${S}-topic  2           3            cleanup.policy=compact, a=[b]  conflict\n"
    "  partitions: 2 declared, 1 found\n"
    "  config a: [b] declared\n")


def _plans(config_value: str = "[b]") -> list:
    return [TopicPlan(TopicDef("orders", "b:9092", 3, 1, {"retention.ms": "1000"}), CREATE),
            TopicPlan(TopicDef("[red]x\\y", "b:9092"), UNCHANGED),
            TopicPlan(TopicDef("secret-topic", "b:9092", 2, 3, {"cleanup.policy": "compact", "a": config_value}),
                      CONFLICT, ["partitions: 2 declared, 1 found", f"config a: {config_value} declared"])]


def test_the_plan_for_a_log_is_plain_text_in_full_columns():
    assert plain_plan(_plans(), lambda text: text.replace("secret", "${S}")) == PLAIN  # markup and \\ as they are
    long_name = "very.long.topic.name." * 6
    plain = plain_plan([TopicPlan(TopicDef(long_name, "b:1", 1, 1, {}), CREATE)])
    assert plain.splitlines()[2].startswith(long_name + "  1  ")  # never cut to a width


def test_a_deploy_writing_to_a_file_prints_the_plain_plan_without_importing_rich(tmp_path):
    modules = _modules_after("""
        import io, sys
        from cli.deploy import print_plan
        from cli.plain import LazyConsole
        from engine.connectors.kafka_admin import CREATE, TopicPlan
        from engine.topology.definitions import TopicDef
        buffer = io.StringIO()
        print_plan([TopicPlan(TopicDef("very.long.topic.name." * 6, "b:1", 1, 1, {}), CREATE)], str,
                   LazyConsole(file=buffer))
        assert buffer.getvalue().splitlines()[2].startswith("very.long.topic.name." * 6), buffer.getvalue()
    """, str(tmp_path))
    assert not {m for m in modules if m == "rich" or m.startswith("rich.")}


def test_the_plan_goes_through_rich_on_a_terminal_or_with_a_control_character(monkeypatch):
    from cli.plain import LazyConsole

    drawn = io.StringIO()
    print_plan(_plans("a\tb"), str, LazyConsole(file=drawn))  # a tab: rich expands it
    assert "┃ topic" in drawn.getvalue() and "\t" not in drawn.getvalue()
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich's rule: a terminal whatever the file
    drawn = io.StringIO()
    print_plan(_plans(), str, LazyConsole(file=drawn, width=100))
    assert "┏" in drawn.getvalue() and "\x1b[" in drawn.getvalue()  # drawn, in colour
    monkeypatch.delenv("FORCE_COLOR")
    drawn = io.StringIO()
    print_plan(_plans(), str, LazyConsole(file=drawn))
    assert drawn.getvalue().startswith("Kafka topics\ntopic ") and "┃" not in drawn.getvalue()


def test_the_plain_plan_is_flushed_before_deploy_goes_on():
    """Rich flushes each print; the plain plan too, or ``deploy -p N``'s processes, writing to
    the same file, could print before it."""
    from cli.plain import LazyConsole

    class Recording(io.StringIO):
        flushed = ""

        def flush(self) -> None:
            self.flushed = self.getvalue()

    out = Recording()
    print_plan(_plans(), str, LazyConsole(file=out))
    assert out.flushed.startswith("Kafka topics\ntopic ") and out.flushed == out.getvalue()
