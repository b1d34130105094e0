"""``velocity-flow graph --format svg|png``: Graphviz ``dot`` draws the DAG; without ``dot`` on
PATH, one line says it is missing and how to get it (exit 3)."""

import html
import io
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout

import pytest

from cli.main import main
from engine.binding import validate_file

EXAMPLE = "topologies/examples/transport_orders.yaml"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")


def cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def _step_ids():
    definition = validate_file(EXAMPLE).topology.definition
    return [step.id for step in definition.steps]


@needs_dot
def test_svg_has_every_step(tmp_path, monkeypatch):
    target = tmp_path / "flow.svg"
    code, out, err = cli("graph", EXAMPLE, "--format", "svg", "-o", str(target))
    assert code == 0, err
    svg = target.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    texts = {html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}  # dot writes '-' as &#45;
    ids = _step_ids()
    assert ids and set(ids) <= texts, (ids, texts)
    code, out, _ = cli("graph", EXAMPLE, "--format", "svg")  # no -o: standard output
    assert code == 0 and "<svg" in out


@needs_dot
def test_png(tmp_path):
    target = tmp_path / "flow.png"
    assert cli("graph", EXAMPLE, "--format", "png", "-o", str(target))[0] == 0
    assert target.read_bytes().startswith(b"\x89PNG")
    code, _, err = cli("graph", EXAMPLE, "--format", "png")
    assert code == 2 and "needs -o FILE" in err


def test_without_dot_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    code, out, err = cli("graph", EXAMPLE, "--format", "svg", "-o", str(tmp_path / "x.svg"))
    assert code == 3 and out == ""
    assert "Graphviz 'dot' is not installed" in err and "apt-get install graphviz" in err
    assert not (tmp_path / "x.svg").exists()


def test_text_formats_to_a_file(tmp_path):
    target = tmp_path / "flow.mmd"
    code, out, _ = cli("graph", EXAMPLE, "-o", str(target))
    assert code == 0 and out == "" and target.read_text().startswith(("flowchart", "graph"))
