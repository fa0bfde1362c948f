"""What a server is and what the monitoring role may read: probed once per connection."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pgtop.collect.rows import utc
from pgtop.model import Role, ServerInfo

__all__ = [
    "PLAYBOOK_SETTINGS",
    "Capabilities",
    "limitations",
    "pss_missing_reason",
    "quote_ident",
]

# The settings the ops playbook names (archive_command is left out: it may hold secrets).
PLAYBOOK_SETTINGS = (
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_connections",
    "statement_timeout",
    "idle_in_transaction_session_timeout",
    "track_io_timing",
    "wal_level",
    "archive_mode",
    "max_wal_senders",
    "synchronous_commit",
    "hot_standby_feedback",
)


def quote_ident(name: str) -> str:
    """An SQL identifier, always double-quoted, for the hints pgtop prints."""
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True, slots=True)
class Capabilities:
    version: str
    version_num: int
    role: Role
    backend_pid: int
    user: str
    dbname: str
    is_superuser: bool
    has_pg_monitor: bool
    has_read_all_stats: bool
    pss_version: str | None
    pss_schema: str | None
    track_activity_query_size: int | None
    max_connections: int | None
    started_at: datetime | None
    settings: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_rows(
        cls, row: Mapping[str, Any], settings: Iterable[Mapping[str, Any]]
    ) -> Capabilities:
        version = str(row["server_version"]).split()[0]
        return cls(
            version=version,
            version_num=int(row["server_version_num"]),
            role=Role.STANDBY if row["in_recovery"] else Role.PRIMARY,
            backend_pid=int(row["backend_pid"]),
            user=row["user_name"],
            dbname=row["dbname"],
            is_superuser=bool(row["is_superuser"]),
            has_pg_monitor=bool(row["has_pg_monitor"]),
            has_read_all_stats=bool(row["has_read_all_stats"]),
            pss_version=row["pss_version"],
            pss_schema=row["pss_schema"],
            track_activity_query_size=row["track_activity_query_size"],
            max_connections=row["max_connections"],
            started_at=utc(row["started_at"]),
            settings={s["name"]: s["value"] for s in settings},
        )

    @property
    def sees_all_stats(self) -> bool:
        """May read other roles' queries, states and replication details."""
        return self.is_superuser or self.has_pg_monitor or self.has_read_all_stats

    def server_info(self, name: str, host: str, port: int) -> ServerInfo:
        return ServerInfo(
            name=name,
            host=host,
            port=port,
            dbname=self.dbname,
            user=self.user,
            version=self.version,
            version_num=self.version_num,
            role=self.role,
            backend_pid=self.backend_pid,
            is_superuser=self.is_superuser,
            has_pg_monitor=self.has_pg_monitor,
            has_read_all_stats=self.has_read_all_stats,
            pg_stat_statements=self.pss_version,
            track_activity_query_size=self.track_activity_query_size,
            max_connections=self.max_connections,
            started_at=self.started_at,
            settings=dict(self.settings),
        )


def limitations(caps: Capabilities) -> list[str]:
    """One message per area the role cannot fully see, each with the grant that fixes it."""
    out: list[str] = []
    if caps.version_num < 130000:
        out.append(
            f"PostgreSQL {caps.version} is older than the oldest supported (13): "
            "some probes may be switched off"
        )
    if not caps.sees_all_stats:
        grant = f"GRANT pg_monitor TO {quote_ident(caps.user)}"
        out.append(
            "activity: other roles' queries, states and waits are hidden "
            f"(<insufficient privilege>): needs pg_read_all_stats: {grant}"
        )
        if caps.role is Role.PRIMARY:
            out.append(f"replication: standby positions and lags are hidden: {grant}")
        else:
            out.append(f"replication: the WAL receiver's details are hidden: {grant}")
        if caps.pss_version is not None:
            out.append(f"statements: other roles' query texts are hidden: {grant}")
    return out


def pss_missing_reason(dbname: str) -> str:
    return (
        f"pg_stat_statements is not installed in {quote_ident(dbname)}: run CREATE EXTENSION "
        "pg_stat_statements (needs shared_preload_libraries = pg_stat_statements)"
    )
