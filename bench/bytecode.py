"""Byte code as an installed package has it, for benches that time whole processes.

pip compiles a package's modules when it installs it, so a user's ``velocity-flow`` starts from
cached byte code, as do Bytewax, confluent-kafka and the other packages of the environment. This
checkout's environment sets ``PYTHONDONTWRITEBYTECODE``: a process started from the checkout
compiled every module changed since its byte code was last cached (on 2026-12-02, 66 modules of
engine/ and cli/: 142M of the 855M instructions of an idle ``deploy`` of the transport-order
flow). ``installed_env`` compiles engine/ and cli/ into their ``__pycache__`` (git ignores it)
and gives an environment without that setting.
"""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from typing import Mapping, Optional

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def installed_env(env: Optional[Mapping[str, str]] = None) -> dict:
    """``env`` (default: this process's) without ``PYTHONDONTWRITEBYTECODE``, engine/ and cli/
    compiled now."""
    out = {k: v for k, v in (os.environ if env is None else env).items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "engine"), os.path.join(ROOT, "cli")],
                   env=out, check=True, timeout=300, stdout=subprocess.DEVNULL)
    return out


def engine_build(root: str = ROOT) -> str:
    """Which engine a checkout runs: its sources, or the compiled core built into it in place
    (``python scripts/compiled_core.py --in-place``, as ``pip install .`` builds it; its
    ``in_place`` lists them)."""
    in_place = runpy.run_path(os.path.join(ROOT, "scripts", "compiled_core.py"))["in_place"]
    modules = [os.path.relpath(path, root).split(".")[0].replace(os.sep, ".") for path in in_place(root)]
    compiled = [name for name in modules if name.startswith("engine.")]  # (not the group's shared library)
    return f"compiled in place ({', '.join(compiled)})" if compiled else "pure Python (no compiled core in place)"
