"""The action log: every action pgtop took or refused, one JSON line each, for the record.

``actions.log`` in the user's state folder (``~/.local/state/pgtop`` on Linux), created with
mode 0600 and only ever appended to (O_APPEND: lines from two pgtops never interleave within a
line). A line holds the time, the server, pgtop's role, the backend (pid and backend start,
user, application), the head of its query with secret literals masked again (the collectors
mask them already; a log is the wrong place to trust that), the action and its outcome.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import platformdirs

from pgtop.redact import redact_secrets
from pgtop.text import one_line

__all__ = ["QUERY_HEAD", "ActionLog", "Entry", "default_log_path"]

QUERY_HEAD: Final = 200
"""Characters of a query kept in the log."""

log = logging.getLogger(__name__)


def default_log_path() -> Path:
    return platformdirs.user_state_path("pgtop") / "actions.log"


@dataclass(frozen=True, slots=True)
class Entry:
    """One action on one backend (or one object: a slot, a standby's replay)."""

    server: str
    action: str  # cancel, terminate, drop slot, resume replay …
    outcome: str  # one line, as the user was told
    ok: bool
    role: str | None = None  # pgtop's role on the server, when known
    pid: int | None = None
    backend_start: datetime | None = None
    user: str | None = None
    application: str | None = None
    query: str | None = None
    target: str | None = None  # a slot name, a standby …


class ActionLog:
    """Appends :class:`Entry` lines to ``path``; a failure to write is logged, never raised
    (the action itself already happened)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_log_path()

    def write(self, *entries: Entry) -> None:
        if not entries:
            return
        now = datetime.now(UTC).isoformat(timespec="seconds")
        lines = "".join(
            json.dumps(_record(now, entry), ensure_ascii=True) + "\n" for entry in entries
        )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines.encode("ascii"))
            finally:
                os.close(fd)
        except OSError as exc:
            log.warning("action log %s not written: %s", self.path, exc.strerror or exc)


def _record(now: str, entry: Entry) -> dict[str, object]:
    query = None
    if entry.query is not None:
        query = one_line(redact_secrets(entry.query), QUERY_HEAD)
    record: dict[str, object] = {
        "time": now,
        "server": entry.server,
        "role": entry.role,
        "action": entry.action,
        "ok": entry.ok,
        "outcome": redact_secrets(entry.outcome),
        "pid": entry.pid,
        "backend_start": entry.backend_start.isoformat() if entry.backend_start else None,
        "user": entry.user,
        "application": entry.application,
        "query": query,
        "target": entry.target,
    }
    return {key: value for key, value in record.items() if value is not None}
