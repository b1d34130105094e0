"""The README's tutorial topology is valid, and its inferred DuckDB columns are what it implies."""

import os
import pathlib
import re

from engine.binding import validate_text

ROOT = pathlib.Path(__file__).parents[1]


def test_tutorial_topology_is_valid():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    tutorial = readme.split("## Five-minute tutorial", 1)[1]
    text = re.search(r"```yaml\n(.*?)```", tutorial, re.S).group(1)
    cwd = os.getcwd()
    os.chdir(ROOT)  # the tutorial's relative paths are relative to the repository root
    try:
        result = validate_text("README.md", text, env={})
    finally:
        os.chdir(cwd)
    assert result.ok, [d.message for d in result.diagnostics]
    assert result.topology.sinks["orders"].options["columns"] == {
        "order_id": "int", "status": "str", "weight_kg": "decimal(10,3)", "heavy": "bool", "city": "str"}
