"""Throwaway PostgreSQL servers on loopback: a primary, a streaming replica and PgBouncer.

Used by `pgtop demo` and by the tests. Everything lives in one temp directory; every process the
lab starts is recorded (pid) in `lab.json` as soon as it exists, so teardown — by this process, by
a signal, or by `pgtop demo --stop DIR` from another process — stops exactly those processes and
nothing else.
"""

from pgtop.lab.cluster import Lab, running_lab
from pgtop.lab.installs import PgInstall, RunAs, find_installation, find_installations
from pgtop.lab.names import (
    APP_DATABASE,
    APP_ROLE,
    BOUNCER_ADMIN,
    BOUNCER_POOL_SIZE,
    MONITOR_ROLE,
    REPLICATION_SLOT,
    STATE_FILE,
    SUPERUSER,
    LabError,
)
from pgtop.lab.processes import child_pids, free_port, pid_alive, stop_pid
from pgtop.lab.state import Endpoint, LabState, stop_lab

__all__ = [
    "APP_DATABASE",
    "APP_ROLE",
    "BOUNCER_ADMIN",
    "BOUNCER_POOL_SIZE",
    "MONITOR_ROLE",
    "REPLICATION_SLOT",
    "STATE_FILE",
    "SUPERUSER",
    "Endpoint",
    "Lab",
    "LabError",
    "LabState",
    "PgInstall",
    "RunAs",
    "child_pids",
    "find_installation",
    "find_installations",
    "free_port",
    "pid_alive",
    "running_lab",
    "stop_lab",
    "stop_pid",
]
