"""Standard output that cannot be written (``velocity-flow ... > /dev/full``, a full disk) is a
destination failing: one line and exit 3, as every --help lists, not an "internal error" (exit 4,
"this is a bug") nor a traceback. A reader that leaves early is tests/cli/test_cli_world.py's."""

import os
import subprocess
import sys

import pytest

from cli.main import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "topologies", "examples", "transport_orders.yaml")

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")


@pytest.mark.parametrize("args", [["validate", EXAMPLE], ["validate", "--format", "json", EXAMPLE],
                                  ["graph", EXAMPLE], ["schema"], ["--help"], ["validate", "--help"], ["--version"]])
def test_a_full_standard_output_is_one_line_exit_3(args, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYTEWAX_", "VELOCITY_FLOW_"))}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "cli", *args], cwd=tmp_path, stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120, env={**env, "PYTHONPATH": ROOT})
    assert done.returncode == 3, done.stderr
    assert done.stderr == "error: cannot write standard output: No space left on device\n", done.stderr


@pytest.mark.parametrize("command", ["validate", "schema", "test"])
def test_their_help_lists_exit_3(command, capsys):
    assert main([command, "--help"]) == 0
    assert "\n  3    " in capsys.readouterr().out.split("exit codes:", 1)[1]
