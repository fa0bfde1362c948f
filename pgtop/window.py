"""Figures over a sampling window (first → last sample), for snapshots and baselines. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from pgtop.model import Sample, Statement

StatementKey = tuple[int, str | None, str | None]


@dataclass(frozen=True, slots=True)
class WindowStatement:
    """A statement's activity between two samples, and its cumulative shape at the end."""

    queryid: int
    user: str | None
    database: str | None
    query: str
    calls: int  # in the window
    calls_per_s: float
    exec_ms: float  # in the window
    mean_ms: float | None  # in the window
    rows: int
    cumulative_calls: int
    cumulative_mean_ms: float
    stddev_ms: float
    max_ms: float


def _key(statement: Statement) -> StatementKey:
    return (statement.queryid, statement.user, statement.database)


def window_statements(first: Sample, last: Sample) -> list[WindowStatement]:
    """Per statement, what happened between two samples; entries reset in between (counters
    went down) count from zero. Sorted by execution time in the window, largest first."""
    seconds = (last.taken_at - first.taken_at).total_seconds()
    before = {_key(s): s for s in first.statements}
    rows: list[WindowStatement] = []
    for statement in last.statements:
        earlier = before.get(_key(statement))
        reset = earlier is None or earlier.calls > statement.calls
        calls = statement.calls - (0 if reset or earlier is None else earlier.calls)
        exec_ms = statement.total_exec_ms - (
            0.0 if reset or earlier is None else earlier.total_exec_ms
        )
        rows_done = statement.rows - (0 if reset or earlier is None else earlier.rows)
        if calls <= 0:
            continue
        rows.append(
            WindowStatement(
                queryid=statement.queryid,
                user=statement.user,
                database=statement.database,
                query=statement.query,
                calls=calls,
                calls_per_s=calls / seconds if seconds > 0 else 0.0,
                exec_ms=exec_ms,
                mean_ms=exec_ms / calls,
                rows=rows_done,
                cumulative_calls=statement.calls,
                cumulative_mean_ms=statement.mean_ms,
                stddev_ms=statement.stddev_ms,
                max_ms=statement.max_ms,
            )
        )
    rows.sort(key=lambda r: r.exec_ms, reverse=True)
    return rows
