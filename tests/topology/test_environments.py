"""Environments (engine/topology/environments.py, docs/topology.md "Environments"): one file, the
steps once, connectors and settings per environment, selected with --env / VELOCITY_FLOW_ENV."""

import json
import uuid
from pathlib import Path

import pytest

from cli.main import main
from engine.binding import validate_every_environment, validate_text
from engine.topology.environments import UnknownEnvironment, environment_names, select_environment
from engine.topology.loader import load_text

ROOT = Path(__file__).resolve().parents[2]
VELOCITY = sorted((ROOT / "topologies" / "velocity").glob("*_*.yaml"))
VELOCITY = [p for p in VELOCITY if not p.name.endswith(".test.yaml")]

BASE = """\
version: 1
name: t
sources:
  orders:
    file: {path: in.jsonl}
    description: orders
steps:
  - id: parse
    cast: {fields: {n: int}}
sinks:
  out:
    from: parse
    file: {path: out.jsonl, mode: append}
dead_letter: {file: {path: dead.jsonl}}
"""


def text(environments: str) -> str:
    return BASE + "environments:\n" + environments


def selected(environments: str, name, env=None):
    return select_environment(load_text("t.yaml", text(environments), env or {}), name)


def test_a_value_replaces_and_mappings_merge_key_by_key():
    doc = selected("  prod:\n    sinks:\n      out:\n        file: {path: prod.jsonl}\n", "prod")
    assert doc.data["sinks"]["out"] == {"from": "parse", "file": {"path": "prod.jsonl", "mode": "append"}}
    assert "environments" not in doc.data
    assert doc.data["steps"] == selected("  prod: {}\n", None).data["steps"]


def test_null_deletes():
    doc = selected("  prod:\n    dead_letter: null\n    sinks:\n      out:\n        file: {mode: null}\n", "prod")
    assert "dead_letter" not in doc.data
    assert doc.data["sinks"]["out"]["file"] == {"path": "out.jsonl"}


def test_another_connector_replaces_the_base_connector():
    doc = selected("  kafka:\n    sources:\n      orders:\n        kafka: {brokers: 'b:9092', topic: orders}\n",
                   "kafka")
    assert doc.data["sources"]["orders"] == {"kafka": {"brokers": "b:9092", "topic": "orders"},
                                             "description": "orders"}


def test_the_base_ignores_environments_and_their_variables():
    doc = selected("  prod:\n    sinks:\n      out:\n        file: {path: '${ONLY_IN_PROD}'}\n", None)
    assert doc.problems == [] and doc.data["sinks"]["out"]["file"]["path"] == "out.jsonl"
    prod = selected("  prod:\n    sinks:\n      out:\n        file: {path: '${ONLY_IN_PROD}'}\n", "prod")
    assert [p.line for p in prod.problems] == [19]


def test_unknown_environment_lists_the_known_ones():
    with pytest.raises(UnknownEnvironment, match=r"no environment 'prd' \(known: dev, prod\)"):
        selected("  dev: {}\n  prod: {}\n", "prd")
    with pytest.raises(UnknownEnvironment, match="no 'environments' section"):
        select_environment(load_text("t.yaml", BASE, {}), "prod")


def test_unknown_environment_is_a_usage_error(tmp_path, capfd):
    path = tmp_path / "t.yaml"
    path.write_text(text("  dev: {}\n"))
    assert main(["validate", "--env", "prod", str(path)]) == 2
    assert "no environment 'prod' (known: dev)" in capfd.readouterr().err
    assert main(["graph", "--env", "prod", str(path)]) == 2


def test_steps_cannot_change_per_environment():
    result = validate_text("t.yaml", text("  prod:\n    steps: []\n"), {}, environment="prod")
    assert not result.ok
    assert any(d.line == 17 and "cannot change 'steps'" in d.message for d in result.diagnostics)


def test_an_error_in_an_environment_is_located_at_its_own_line():
    results = validate_every_environment_text(text(
        "  dev: {}\n"
        "  prod:\n"
        "    sinks:\n"
        "      out:\n"
        "        from: parsed\n"))
    base, dev, prod = results
    assert base.ok and dev.ok and not prod.ok
    (problem,) = prod.diagnostics
    assert (problem.line, problem.column) == (20, 15) and "environment 'prod'" in problem.message
    assert "unknown reference 'parsed'" in problem.message


def test_an_error_of_the_base_is_reported_once(tmp_path):
    broken = BASE.replace("from: parse\n", "from: nowhere\n") + "environments:\n  prod: {}\n"
    base, prod = validate_every_environment_text(broken)
    assert not base.ok and not prod.ok and prod.diagnostics == [] and prod.shared_errors == 1


def validate_every_environment_text(content: str):
    directory = Path(__import__("tempfile").mkdtemp(prefix="vfenv."))
    path = directory / "t.yaml"
    path.write_text(content)
    return validate_every_environment(str(path), {})


def test_validate_reports_the_base_and_every_environment(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(text("  dev: {}\n  prod:\n    sinks: {out: {file: {path: p.jsonl}}}\n"))
    assert main(["validate", "--format", "json", "t.yaml"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert [(r["environment"], r["valid"]) for r in report] == [(None, True), ("dev", True), ("prod", True)]
    monkeypatch.setenv("VELOCITY_FLOW_ENV", "prod")  # the default of --env
    assert main(["validate", "t.yaml"]) == 0
    assert "t.yaml (environment prod): valid" in capfd.readouterr().out


def test_a_secret_in_an_environment_part_is_never_printed(tmp_path, capfd, monkeypatch):
    secret = f"S3CR3T-{uuid.uuid4().hex}"
    monkeypatch.setenv("VF_SECRET", secret)
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(text(
        "  prod:\n"
        "    sinks:\n"
        "      out: {from: \"${VF_SECRET}\"}\n"  # an unknown reference: validate names it
        "    dead_letter: {file: {path: \"/proc/${VF_SECRET}/dead.jsonl\"}}\n"))
    for command in (["validate"], ["validate", "--format", "json"], ["validate", "--env", "prod"],
                    ["graph", "--env", "prod"], ["run", "-q", "--env", "prod"]):
        code = main([*command, "t.yaml"])
        out, err = capfd.readouterr()
        assert code == 1, (command, out, err)
        assert secret not in out + err, f"{command} printed the secret:\n{out}{err}"
        assert "${VF_SECRET}" in out + err


@pytest.mark.parametrize("path", VELOCITY, ids=lambda p: p.stem)
def test_the_shipped_velocity_flows_are_one_file_valid_in_every_environment(path):
    results = validate_every_environment(str(path), {})
    expected = ["kafka", *(["postgres", "kafka-postgres"] if path.stem == "fast_storage" else [])]
    assert [r.environment for r in results] == [None, *expected]
    assert all(r.ok for r in results), [d.message for r in results for d in r.diagnostics]
    doc = load_text(str(path), path.read_text(), {})
    assert environment_names(doc) == expected
    base, kafka = select_environment(doc, None), select_environment(doc, "kafka")
    assert kafka.data["steps"] == base.data["steps"]  # the point: one copy of the steps
    for name in expected[1:]:  # the Fast Storage in PostgreSQL: the same steps and tables, another sink
        other = select_environment(doc, name)
        assert other.data["steps"] == base.data["steps"]
        sink = other.data["sinks"]["fast-storage"]
        assert list(sink) == ["from", "postgres"]
        assert sink["postgres"]["tables"] == base.data["sinks"]["fast-storage"]["duckdb"]["tables"]
        assert other.data["sources"] == (kafka if name.startswith("kafka") else base).data["sources"]
    assert all("kafka" in source for source in kafka.data["sources"].values())
    assert not (ROOT / "topologies" / "velocity" / "kafka").exists()
