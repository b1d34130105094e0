"""``velocity-flow stack``: the source checkout holding scripts/ is found from the package's
parent directory, else from the current directory or its parents, so the command also works
after a non-editable ``pip install .`` when run from inside the repository."""

import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

import cli.stack as stack_module
from cli.main import main
from cli.stack import find_checkout

ROOT = pathlib.Path(__file__).parents[2]

FAKE_SCRIPT = """\
import os, sys
here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(os.path.basename(__file__) + " " + " ".join(sys.argv[1:]) + "\\n")
print("stopped (fake " + os.path.basename(__file__) + ")")
sys.exit(3 if sys.argv[1:] == ["status"] else 0)
"""


def _checkout(path: pathlib.Path) -> pathlib.Path:
    """A stand-in checkout: scripts/kafka, postgres, debezium that log their calls to calls.log."""
    (path / "scripts").mkdir(parents=True)
    for name in stack_module.SERVICES:
        (path / "scripts" / name).write_text(FAKE_SCRIPT)
    return path


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """The package as after ``pip install .``: its parent directory (site-packages) has no scripts/."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(stack_module, "PACKAGE_PARENT", str(site))
    return site


def test_the_repository_itself_is_a_checkout():
    assert (ROOT / "scripts" / "kafka").is_file()
    assert find_checkout(str(ROOT)) == str(ROOT)


def test_installed_package_finds_the_checkout_from_the_current_directory(installed, tmp_path, monkeypatch):
    checkout = _checkout(tmp_path / "repo")
    assert find_checkout(str(checkout)) == str(checkout)
    nested = checkout / "docs" / "deep"
    nested.mkdir(parents=True)
    assert find_checkout(str(nested)) == str(checkout)  # a parent of the current directory
    monkeypatch.chdir(nested)
    assert find_checkout() == str(checkout)  # default: os.getcwd()


def test_installed_package_run_from_the_repository_root_finds_it(installed, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert find_checkout() == str(ROOT)


def test_package_parent_comes_first(tmp_path, monkeypatch):
    editable = _checkout(tmp_path / "editable")
    other = _checkout(tmp_path / "other")
    monkeypatch.setattr(stack_module, "PACKAGE_PARENT", str(editable))
    assert find_checkout(str(other)) == str(editable)


def test_nearest_checkout_wins(installed, tmp_path):
    outer = _checkout(tmp_path / "outer")
    inner = _checkout(outer / "vendored" / "inner")
    assert find_checkout(str(inner / "scripts")) == str(inner)


def test_no_checkout_anywhere(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert find_checkout(str(elsewhere)) is None
    (elsewhere / "scripts").mkdir()  # scripts/ without scripts/kafka is not a checkout
    assert find_checkout(str(elsewhere)) is None


def test_stack_without_checkout_exits_3_with_a_clear_error(installed, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["stack", "status"]) == 3
    captured = capsys.readouterr()
    error = " ".join(captured.err.split())
    assert "source checkout" in error and "scripts/kafka" in error
    assert f"in {tmp_path} or its parents" in error
    assert "inside the repository" in error
    assert captured.out == ""


def test_stack_status_and_down_run_the_scripts_of_the_checkout_found(installed, tmp_path, monkeypatch, capsys):
    checkout = _checkout(tmp_path / "repo")
    (checkout / "docs").mkdir()
    monkeypatch.chdir(checkout / "docs")
    assert main(["stack", "status"]) == 3  # the fake services are stopped
    out = capsys.readouterr().out
    for name in stack_module.SERVICES:
        assert f"stopped (fake {name})" in out
    assert f"scripts: {checkout / 'scripts'}" in out.replace("\n", "")
    assert main(["stack", "down"]) == 0
    assert (checkout / "calls.log").read_text().splitlines() == [
        "kafka status", "postgres status", "debezium status", "debezium stop", "postgres stop", "kafka stop"]


def _install(tmp_path: pathlib.Path) -> pathlib.Path:
    """cli/ and engine/ copied into a site directory, with pip's console-script launcher."""
    site = tmp_path / "site"
    for package in ("cli", "engine"):
        shutil.copytree(ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    launcher = tmp_path / "bin" / "velocity-flow"
    launcher.parent.mkdir()
    launcher.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import re
        import sys
        import cli
        assert cli.__file__.startswith({str(site)!r}), cli.__file__  # the installed copy, not the checkout
        from cli.main import entry
        if __name__ == '__main__':
            sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
            sys.exit(entry())
        """))
    return launcher


def _run_installed(launcher: pathlib.Path, cwd, *args: str) -> subprocess.CompletedProcess:
    # -S: no site-packages .pth files, so an editable install of the checkout is not importable;
    # the dependencies (rich, ...) come from this interpreter's site-packages on PYTHONPATH.
    paths = [str(launcher.parent.parent / "site"), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-S", str(launcher), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_installed_console_script_stack_status_from_the_repository_root(tmp_path):
    """What `pip install . && velocity-flow stack status` does from the repository root."""
    launcher = _install(tmp_path)
    result = _run_installed(launcher, ROOT, "stack", "status")
    assert "error" not in result.stderr, result.stderr
    assert result.returncode in (0, 3), result.stderr  # 3: some service is not running
    for name in stack_module.SERVICES:
        assert f"│ {name}" in result.stdout
    assert f"scripts: {ROOT / 'scripts'}" in result.stdout

    outside = tmp_path / "outside"
    outside.mkdir()
    result = _run_installed(launcher, outside, "stack", "status")
    assert result.returncode == 3
    assert "source checkout" in result.stderr and result.stdout == ""
