"""The rooms of the engine stay apart (docs/architecture.md)."""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
BYTEWAX_ROOMS = ("engine/compiler", "engine/runtime", "engine/connectors")


def imports_of(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def python_files(*dirs):
    for folder in dirs:
        yield from (ROOT / folder).rglob("*.py")


def test_bytewax_is_imported_only_in_compiler_runtime_and_connectors():
    offenders = [
        str(p.relative_to(ROOT)) for p in python_files("engine", "cli")
        if any(m.split(".")[0] == "bytewax" for m in imports_of(p))
        and not str(p.relative_to(ROOT)).startswith(BYTEWAX_ROOMS)
    ]
    assert offenders == []


def test_bytewax_operators_is_imported_only_through_lazy_operators():
    # the first import of bytewax.operators must be lazy_operators' (its operators made at first call)
    lazy = ROOT / "engine" / "connectors" / "lazy_operators.py"
    offenders = [str(p.relative_to(ROOT)) for p in python_files("engine", "cli")
                 if p != lazy and any(m.startswith("bytewax.operators") for m in imports_of(p))]
    assert offenders == []
    assert any(m == "bytewax.operators" for m in imports_of(lazy))


def test_engine_never_imports_the_cli():
    offenders = [str(p.relative_to(ROOT)) for p in python_files("engine")
                 if any(m.split(".")[0] == "cli" for m in imports_of(p))]
    assert offenders == []


def test_connectors_and_operators_do_not_know_yaml():
    offenders = [str(p.relative_to(ROOT)) for p in python_files("engine/connectors", "engine/operators",
                                                                 "engine/expressions")
                 if any(m.startswith(("ruamel", "engine.topology")) for m in imports_of(p))]
    assert offenders == []


CORE = ("engine.records", "engine.metrics", "engine.errors", "engine.hints", "engine.values", "engine.durations",
        "engine.jsontext", "engine.resources", "engine.lineage", "engine.stopping",
        "engine.notices", "engine.run_context", "engine.clock", "engine.postgres_errors", "engine.sql_names",
        "engine.frozen", "engine.steering", "engine.thread_state", "engine.shares", "engine.infinite_dates",
        "engine.unavailable", "engine.json_default", "engine.table_rules", "engine.code_cache")
# room -> the rooms it may import (besides itself and the core modules); docs/architecture.md draws it
ROOMS = {
    "engine.expressions": (),
    "engine.catalog": (),
    "engine.topology": ("engine.catalog",),
    "engine.operators": ("engine.expressions",),
    "engine.binding": ("engine.catalog", "engine.topology", "engine.operators", "engine.expressions"),
    "engine.connectors": (),
    "engine.compiler": ("engine.catalog", "engine.binding", "engine.connectors", "engine.operators"),
    "engine.runtime": (),
    "engine.simulation": (),
    "engine.testing": ("engine.catalog", "engine.topology", "engine.binding", "engine.compiler", "engine.connectors",
                       "engine.expressions", "engine.operators", "engine.runtime"),
}


def module_of(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def engine_imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] in ("engine", "cli"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("engine", "cli"):
            if node.module == "engine":  # from engine import values
                yield from (f"engine.{a.name}" for a in node.names)
            else:
                yield node.module


def room_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "engine" else parts[0]


def test_each_room_imports_only_the_rooms_below_it():
    offenders = []
    for path in python_files("engine"):
        room = room_of(module_of(path))
        if room not in ROOMS:
            continue
        for imported in engine_imports(path):
            target = room_of(imported)
            if target not in (room, *CORE, *ROOMS[room]):
                offenders.append(f"{path.relative_to(ROOT)} imports {imported}")
    assert offenders == []


def test_topology_definitions_import_no_operator():
    offenders = [str(p.relative_to(ROOT)) for p in python_files("engine/topology")
                 if any(m.startswith(("engine.operators", "engine.binding", "engine.compiler")) for m in imports_of(p))]
    assert offenders == []


def test_no_import_circle_in_engine_or_cli_function_level_imports_included():
    graph = {}
    modules = {module_of(p): p for p in python_files("engine", "cli")}
    for module, path in modules.items():
        targets = set()
        for imported in engine_imports(path):
            while imported and imported not in modules:  # engine.catalog.registry -> the module it is
                imported = imported.rpartition(".")[0]
            if imported and imported != module:
                targets.add(imported)
        graph[module] = targets
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                circles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    packages = {m for m, p in modules.items() if p.name == "__init__.py"}
    # a package's __init__ handing on its modules' names is not a circle of meaning
    circles = [c for c in circles if not set(c) & packages]
    assert circles == []


def test_no_file_in_engine_or_cli_is_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in python_files("engine", "cli")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400}
    assert long == {}


# cli/observe (run --http) serves from the flow's counters in a thread of its own: it must not load
# Bytewax nor the rooms that do, so a scrape never touches the dataflow (the JSON Lines encoder of
# engine/connectors/jsonl.py, which imports no Bytewax, is the one exception).
OBSERVE_MAY_NOT = ("bytewax", "engine.compiler", "engine.runtime", "engine.connectors")
OBSERVE_MAY = ("engine.connectors.jsonl",)


def test_the_http_server_imports_no_bytewax_room():
    offenders = [f"{p.relative_to(ROOT)} imports {m}" for p in python_files("cli/observe") for m in imports_of(p)
                 if m.startswith(OBSERVE_MAY_NOT) and m not in OBSERVE_MAY]
    assert offenders == []


def test_test_modules_have_unique_names():
    """The test folders are not packages: pytest imports each test module by its file name, and a
    second module of the same name fails the whole run's collection ("import file mismatch")."""
    names = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
