"""The probe catalogue: one `.sql` file per probe under `collect/sql/`, variants by version floor.

File names: ``NAME.sql`` is the base variant (oldest supported server, PostgreSQL 13, or any
pg_stat_statements version), ``NAME.pgNN.sql`` applies from PostgreSQL NN on, and
``NAME.pssX_Y.sql`` from pg_stat_statements X.Y on. :func:`resolve` picks, once per connection,
the variant with the highest floor at or below the version in hand (cached).

SQL text is only ever combined with identifiers through :mod:`psycopg.sql` (the
pg_stat_statements schema as ``{schema}``); values travel as query parameters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib.resources import files

from psycopg import sql

from pgtop.model import Role

__all__ = [
    "MIN_SERVER_VERSION",
    "Axis",
    "Probe",
    "ProbeSpec",
    "SPECS",
    "catalogue",
    "compose",
    "parse_pss_version",
    "resolve",
]

MIN_SERVER_VERSION = 130000
_FILE_RE = re.compile(r"^(?P<name>[a-z_]+)(?:\.(?:pg(?P<pg>\d+)|pss(?P<pss>\d+_\d+)))?\.sql$")


class Axis(StrEnum):
    SERVER = "server"  # floors are PostgreSQL majors (server_version_num)
    PSS = "pss"  # floors are pg_stat_statements extension versions


@dataclass(frozen=True, slots=True)
class ProbeSpec:
    """What a probe needs and when it runs."""

    axis: Axis = Axis.SERVER
    when: str = "tick"  # tick (every poll), connect (once), on_demand (tick when needed), advice,
    # action (a user's command, on a session of its own), explain (on an explain session)
    role: Role | None = None  # None: any role
    # what a failing probe tells the user; {role} is the monitoring role, quoted
    grant: str = "needs pg_monitor: GRANT pg_monitor TO {role}"


_SIGNAL_GRANT = (
    "needs pg_signal_backend for other roles' backends: GRANT pg_signal_backend TO {role} "
    "(a superuser's backends only a superuser can signal)"
)

_READ_STATS_GRANT = (
    "needs pg_read_all_stats to read other roles' queries: GRANT pg_read_all_stats TO {role}"
)

SPECS: dict[str, ProbeSpec] = {
    "capabilities": ProbeSpec(when="connect"),
    "settings": ProbeSpec(when="connect"),
    "server": ProbeSpec(),
    "activity": ProbeSpec(),
    "locks": ProbeSpec(),
    "lock_blockers": ProbeSpec(when="on_demand"),
    "replicas": ProbeSpec(role=Role.PRIMARY),
    "standby": ProbeSpec(role=Role.STANDBY),
    "slots": ProbeSpec(),
    "archiver": ProbeSpec(),
    "progress": ProbeSpec(),
    "statements": ProbeSpec(
        axis=Axis.PSS,
        grant="needs EXECUTE on pg_stat_statements: GRANT EXECUTE ON FUNCTION "
        "{schema}.pg_stat_statements(boolean) TO {role}",
    ),
    "statements_info": ProbeSpec(
        axis=Axis.PSS,
        grant="needs SELECT on pg_stat_statements_info: GRANT SELECT ON "
        "{schema}.pg_stat_statements_info TO {role}",
    ),
    "statement_texts": ProbeSpec(axis=Axis.PSS, when="on_demand"),
    "names": ProbeSpec(when="on_demand"),
    "missing_indexes": ProbeSpec(when="advice"),
    "unused_indexes": ProbeSpec(when="advice"),
    "cancel_backend": ProbeSpec(when="action", grant=_SIGNAL_GRANT),
    "terminate_backend": ProbeSpec(when="action", grant=_SIGNAL_GRANT),
    "backend_locks": ProbeSpec(when="action"),
    "signal_backends": ProbeSpec(when="action", grant=_SIGNAL_GRANT),
    "statement_counters": ProbeSpec(axis=Axis.PSS, when="action"),
    # runbook actions (collect/runbook.py): what PostgreSQL 13-18 require
    "resume_replay": ProbeSpec(
        when="action",
        grant="needs EXECUTE on pg_wal_replay_resume() (superuser only by default), granted "
        "in database {database}: GRANT EXECUTE ON FUNCTION pg_catalog.pg_wal_replay_resume() "
        "TO {role}",
    ),
    "drop_slot": ProbeSpec(
        when="action",
        grant="needs the REPLICATION attribute (or superuser) to use replication slots: "
        "ALTER ROLE {role} REPLICATION",
    ),
    # EXPLAIN (e, E): on an explain session per server and database (collect/explain.py)
    "explain_context": ProbeSpec(when="explain"),
    "explain_activity": ProbeSpec(when="explain", grant=_READ_STATS_GRANT),
    "explain_statement_text": ProbeSpec(axis=Axis.PSS, when="explain", grant=_READ_STATS_GRANT),
    "explain_parameters": ProbeSpec(when="explain"),
}


@dataclass(frozen=True, slots=True)
class Probe:
    """One resolved variant: its name, file and floor, and the SQL text."""

    name: str
    file: str
    floor: tuple[int, ...]
    text: str

    @property
    def spec(self) -> ProbeSpec:
        return SPECS[self.name]


def parse_pss_version(version: str) -> tuple[int, int]:
    """``"1.10"`` → ``(1, 10)``; anything unparsable → ``(0, 0)``."""
    m = re.match(r"^(\d+)\.(\d+)", version.strip())
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _server_floor(major: str | None) -> tuple[int, ...]:
    return (int(major) * 10000,) if major else (MIN_SERVER_VERSION,)


@cache
def catalogue() -> dict[str, tuple[tuple[tuple[int, ...], str], ...]]:
    """Probe name → its variants ``(floor, file name)``, lowest floor first."""
    found: dict[str, list[tuple[tuple[int, ...], str]]] = {}
    for entry in files("pgtop.collect").joinpath("sql").iterdir():
        m = _FILE_RE.match(entry.name)
        if not m:
            continue
        name = m["name"]
        if name not in SPECS:
            raise ValueError(f"collect/sql/{entry.name}: no probe spec named {name!r}")
        axis = SPECS[name].axis
        if m["pss"]:
            if axis is not Axis.PSS:
                raise ValueError(f"collect/sql/{entry.name}: {name} is not a pss probe")
            major, minor = m["pss"].split("_")
            floor: tuple[int, ...] = (int(major), int(minor))
        elif m["pg"]:
            if axis is not Axis.SERVER:
                raise ValueError(f"collect/sql/{entry.name}: {name} is not a server probe")
            floor = _server_floor(m["pg"])
        else:
            floor = (0, 0) if axis is Axis.PSS else _server_floor(None)
        found.setdefault(name, []).append((floor, entry.name))
    return {name: tuple(sorted(variants)) for name, variants in found.items()}


@cache
def _read(file: str) -> str:
    """The file's SQL without its whole-line comments (they document the file; sending them
    every tick would only cost bytes and clutter pg_stat_statements)."""
    text = files("pgtop.collect").joinpath("sql", file).read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


@cache
def resolve(name: str, server_version_num: int, pss_version: str | None = None) -> Probe | None:
    """The variant of ``name`` for this server (or extension) version; None when none applies
    (pg_stat_statements absent or older than every variant)."""
    variants = catalogue().get(name)
    if not variants:
        raise KeyError(f"unknown probe {name!r}")
    if SPECS[name].axis is Axis.PSS:
        if pss_version is None:
            return None
        have: tuple[int, ...] = parse_pss_version(pss_version)
    else:
        have = (max(server_version_num, MIN_SERVER_VERSION),)
    chosen = [(floor, file) for floor, file in variants if floor <= have]
    if not chosen:
        return None
    floor, file = chosen[-1]
    return Probe(name=name, file=file, floor=floor, text=_read(file))


def compose(probe: Probe, pss_schema: str | None = None) -> sql.Composed | sql.SQL:
    """The probe's statement, with the pg_stat_statements schema as a quoted identifier."""
    if probe.spec.axis is Axis.PSS:
        return sql.SQL(probe.text).format(schema=sql.Identifier(pss_schema or "public"))
    return sql.SQL(probe.text)
