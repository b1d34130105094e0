"""The engine's hot operator modules compiled with mypyc: a Hatch build hook, and a script.

``pip install .`` builds a wheel; this hook compiles the modules listed under
``[tool.hatch.build.targets.wheel.hooks.custom] compiled`` in pyproject.toml to C extensions
(mypyc, the compiler mypy itself ships with) and adds them beside their sources: Python imports
an extension before a ``.py`` of the same name, so the sources stay as the fallback and the
traceback's reference. They run the same code with fewer instructions (docs/performance.md).

Never a build failure: without a C compiler or Python's headers, or with
``VELOCITY_FLOW_PURE=1`` in the environment, the wheel is the pure-Python one (with a warning).
An editable install (``pip install -e .``) is never compiled: the sources are what a developer
edits and runs. mypyc checks a compiled function's annotations when it is called, so they must
be true of every value (tests/test_compiled_core.py runs the flows' tests on the installed
build under CI).

As a script, for a checkout (the benches run the engine from one, which the checkout's sources
would otherwise shadow)::

    python scripts/compiled_core.py --in-place   # the extensions into the checkout (needs mypy)
    python scripts/compiled_core.py --clean      # and out again: edited sources run again

An extension in place runs instead of its ``.py``: edits of a compiled module take effect only
after ``--in-place`` again, or ``--clean``.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from typing import List

try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # run as a script: no hatchling needed
    BuildHookInterface = object  # type: ignore[assignment,misc]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TIMEOUT = 900  # seconds for mypy's analysis and the C compiler (2 cores: ~1 minute)
_SUFFIXES = (".so", ".pyd")
_SETUP = """\
from setuptools import setup
from mypyc.build import mypycify

setup(name="velocity_flow_core", ext_modules=mypycify(
    ["--config-file", "mypyc.ini", *{paths!r}], opt_level="3", group_name="velocity_flow_core"))
"""
# mypy's own configuration for the analysis mypyc compiles from (the project's [tool.mypy] checks
# `engine` and `cli` whole; here only what the compiled modules import is read)
_CONFIG = "[mypy]\nignore_missing_imports = True\nfollow_imports = silent\n"


class CompiledCoreHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        if os.environ.get("VELOCITY_FLOW_PURE", "").lower() in ("1", "true", "yes"):
            _warn("VELOCITY_FLOW_PURE is set: the wheel is pure Python")
            return
        modules = list(self.config.get("compiled", []))
        if not modules:
            return
        work = self._work = tempfile.mkdtemp(prefix="velocity-flow-mypyc-")
        try:
            built = compile_modules(self.root, modules, work)
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            _warn(f"the compiled core was not built ({exc}); the wheel is pure Python")
            return
        # (hatch copies the extensions from the temporary directory when it writes the wheel: finalize)
        build_data["force_include"].update({path: os.path.relpath(path, work) for path in built})
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


def compile_modules(root: str, modules: List[str], work: str) -> List[str]:
    """The extensions of ``modules`` (and the group's shared library), built in ``work`` from a
    copy of ``root``'s engine package; RuntimeError when mypyc or the C compiler fails."""
    shutil.copytree(os.path.join(root, "engine"), os.path.join(work, "engine"),
                    ignore=shutil.ignore_patterns("__pycache__", *(f"*{s}" for s in _SUFFIXES)))
    paths = [module.replace(".", "/") + ".py" for module in modules]
    with open(os.path.join(work, "setup.py"), "w", encoding="utf-8") as f:
        f.write(_SETUP.format(paths=paths))
    with open(os.path.join(work, "mypyc.ini"), "w", encoding="utf-8") as f:
        f.write(_CONFIG)
    done = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=work,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=_TIMEOUT, check=False)
    if done.returncode != 0:
        tail = done.stdout.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError("mypyc failed: " + " | ".join(tail))
    built = [path for path in glob.glob(os.path.join(work, "**", "*"), recursive=True)
             if path.endswith(_SUFFIXES) and os.sep + "build" + os.sep not in path]
    missing = [module for module in modules
               if not any(path.startswith(os.path.join(work, *module.split(".")) + ".") for path in built)]
    if missing or len(built) <= len(modules):  # (each module, and the group's shared library)
        raise RuntimeError(f"mypyc built {len(built)} extensions for {len(modules)} modules")
    return built


def compiled_list(root: str = ROOT) -> List[str]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]["hooks"]["custom"]["compiled"]


def in_place(root: str = ROOT) -> List[str]:
    """Every extension found in the checkout (engine/ and its root), as --clean would remove them."""
    found = glob.glob(os.path.join(root, "engine", "**", "*"), recursive=True)
    found += glob.glob(os.path.join(root, "velocity_flow_core__mypyc*"))
    return sorted(path for path in found if path.endswith(_SUFFIXES))


def _warn(text: str) -> None:
    print(f"velocity-flow build: {text}", file=sys.stderr)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--in-place", action="store_true", help="compile into this checkout")
    action.add_argument("--clean", action="store_true", help="remove the checkout's compiled modules")
    args = parser.parse_args(argv)
    for path in in_place():
        os.remove(path)
    if args.clean:
        return 0
    work = tempfile.mkdtemp(prefix="velocity-flow-mypyc-")
    try:
        built = compile_modules(ROOT, compiled_list(), work)
        for path in built:
            shutil.copy2(path, os.path.join(ROOT, os.path.relpath(path, work)))
    except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"compiled in place: {len(built) - 1} modules (--clean to remove them)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
