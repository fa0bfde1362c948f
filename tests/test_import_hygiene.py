"""The data layer runs without a terminal: importing it loads no UI library.

import-linter checks the import graph statically (pyproject.toml); this imports every module the
contract names, in a fresh interpreter, and looks at what actually got loaded."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def _contract() -> dict[str, list[str]]:
    config = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return contract  # type: ignore[no-any-return]


def test_data_layer_loads_no_ui() -> None:
    contract = _contract()
    modules = contract["source_modules"]
    for required in ("pgtop.units", "pgtop.history", "pgtop.atomic", "pgtop.text"):
        assert required in modules
    forbidden = contract["forbidden_modules"]
    script = (
        "import importlib, pkgutil, sys\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    for info in pkgutil.walk_packages(getattr(module, '__path__', []), name + '.'):\n"
        "        importlib.import_module(info.name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}"
        " or m.startswith('pgtop.ui')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PROJECT
    )
    assert result.stdout.strip() == "[]"
