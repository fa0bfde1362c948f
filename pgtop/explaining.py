"""What the UI may ask about a query's plan: EXPLAIN (``e``) and EXPLAIN ANALYZE (``E``).

The UI holds an :class:`Explainer` (``pgtop.collect.explain.PlanExplainer`` implements it) and
never runs SQL itself, as with :class:`pgtop.actions.Signaller`. It names *what* to explain —
a backend of a server (:class:`BackendTarget`) or a pg_stat_statements entry
(:class:`StatementTarget`) — and gets back either an :class:`Explanation` or an
:class:`ExplainFailure` whose message is one line. Nothing here imports the UI or psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "BackendTarget",
    "ExplainFailure",
    "ExplainResult",
    "ExplainTarget",
    "Explainer",
    "Explanation",
    "StatementTarget",
    "TextSource",
]


class TextSource(StrEnum):
    """Where the text that was explained came from."""

    ACTIVITY = "pg_stat_activity"  # the backend's own text, complete
    STATEMENTS = "pg_stat_statements"  # the statement's text (normalized: constants are $n)


@dataclass(frozen=True, slots=True)
class BackendTarget:
    """A backend as a row showed it: ``pid`` *and* ``backend_start`` (a reused pid is never
    explained), on ``server`` (a source name), in ``database`` (the row's database: the plan is
    made there, on a session of pgtop's own)."""

    server: str
    pid: int
    backend_start: datetime | None
    database: str | None


@dataclass(frozen=True, slots=True)
class StatementTarget:
    """A pg_stat_statements entry: ``queryid`` of ``user`` (name, or ``userid``) in
    ``database`` (its name: the plan is made there)."""

    server: str
    queryid: int
    database: str | None
    user: str | None = None
    userid: int | None = None


ExplainTarget = BackendTarget | StatementTarget


@dataclass(frozen=True, slots=True)
class Explanation:
    """A plan, and everything the screen must say about how it was obtained.

    ``plan`` is the parsed ``FORMAT JSON`` output (a list holding one object with "Plan",
    "Settings", "Planning", and for ANALYZE "Execution Time" …). ``text`` is the ``FORMAT
    TEXT`` output of the same plan for plain EXPLAIN; it is empty after ANALYZE, which runs the
    query once only (a text view is derived from ``plan``). ``query`` is the text explained,
    with secrets redacted for display. ``generic``: the text had ``parameters`` placeholders
    ($1 …) without values, so the plan is the generic one. ``notes`` are one line each (the
    activity text was truncated, the backend was idle …)."""

    server: str
    database: str
    source: TextSource
    query: str
    plan: Any
    text: tuple[str, ...]
    analyzed: bool
    generic: bool
    parameters: int
    duration_s: float
    notes: tuple[str, ...] = ()
    standby: bool = False
    server_version_num: int = 0
    activity_truncated: bool = False  # the backend's pg_stat_activity text was cut short
    track_activity_query_size: str | None = None  # the setting as shown ("4kB"), when read


@dataclass(frozen=True, slots=True)
class ExplainFailure:
    """Why there is no plan, as one line (``message``; the server's SQLSTATE, when it gave one,
    in ``sqlstate``). ``cancelled``: the user cancelled it (``Explainer.cancel``)."""

    server: str
    database: str | None
    message: str
    sqlstate: str | None = None
    cancelled: bool = False


ExplainResult = Explanation | ExplainFailure


class Explainer(Protocol):
    @property
    def servers(self) -> tuple[str, ...]:
        """The source names it can explain on (a target's ``server`` must be one of them)."""
        ...

    @property
    def read_only(self) -> bool:
        """True when EXPLAIN ANALYZE is refused (pgtop runs ``--read-only``)."""
        ...

    async def explain(self, target: ExplainTarget, *, analyze: bool = False) -> ExplainResult:
        """EXPLAIN (ANALYZE when asked) the target's query on a session of pgtop's own to
        that server and database; never raises for a server's refusal or failure."""
        ...

    async def cancel(self) -> bool:
        """Cancel every EXPLAIN running now (on the server); True when one was running. The
        cancelled ``explain`` returns an :class:`ExplainFailure` with ``cancelled`` set."""
        ...

    async def close(self) -> None: ...
