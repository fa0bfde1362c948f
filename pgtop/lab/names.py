"""Names, roles and limits shared by the lab's parts."""

from __future__ import annotations

STATE_FILE = "lab.json"
SUPERUSER = "postgres"
MONITOR_ROLE = "pgtop_monitor"
APP_ROLE = "app"
APP_DATABASE = "app"
BOUNCER_ADMIN = "pgbouncer_admin"
REPLICATION_SLOT = "pgtop_lab_replica"
BOUNCER_POOL_SIZE = 5
START_TIMEOUT_S = 60


class LabError(RuntimeError):
    """The lab could not start; the message is one line saying why."""
