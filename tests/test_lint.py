"""ruff and mypy over engine/ and cli/ (configured in pyproject.toml): CI runs only pytest, so both run as a test."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "--no-cache", "engine", "cli"], ["mypy", "--cache-dir", os.devnull, "engine", "cli"]],
    ids=["ruff", "mypy"],
)
def test_no_findings(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)} reported:\n{done.stdout}{done.stderr}"
