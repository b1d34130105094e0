"""docs/tutorial.md, run as written: every `velocity-flow` command of its bash blocks, in order,
in an empty directory, with the one edit it asks for; each must exit 0 and say what the page
says it says."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")


def _commands():
    blocks = re.findall(r"```bash\n(.*?)```", PAGE, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("velocity-flow ")]


def _edit():
    """The YAML line the page shows for step 5, and the line of the scaffold it replaces."""
    new = re.search(r"```yaml\n(    cast: .*)\n```", PAGE).group(1)
    return new.split(", on_error")[0] + "}", new


def test_every_command_of_the_tutorial_runs_as_the_page_says(tmp_path):
    commands = _commands()
    assert [c.split()[1] for c in commands] == ["init", "validate", "test", "run", "tap", "tap", "validate", "replay"]
    outputs = {}
    for index, command in enumerate(commands):
        if command.startswith("velocity-flow validate") and index > 1:  # step 5: the edit comes first
            old, new = _edit()
            text = (tmp_path / "shipments.yaml").read_text()
            assert old in text, "the scaffold's cast line is not the one the tutorial edits"
            (tmp_path / "shipments.yaml").write_text(text.replace(old, new))
        argv = [sys.executable, "-m", "cli", *shlex.split(command)[1:]]
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
        outputs[index] = done.stdout + done.stderr
    dead = (tmp_path / "out" / "shipments" / "dead-letter.jsonl").read_text()
    assert '"origin":"samples/shipments.jsonl:4"' in dead and "cannot cast field 'amount' value 'n/a'" in dead
    assert outputs[4].count('"id":') == 2  # tap --limit 2
    assert "n/a" in outputs[5]  # the dead letter, tapped
    assert re.search(r"filtered out.*\b1\b", outputs[7]) and re.search(r"dead again\D*0", outputs[7])
