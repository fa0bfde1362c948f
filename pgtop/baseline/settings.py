"""The settings that matter, with the ops playbook's advice where a value departs from it.

The playbook ("Connection Tuning", "Key Database Metrics", the connection-exhaustion runbook)
sizes memory against RAM, which pgtop cannot see: a rule that needs RAM is quoted, never turned
into a made-up number. Advice is given where the value itself or the window's figures show a
departure (the 128MB default, temp files written with a small work_mem, no timeouts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from pgtop import units
from pgtop.baseline.document import Resources, Setting, Settings, Verdict

__all__ = ["PLAYBOOK", "advise", "parse_bytes"]

PLAYBOOK: Final[Mapping[str, str]] = {
    "shared_buffers": "25% of RAM (4GB in the example)",
    "effective_cache_size": "75% of RAM (12GB in the example)",
    "work_mem": "64MB (per operation)",
    "maintenance_work_mem": "1GB",
    "max_connections": "200 (conservative; pool with PgBouncer)",
    "statement_timeout": "set (connection-exhaustion prevention)",
    "idle_in_transaction_session_timeout": "set (connection-exhaustion prevention)",
    "tcp_keepalives_idle": "600",
    "tcp_keepalives_interval": "30",
    "tcp_keepalives_count": "10",
}
"""The playbook's value or rule for each setting it names, in its order."""

_MIB: Final = 1024**2
_GIB: Final = 1024**3
_UNITS: Final[Mapping[str, int]] = {"B": 1, "kB": 1024, "MB": _MIB, "GB": _GIB, "TB": 1024**4}
_MEMORY: Final = re.compile(r"(\d+)\s*(B|kB|MB|GB|TB)?")
_ZERO_TIME: Final = re.compile(r"0\s*(ms|s|min|h|d)?")
_CACHE_HIT_WARN: Final = 95.0  # the playbook's "Cache hit ratio" row: < 95% warn
_CONNECTIONS_WARN: Final = 70.0  # "Connection count": > 70% of max warn


def parse_bytes(value: str) -> int | None:
    """A memory setting as PostgreSQL shows it (``128MB``, ``8kB``) in bytes; None otherwise."""
    match = _MEMORY.fullmatch(value.strip())
    if match is None:
        return None
    return int(match.group(1)) * _UNITS[match.group(2) or "B"]


def _is_zero_time(value: str) -> bool:
    return _ZERO_TIME.fullmatch(value.strip()) is not None


def advise(settings: Mapping[str, str], resources: Resources) -> Settings:
    """The playbook's settings first (those not collected say so), then the other collected
    ones; each with advice where it departs from the playbook."""
    items = [_judge(name, settings.get(name), resources) for name in PLAYBOOK]
    items += [
        Setting(name=name, value=value)
        for name, value in sorted(settings.items())
        if name not in PLAYBOOK
    ]
    missing = [name for name in PLAYBOOK if name not in settings]
    note = None
    if not settings:
        note = "no settings were read (no connected sample of the server)"
    elif missing:
        note = "not collected by this pgtop version: " + ", ".join(missing)
    return Settings(items=tuple(items), note=note)


def _judge(name: str, value: str | None, r: Resources) -> Setting:
    playbook = PLAYBOOK[name]
    if value is None:
        return Setting(name=name, playbook=playbook)
    advice, level = _advice(name, value, r)
    return Setting(name=name, value=value, playbook=playbook, advice=advice, level=level)


def _advice(name: str, value: str, r: Resources) -> tuple[str | None, Verdict]:
    size = parse_bytes(value)
    if name == "shared_buffers":
        notes = []
        if size is not None and size <= 128 * _MIB:
            notes.append("the 128MB default or less: the playbook sizes it at 25% of RAM")
        if r.cache_hit_avg_pct is not None and r.cache_hit_avg_pct < _CACHE_HIT_WARN:
            notes.append(
                f"cache hit averaged {units.percent(r.cache_hit_avg_pct)} "
                f"(< {_CACHE_HIT_WARN:g}%): the playbook says increase shared_buffers"
            )
        return ("; ".join(notes) or None), ("warn" if notes else "ok")
    if name == "effective_cache_size":
        return None, "ok"  # needs RAM (75%): nothing to compare with here
    if name == "work_mem" and size is not None and size < 64 * _MIB:
        if r.temp_bytes:
            return (
                f"{units.size(r.temp_bytes)} written to temp files in the window with "
                f"{value}: the playbook uses 64MB",
                "warn",
            )
        return "below the playbook's 64MB; no temp files in the window: no sign it is short", "ok"
    if name == "maintenance_work_mem" and size is not None and size < _GIB:
        return "below the playbook's 1GB: vacuum and index builds use less memory", "ok"
    if name == "max_connections":
        return _max_connections(value, r)
    if name in ("statement_timeout", "idle_in_transaction_session_timeout") and _is_zero_time(
        value
    ):
        what = "a runaway query" if name == "statement_timeout" else "an idle transaction"
        return f"off: {what} holds its connection until someone ends it", "warn"
    return None, "ok"


def _max_connections(value: str, r: Resources) -> tuple[str | None, Verdict]:
    notes: list[str] = []
    level: Verdict = "ok"
    limit = int(value) if value.strip().isdigit() else None
    if limit is not None and limit > 200:
        notes.append("above the playbook's 200: each connection costs memory; pool instead")
    if limit and r.connections_peak is not None:
        pct = 100.0 * r.connections_peak / limit
        if pct > _CONNECTIONS_WARN:
            level = "warn"
            notes.append(
                f"peak {units.count(r.connections_peak)} of {units.count(limit)} "
                f"({units.percent(pct)}) > {_CONNECTIONS_WARN:g}%: scale the pool or optimise"
            )
    return ("; ".join(notes) or None), level
