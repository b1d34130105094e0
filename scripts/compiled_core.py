"""Hatch build hook: the engine's hot operator modules compiled with mypyc into the wheel.

``pip install .`` builds a wheel; this hook compiles the modules listed under
``[tool.hatch.build.targets.wheel.hooks.custom] compiled`` in pyproject.toml to C extensions
(mypyc, the compiler mypy itself ships with) and adds them beside their sources: Python imports
an extension before a ``.py`` of the same name, so the sources stay as the fallback and the
traceback's reference. They run the same code ~5-10% faster (docs/performance.md).

Never a build failure: without a C compiler or Python's headers, or with
``VELOCITY_FLOW_PURE=1`` in the environment, the wheel is the pure-Python one (with a warning).
An editable install (``pip install -e .``) is never compiled: the sources are what a developer
edits and runs. mypyc checks a compiled function's annotations when it is called, so they must
be true of every value (tests/test_compiled_core.py runs the flows' tests on the installed
build under CI).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

_TIMEOUT = 900  # seconds for mypy's analysis and the C compiler (2 cores: ~1 minute)
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
            self._warn("VELOCITY_FLOW_PURE is set: the wheel is pure Python")
            return
        modules = list(self.config.get("compiled", []))
        if not modules:
            return
        work = self._work = tempfile.mkdtemp(prefix="velocity-flow-mypyc-")
        try:
            built = self._compile(modules, work)
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            self._warn(f"the compiled core was not built ({exc}); the wheel is pure Python")
            return
        # (hatch copies the extensions from the temporary directory when it writes the wheel: finalize)
        build_data["force_include"].update({path: os.path.relpath(path, work) for path in built})
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        work = getattr(self, "_work", None)
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)

    def _compile(self, modules: list, work: str) -> list:
        root = self.root
        shutil.copytree(os.path.join(root, "engine"), os.path.join(work, "engine"),
                        ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyd"))
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
        suffixes = (".so", ".pyd")
        built = [path for path in glob.glob(os.path.join(work, "**", "*"), recursive=True)
                 if path.endswith(suffixes) and os.sep + "build" + os.sep not in path]
        missing = [module for module in modules
                   if not any(path.startswith(os.path.join(work, *module.split(".")) + ".") for path in built)]
        if missing or len(built) <= len(modules):  # (each module, and the group's shared library)
            raise RuntimeError(f"mypyc built {len(built)} extensions for {len(modules)} modules")
        return built

    def _warn(self, text: str) -> None:
        print(f"velocity-flow build: {text}", file=sys.stderr)
