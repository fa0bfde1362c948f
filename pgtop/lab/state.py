"""The lab's state file (lab.json) and teardown from it, usable from any process."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from pgtop.atomic import WriteError, write_atomically
from pgtop.lab.installs import RunAs
from pgtop.lab.names import STATE_FILE, LabError
from pgtop.lab.processes import child_pids, pid_alive, stop_pid

# --------------------------------------------------------------------------- state


@dataclass(slots=True)
class Endpoint:
    """How to reach one lab server; passwords stay in the passfile, never in a DSN."""

    host: str
    port: int
    passfile: str

    def dsn(self, user: str, dbname: str, **extra: str) -> str:
        params = {
            "host": self.host,
            "port": str(self.port),
            "dbname": dbname,
            "user": user,
            "passfile": self.passfile,
            **extra,
        }
        return psycopg.conninfo.make_conninfo(**params)


@dataclass(slots=True)
class LabState:
    """Everything needed to use or tear down a lab, saved as lab.json in its directory."""

    directory: str
    major: int
    bindir: str
    passfile: str
    primary_port: int = 0
    replica_port: int = 0
    bouncer_port: int = 0
    primary_pid: int = 0
    replica_pid: int = 0
    bouncer_pid: int = 0
    workload_pid: int = 0
    owner_pid: int = 0
    servers: dict[str, int] = field(
        default_factory=dict
    )  # data dir -> postmaster pid (0: starting)

    def save(self) -> None:
        path = Path(self.directory) / STATE_FILE
        try:
            write_atomically(path, json.dumps(asdict(self), indent=2), replace=True)
        except WriteError as exc:
            raise LabError(str(exc)) from exc

    @classmethod
    def load(cls, directory: Path) -> LabState:
        try:
            raw = json.loads((directory / STATE_FILE).read_text())
        except (OSError, ValueError) as exc:
            raise LabError(f"{directory} is not a pgtop lab directory ({exc})") from exc
        return cls(**raw)

    def pids(self) -> list[int]:
        return [
            pid
            for pid in (self.workload_pid, self.bouncer_pid, self.replica_pid, self.primary_pid)
            if pid
        ]


def stop_lab(state: LabState, *, remove: bool = True) -> list[str]:
    """Stop a lab's processes by pid (pg_ctl for servers) and remove its directory.

    Returns the problems met; never raises, so one failure does not leave the rest running.
    """
    problems: list[str] = []
    if state.workload_pid:
        stop_pid(state.workload_pid, group=True)
    if state.bouncer_pid:
        stop_pid(state.bouncer_pid, grace_s=5)
    run_as = RunAs.choose()
    for data_dir, recorded_pid in reversed(list(state.servers.items())):
        pid = recorded_pid or postmaster_pid(Path(data_dir))
        if not pid or not pid_alive(pid):
            continue
        children = child_pids(pid)
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [
                    str(Path(state.bindir) / "pg_ctl"),
                    "stop",
                    "-D",
                    data_dir,
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    "15",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=20,
                check=False,
                **run_as.popen_kwargs(),
            )
        stop_pid(pid, grace_s=5)
        for child in children:
            stop_pid(child, grace_s=2)
        if pid_alive(pid):
            problems.append(f"postgres pid {pid} did not stop")
    if remove and not problems:
        shutil.rmtree(state.directory, ignore_errors=True)
    return problems


def postmaster_pid(data_dir: Path) -> int:
    try:
        return int((data_dir / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return 0
