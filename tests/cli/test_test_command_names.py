"""``velocity-flow test``: a ``--name`` that names no case is a usage error (exit 2, with the
closest name), never "0 passed" (green in CI); a test file's name is shown escaped, whatever
bytes or control characters it holds and whatever the terminal's encoding."""

import json
import os
import subprocess
import sys

import pytest

from tests.testing.test_command import PASSING, case, cli, write

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_a_name_that_names_no_case_is_a_usage_error_with_the_closest(tmp_path, fmt):
    path = write(tmp_path, case("hot readings", PASSING["events"]))
    code, out, err = cli("test", path, "--name", "hot reading", "--format", fmt)
    assert code == 2, out + err
    assert "no test case named 'hot reading'" in err and "did you mean 'hot readings'?" in err
    if fmt == "json":
        assert json.loads(out)["error"]["exit_code"] == 2
    code, out, err = cli("test", path, "--name", "hot readings", "--format", fmt)
    assert code == 0, out + err  # the right name runs its case


def test_a_name_with_a_broken_file_reports_the_file_not_the_name(tmp_path):
    (tmp_path / "b.test.yaml").write_text("topology: nowhere.yaml\ntests: []\n")
    code, _, err = cli("test", str(tmp_path / "b.test.yaml"), "--name", "x")
    assert code == 1 and "nowhere.yaml" in err and "no test case named" not in err


def test_a_file_name_with_control_characters_and_undecodable_bytes_is_shown_escaped(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"d\x1b[31m\xff")
    os.mkdir(folder)
    write_to = tmp_path / os.fsdecode(folder)
    path = write(write_to, case("hot readings", PASSING["events"]))
    env = dict(os.environ, PYTHONIOENCODING="utf-8", COLUMNS="200")  # strict: a raw surrogate cannot be written
    done = subprocess.run([sys.executable, "-m", "cli", "test", path], capture_output=True, cwd=ROOT, env=env,
                          timeout=120)
    out = done.stdout.decode("utf-8")
    assert done.returncode == 0, out + done.stderr.decode("utf-8", "replace")
    assert "PASS" in out and "\x1b[31m" not in out and "\\u001b" in out and "\\udcff" in out


def test_validate_of_a_test_file_is_one_error_naming_the_test_command(tmp_path):
    path = write(tmp_path, case("hot readings", PASSING["events"]))
    code, out, err = cli("validate", path)
    assert code == 1
    assert "this is a test file of a topology" in out + err and f"velocity-flow test {path}" in out + err
    assert "1 error(s)" in out + err  # not every key a topology lacks


def test_a_folder_that_cannot_be_read_is_a_usage_error_not_its_tests_skipped(tmp_path, monkeypatch):
    write(tmp_path, case("hot readings", PASSING["events"]))
    hidden = tmp_path / "more"
    hidden.mkdir()
    real = os.scandir

    def scandir(path="."):
        if os.fspath(path) == str(hidden):
            raise PermissionError(13, "Permission denied", str(hidden))  # (root reads every folder)
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    code, out, err = cli("test", str(tmp_path))
    assert code == 2, out + err
    assert f"cannot read '{hidden}': Permission denied" in err
