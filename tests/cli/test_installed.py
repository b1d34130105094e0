"""After README's ``pip install .``: the wheel alone, run from a directory outside the checkout.

The wheel is built and installed with ``--no-deps`` into a fresh virtual environment that
borrows this environment's dependencies through a ``.pth`` line (that directory's own ``.pth``
files, the editable install of the checkout among them, are not processed), so the test takes
seconds and runs in the normal suite, CI included.
"""

import json
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    base = tmp_path_factory.mktemp("installed")
    wheels = base / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(wheels)],
                           capture_output=True, text=True, timeout=300, cwd=base)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("velocity_flow-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    pathlib.Path(site, "_velocity_flow_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    # --ignore-installed: under CI the suite's own environment holds a non-editable install of the same
    # version, visible through the .pth line; without it pip calls the wheel "already satisfied".
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                              "--no-index", "--ignore-installed", str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    work = base / "work"  # the user's directory: no checkout anywhere above it
    work.mkdir()
    return venv, pathlib.Path(site), work


def _run(installed, *args: str, timeout: float = 120, cwd=None) -> subprocess.CompletedProcess:
    venv, _, work = installed
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], cwd=cwd or work, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_the_package_is_the_installed_one(installed):
    _, site, _ = installed
    result = _run(installed, "python", "-c", "import cli, engine.resources as r; print(cli.__file__); "
                                             "print(r.scripts_dir()); print(r.topologies_dir())")
    assert result.returncode == 0, result.stderr
    cli_file, scripts, topologies = result.stdout.split()
    for path in (cli_file, scripts, topologies):
        assert path.startswith(str(site)), path
    for name in ("kafka", "postgres", "debezium", "services/kafka/pom.xml", "services/debezium/pom.xml",
                 "services/debezium/worker.properties", "services/debezium/postgres-connector.properties"):
        assert pathlib.Path(scripts, name).is_file(), name
    # scripts/postgres loads the TMS schema from beside it: ROOT/schemas/tms/tms.sql
    assert (pathlib.Path(scripts).parent / "schemas" / "tms" / "tms.sql").is_file()


def test_stack_help_and_scripts(installed):
    result = _run(installed, "velocity-flow", "stack", "--help")
    assert result.returncode == 0 and "SERVICE" in result.stdout, result.stderr
    result = _run(installed, "python", os.path.join(_scripts(installed), "kafka"), "--help")
    assert result.returncode == 0 and "start" in result.stdout, result.stderr


def _scripts(installed) -> str:
    _, site, _ = installed
    return str(site / "engine" / "_bundled" / "scripts")


def test_readme_commands_from_elsewhere(installed):
    _, site, work = installed
    result = _run(installed, "velocity-flow", "demo", "--orders", "20", "-q", timeout=300)
    assert result.returncode == 0, result.stderr
    assert list((work / "out" / "demo").glob("*.duckdb"))
    shipped = site / "engine" / "_bundled" / "topologies" / "velocity" / "transport_order_domain.yaml"
    result = _run(installed, "velocity-flow", "validate", str(shipped))
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run(installed, "velocity-flow", "schema", "--path")
    assert result.returncode == 0 and result.stdout.strip().startswith(str(site))
    assert pathlib.Path(result.stdout.strip()).is_file()


def test_a_new_flow_from_init(installed):
    _, _, work = installed
    for command in (["init", "my-flow"], ["validate", "my-flow.yaml"], ["run", "-q", "my-flow.yaml"],
                    ["graph", "my-flow.yaml"], ["test", "my-flow.yaml"]):
        result = _run(installed, "velocity-flow", *command)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert (work / "out" / "my-flow" / "events.jsonl").read_text()


def test_the_http_page_is_served_from_the_wheel(installed):
    """run --http's page, its files and the API schema come from the installed package."""
    import json
    import signal
    import time
    import urllib.request

    venv, _, work = installed
    (work / "in.jsonl").write_text('{"n": 1}\n')
    (work / "web.yaml").write_text("version: 1\nname: web\nsources:\n  orders: {file: {path: in.jsonl}}\n"
                                   "sinks:\n  out: {from: orders, file: {path: out.jsonl}}\n")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    flow = subprocess.Popen([str(venv / "bin" / "velocity-flow"), "run", "-q", "web.yaml", "--http", "127.0.0.1:0",
                             "--http-linger", "60", "--status-file", "st.json"], cwd=work, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, base = time.monotonic() + 60, None
        while base is None and time.monotonic() < deadline:
            try:
                base = json.loads((work / "st.json").read_text())["http"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        assert base is not None
        for path, marker in (("/", b"/static/app.js"), ("/static/app.js", b"graph.svg"),
                             ("/static/style.css", b".dag"), ("/api/v1/schema", b"$defs")):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert marker in response.read(), path
    finally:
        flow.send_signal(signal.SIGTERM)
        _, err = flow.communicate(timeout=60)
    assert flow.returncode == 0, err


README_SERVICES = {  # need the services `stack up` starts (Java, Maven, PostgreSQL): tests/services runs them
    "stack up", "stack up kafka", "stack down", "stack down kafka", "deploy my.yaml -p 2 -w 2",
    "deploy --env kafka topologies/velocity/transport_order_domain.yaml",
    "generate tms --orders 200 --postgres postgresql://postgres@127.0.0.1:15432/tms --rate 100"}
README_ELSEWHERE = {"demo", "init my-flow", "schema --path"}  # run by the tests above
README_PROSE = {"stack", "test", "validate"}  # a name in a sentence: "`velocity-flow validate`, `run` and ..."
README_CHECKOUT = {"run topologies/examples/transport_orders.yaml", "test topologies/",
                   "test topologies/ --format junit"}


def test_every_readme_command(installed):
    """Each `velocity-flow ...` the README shows, from the wheel, outside the checkout: the
    tutorial's commands on its topology (saved as my.yaml beside a copy of the sample data),
    the checkout's commands in a copy of what a clone holds (topologies/, samples/, schemas/)."""
    _, _, work = installed
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = {re.sub(r"\s+", " ", c).strip() for c in re.findall(r"velocity-flow ([^`#\n]*)", readme)}
    shown.add("graph my.yaml --format svg -o flow.svg")  # "`--format svg -o flow.svg`" of the graph step
    tutorial = readme.split("## Five-minute tutorial", 1)[1]
    mine, clone = work / "readme", work / "clone"
    mine.mkdir()
    (mine / "my.yaml").write_text(re.search(r"```yaml\n(.*?)```", tutorial, re.S).group(1))
    for folder in ("samples", "topologies", "schemas"):
        shutil.copytree(ROOT / folder, clone / folder)
    shutil.copytree(ROOT / "samples", mine / "samples")
    unknown = shown - README_SERVICES - README_ELSEWHERE - README_PROSE - README_CHECKOUT
    assert all(c.split()[1:2] == ["my.yaml"] or c.startswith("query my.yaml") for c in unknown), unknown
    ordered = sorted(unknown, key=lambda c: (not c.startswith("validate"), not c.startswith("run"), c))
    for command in ordered + sorted(README_CHECKOUT):
        if "--format svg" in command and shutil.which("dot") is None:
            continue  # Graphviz is a system program the set-up does not install (tests/cli/test_graph_picture.py)
        result = _run(installed, "velocity-flow", *shlex.split(command), timeout=300,
                      cwd=clone if command in README_CHECKOUT else mine)
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-2000:])
    assert (mine / "flow.svg").exists() or shutil.which("dot") is None


# docs/*.md: their `velocity-flow` commands from the wheel, outside the checkout. The README's are
# above, the tutorial's in tests/test_tutorial.py; these need services (tests/services), a port or
# the other machines of a cluster:
DOCS_SERVICES = ("stack ", "deploy ", "--env kafka", "--postgres", "--env postgres", "--http", "query ", " -a ")
DOCS_ELSEWHERE = {"demo"}  # test_readme_commands_from_elsewhere
DOCS_SYSTEM_PATH = {"run flow.yaml --status-file /run/velocity/flow.json"}  # a path of the example's machine
DOCS_PAGES = ("topology", "deploy", "operations", "expressions", "aggregate", "joins", "testing", "tms", "velocity",
              "kafka", "transactions")


def _bash_blocks(page: str) -> list:
    """The lines of the page's ```bash blocks, continuation lines joined."""
    text = (ROOT / "docs" / f"{page}.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M)
    return [line.strip() for block in blocks for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def _doc_commands(page: str) -> list:
    commands = []
    for line in _bash_blocks(page):
        if line.startswith("velocity-flow "):
            words = shlex.split(line, comments=True)[1:]
            command = " ".join(shlex.quote(w) for w in words)
            if not (any(s in command + " " for s in DOCS_SERVICES) or command in DOCS_ELSEWHERE | DOCS_SYSTEM_PATH):
                commands.append(words)
    return commands


def test_the_docs_commands_from_an_install(installed):
    """Every `velocity-flow` command of the docs' bash blocks that needs no service, in order, from
    the wheel in a directory of its own: the shipped topologies copied as docs/velocity.md says,
    docs/operations.md's flow.yaml as the page shows it."""
    venv, _, work = installed
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    ran = []
    for page in DOCS_PAGES:
        where = work / f"docs-{page}"
        where.mkdir()
        copy = [line for line in _bash_blocks("velocity") if line.startswith("cp -r ")]
        assert len(copy) == 1, copy
        done = subprocess.run(["bash", "-c", copy[0]], cwd=where, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and (where / "topologies" / "velocity").is_dir(), done.stderr
        if page == "operations":
            _operations_files(where)
        for words in _doc_commands(page):
            stdout = None
            if ">" in words:  # `... --format junit > junit.xml`
                words, stdout = words[:words.index(">")], words[words.index(">") + 1]
            if words[0] == "replay" and not (where / "failed.jsonl").exists():
                (where / "out" / "dead.jsonl").rename(where / "failed.jsonl")  # as the page says
            result = _run(installed, "velocity-flow", *words, timeout=300, cwd=where)
            # replay: 1 when some dead letters fail again (here the malformed line always does)
            assert result.returncode in ((0, 1) if words[0] == "replay" else (0,)), (page, words, result.stderr[-2000:])
            assert "Traceback" not in result.stderr, (page, words, result.stderr[-2000:])
            if stdout:
                (where / stdout).write_text(result.stdout)
            ran.append((page, words[0]))
    assert {page for page, _ in ran} == {"operations", "testing", "velocity"}, ran  # a new page's commands: add it
    assert ET.parse(work / "docs-testing" / "junit.xml").getroot().tag == "testsuites"


def _operations_files(where: pathlib.Path) -> None:
    """docs/operations.md's flow.yaml, an input with one event of each kind, and the fixed topology."""
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    flow = re.search(r"```yaml\n(version: 1\nname: tapped\n.*?)```", text, re.S).group(1)
    (where / "flow.yaml").write_text(flow)
    lines = [json.dumps({"n": str(n), "kg": "n/a" if n == 3 else f"{n}.50", "at": "2024-05-01T10:00:00Z"})
             for n in range(10)]
    (where / "in.jsonl").write_text("\n".join(lines) + "\nnot json\n")
    # the fix: an amount that is not a number becomes null; `--env other` needs an environment of that name
    fixed = flow.replace('at: timestamp}}', 'at: timestamp}, on_error: "null"}')
    assert fixed != flow
    (where / "fixed.yaml").write_text(fixed + "environments:\n  other: {name: tapped-other}\n")
