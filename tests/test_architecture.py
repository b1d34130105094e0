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


def test_engine_never_imports_the_cli():
    offenders = [str(p.relative_to(ROOT)) for p in python_files("engine")
                 if any(m.split(".")[0] == "cli" for m in imports_of(p))]
    assert offenders == []


def test_connectors_and_operators_do_not_know_yaml():
    offenders = [str(p.relative_to(ROOT)) for p in python_files("engine/connectors", "engine/operators",
                                                                 "engine/expressions")
                 if any(m.startswith(("ruamel", "engine.topology")) for m in imports_of(p))]
    assert offenders == []
