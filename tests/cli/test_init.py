"""``velocity-flow init``: a new topology, sample input, tests and README snippet that pass
validate, run and test as written; existing files are never overwritten without --force."""

import io
import json
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cli.commands import HANDLERS
from cli.main import main
from cli.scaffold import files


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def made(tmp_path, monkeypatch):
    monkeypatch.delenv("VF_SAMPLES", raising=False)
    monkeypatch.delenv("VF_OUT", raising=False)
    code, out, err = cli("init", "shipments", "--dir", str(tmp_path / "flows"))
    assert code == 0, err
    monkeypatch.chdir(tmp_path / "flows")  # where its commands run: its paths are relative to it
    return tmp_path / "flows"


def test_writes_the_four_files(made):
    for path in files("shipments"):
        assert (made / path).is_file(), path
    assert "velocity-flow run shipments.yaml" in (made / "shipments.md").read_text()


def test_validate_and_run_pass(made):
    assert cli("validate", "shipments.yaml")[0] == 0
    code, _, err = cli("run", "-q", "shipments.yaml")
    assert code == 0, err
    events = [json.loads(line) for line in (made / "out" / "shipments" / "events.jsonl").read_text().splitlines()]
    assert [e["id"] for e in events] == [1, 2, 5]  # 3: amount 0, filtered; 4: 'n/a', a dead letter
    totals = {t["customer"]: t["events"] for t in map(json.loads, (made / "out" / "shipments" / "totals.jsonl")
                                                      .read_text().splitlines())}
    assert totals == {"ACME": 2, "GLOBEX": 1}
    dead = [json.loads(line) for line in (made / "out" / "shipments" / "dead-letter.jsonl").read_text().splitlines()]
    assert [d["step"] for d in dead] == ["parse"]


@pytest.mark.skipif("test" not in HANDLERS, reason="the test command is not there yet")
def test_its_tests_pass(made):
    code, out, err = cli("test", "shipments.yaml")
    assert code == 0, out + err
    assert "3 passed, 0 failed" in out


def test_refuses_to_overwrite_unless_forced(made):
    (made / "shipments.md").write_text("mine\n")
    (made / "shipments.yaml").unlink()
    code, out, err = cli("init", "shipments")
    assert code == 2 and "already exist" in err and "--force" in err
    assert (made / "shipments.md").read_text() == "mine\n"
    assert not (made / "shipments.yaml").exists()  # nothing written, not even the missing file
    assert cli("init", "shipments", "--force")[0] == 0
    assert (made / "shipments.md").read_text() != "mine\n" and (made / "shipments.yaml").is_file()


@pytest.mark.parametrize("name", ["1st", "a b", "../up", "x.yaml", ""])
def test_a_name_that_is_not_a_topology_name(tmp_path, name):
    code, _, err = cli("init", name, "--dir", str(tmp_path))
    assert code == 2 and "not a topology name" in err
    assert list(tmp_path.iterdir()) == []
