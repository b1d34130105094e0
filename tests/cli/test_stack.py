"""``velocity-flow stack``: the service scripts ship with the package (scripts/ in a checkout,
engine/_bundled/scripts when installed); the command runs them in order, from any directory,
and keeps an installed package's state out of site-packages."""

import pathlib

import pytest

import cli.stack as stack_module
from cli.main import main
from engine.resources import is_packed, scripts_dir

ROOT = pathlib.Path(__file__).parents[2]

FAKE_SCRIPT = """\
import os, sys
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(os.path.basename(__file__) + " " + " ".join(sys.argv[1:]) + " state=" +
              os.environ.get("VELOCITY_STATE_DIR", "-") + "\\n")
if sys.argv[1] == "start":
    print("address-of-" + os.path.basename(__file__))
else:
    print("stopped (fake " + os.path.basename(__file__) + ")")
sys.exit(3 if sys.argv[1:] == ["status"] else 0)
"""


@pytest.fixture
def fake_scripts(tmp_path, monkeypatch):
    """Stand-in scripts kafka, postgres, debezium that log their calls to calls.log."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    for name in stack_module.SERVICES:
        (scripts / name).write_text(FAKE_SCRIPT)
    monkeypatch.setattr(stack_module, "scripts_dir", lambda: str(scripts))
    monkeypatch.delenv("VELOCITY_STATE_DIR", raising=False)
    return scripts


def _calls(scripts: pathlib.Path):
    return [line.split(" state=")[0] for line in (scripts / "calls.log").read_text().splitlines()]


def test_the_checkout_scripts_are_the_ones_used_here():
    assert scripts_dir() == str(ROOT / "scripts")
    assert not is_packed(scripts_dir())
    for name in stack_module.SERVICES:
        assert (ROOT / "scripts" / name).is_file()


def test_status_and_down_from_any_directory(fake_scripts, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["stack", "status"]) == 3  # the fake services are stopped
    out = capsys.readouterr().out
    for name in stack_module.SERVICES:
        assert f"stopped (fake {name})" in out
    assert f"scripts: {fake_scripts}" in out.replace("\n", "")
    assert main(["stack", "down"]) == 0
    assert _calls(fake_scripts) == ["kafka status", "postgres status", "debezium status",
                                    "debezium stop", "postgres stop", "kafka stop"]


def test_up_passes_each_address_on(fake_scripts, capsys):
    assert main(["stack", "up"]) == 3  # the fakes' status says stopped
    assert _calls(fake_scripts)[:3] == [
        "kafka start", "postgres start",
        "debezium start --bootstrap address-of-kafka --dsn address-of-postgres"]


def test_one_service(fake_scripts, capsys):
    assert main(["stack", "up", "kafka"]) == 3
    assert _calls(fake_scripts) == ["kafka start", "kafka status"]
    assert main(["stack", "status", "nope"]) == 2
    assert "unknown service 'nope'" in capsys.readouterr().err


def test_installed_scripts_keep_their_state_per_user(fake_scripts, tmp_path, monkeypatch):
    monkeypatch.setattr(stack_module, "is_packed", lambda path: True)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert stack_module.state_dir(str(fake_scripts)) == str(tmp_path / "xdg" / "velocity-flow")
    assert main(["stack", "down", "kafka"]) == 0
    assert (fake_scripts / "calls.log").read_text().strip().endswith(f"state={tmp_path / 'xdg' / 'velocity-flow'}")
    monkeypatch.setenv("VELOCITY_STATE_DIR", str(tmp_path / "mine"))
    assert stack_module.state_dir(str(fake_scripts)) == str(tmp_path / "mine")
    monkeypatch.setattr(stack_module, "is_packed", lambda path: False)
    monkeypatch.delenv("VELOCITY_STATE_DIR")
    assert stack_module.state_dir(str(fake_scripts)) is None  # a checkout: its .services/


def test_missing_scripts_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(stack_module, "scripts_dir", lambda: str(tmp_path))
    assert main(["stack", "status"]) == 3
    assert "reinstall velocity-flow" in capsys.readouterr().err
