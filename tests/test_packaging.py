"""An installed, non-editable pgtop works from a fresh virtualenv: entry point, themes, SQL."""

from __future__ import annotations

import ast
import subprocess
import venv
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def test_fresh_venv_install_runs_and_finds_its_files(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(PROJECT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    pgtop = env_dir / "bin" / "pgtop"
    version = subprocess.run(
        [str(pgtop), "--version"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert version.stdout.startswith("pgtop ")
    helped = subprocess.run(
        [str(pgtop), "--help"], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert "--pgbouncer" in helped.stdout
    probe = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "import pgtop, pathlib; from pgtop.themes import load_theme_specs, theme_dirs;"
            "specs, errors = load_theme_specs(); root = pathlib.Path(pgtop.__file__).parent;"
            "print(theme_dirs()[0]); print(sorted(specs)); print(errors);"
            "print(len(list((root / 'collect' / 'sql').glob('*.sql'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    theme_dir, names, errors, sql_files = probe.stdout.splitlines()
    assert theme_dir.startswith(str(env_dir)), theme_dir
    assert {"pgtop-dark", "pgtop-light", "pgtop-high-contrast"} <= set(ast.literal_eval(names))
    assert errors == "[]"
    assert int(sql_files) > 5
