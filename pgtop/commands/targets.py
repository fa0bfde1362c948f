"""What the user asked to watch: validated DSNs, a preflight connect, the sources to poll."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

import psycopg
from psycopg.conninfo import make_conninfo

from pgtop import logs
from pgtop.actions import Inspector, Runbook, Signaller
from pgtop.collect.source import Source
from pgtop.config import Config, ConnectionSettings
from pgtop.conninfo import (
    UsageError,
    check_option_values,
    connect_error,
    connect_kwargs,
    dsn_for_display,
    parse_dsn,
    password_file_problem,
    server_for_display,
)
from pgtop.explaining import Explainer

log = logging.getLogger("pgtop.targets")

ADMIN_DATABASE = "pgbouncer"
"""The database of PgBouncer's admin console: a name fixed by PgBouncer."""


@dataclass(frozen=True, slots=True)
class Targets:
    primary: str | None  # None: everything from PG* variables / service file, as psql
    replicas: tuple[str, ...]
    pgbouncer: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Targets:
        """Validate every DSN up front: a malformed one is a usage error (exit 2), and so is
        a server named twice (two sources of one name would overwrite each other's samples)
        or a ``--pgbouncer`` that is not PgBouncer's admin console."""
        targets = cls(args.dsn, tuple(args.replica or ()), args.pgbouncer)
        for dsn in (targets.primary, *targets.replicas, targets.pgbouncer):
            if dsn is not None:
                check_option_values(parse_dsn(dsn))
        if targets.pgbouncer is not None:
            console = f"PgBouncer's admin console (dbname={ADMIN_DATABASE})"
            if not targets.pgbouncer.strip():
                raise UsageError(f"--pgbouncer needs the DSN of {console}")
            dbname = parse_dsn(targets.pgbouncer).get("dbname", ADMIN_DATABASE)
            if dbname != ADMIN_DATABASE:
                raise UsageError(f'--pgbouncer must point at {console}, not dbname "{dbname}"')
        targets._check_distinct()
        return targets

    def _check_distinct(self) -> None:
        named = [("the DSN", self.primary), *(("--replica", dsn) for dsn in self.replicas)]
        if self.pgbouncer is not None:
            named.append(("--pgbouncer", self.pgbouncer))
        seen: dict[str, str] = {}
        for option, dsn in named:
            server = server_for_display(parse_dsn(dsn))
            if server not in seen:
                seen[server] = option
            elif seen[server] == option:
                raise UsageError(f"{option} {server} is given twice")
            else:
                raise UsageError(f"{option} {server} is the same server as {seen[server]}")

    def describe(self) -> str:
        """Human-readable, password-free: for the header and documents."""
        parts = [dsn_for_display(parse_dsn(self.primary))]
        parts += [f"replica {dsn_for_display(parse_dsn(dsn))}" for dsn in self.replicas]
        if self.pgbouncer is not None:
            parts.append(f"pgbouncer {dsn_for_display(parse_dsn(self.pgbouncer))}")
        return ", ".join(parts)


def preflight(dsn: str | None, settings: ConnectionSettings) -> None:
    """Connect once, synchronously, so a wrong target fails in one line before any UI starts.

    Connecting is the whole check: no query runs, so role-level settings such as
    ``statement_timeout = '1ms'`` or ``default_transaction_read_only`` cannot fail it, and
    nothing is prepared on a PgBouncer server connection. libpq's own stderr output (the
    password-file warnings are an fprintf, not a notice) is captured and logged: the user
    sees one line, and the reason is in it.
    """
    params = parse_dsn(dsn)
    check_option_values(params)
    kwargs = connect_kwargs(
        params,
        application_name=settings.application_name,
        connect_timeout=settings.connect_timeout_s,
    )
    problem = password_file_problem(params)
    if problem is not None:
        _log(logging.WARNING, "%s", problem.hint())
    failure: psycopg.Error | None = None
    with _captured_stderr() as captured:
        try:
            psycopg.connect(**kwargs).close()
        except psycopg.Error as exc:
            failure = exc
    if captured:
        _log(logging.WARNING, "libpq said while connecting: %s", " | ".join(captured))
    if failure is not None:
        # kwargs, not params: the message names the connect timeout actually used
        error = connect_error(failure, kwargs)
        if dsn is None:  # e.g. only --pgbouncer given: say where the primary came from
            raise type(error)(
                f"no DSN given, so PG* variables and libpq's defaults chose the primary: {error}"
            ) from None
        raise error from None


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temp file (libpq writes there with fprintf); the
    lines written meanwhile are in the yielded list once the block ends. Restored always."""
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 at all: nothing to protect
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        try:
            os.dup2(sink.fileno(), 2)
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read(64 * 1024).decode("utf-8", "replace")
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


def _log(level: int, message: str, *args: object) -> None:
    """Log to pgtop's file even before the command configured logging (never to stderr)."""
    root = logging.getLogger()
    if any(isinstance(h, logging.FileHandler) for h in root.handlers):
        log.log(level, message, *args)
        return
    before = list(root.handlers)
    try:
        logs.configure()
        log.log(level, message, *args)
    except OSError:
        return  # no log file: the message is not worth a second line on the terminal
    finally:
        for handler in [h for h in root.handlers if h not in before]:
            root.removeHandler(handler)
            handler.close()


@overload
def without_unsafe_passfile(dsn: str) -> str: ...
@overload
def without_unsafe_passfile(dsn: None) -> None: ...
@overload
def without_unsafe_passfile(dsn: str | None) -> str | None: ...


def without_unsafe_passfile(dsn: str | None) -> str | None:
    """The DSN, pointed away from a password file that libpq would ignore as unsafe.

    libpq skips such a file anyway, but says so on stderr each time it connects: under the
    UI that is text drawn mid-screen. A path below the file itself can never exist, so
    libpq skips it silently (the preflight already logged the reason).
    """
    params = parse_dsn(dsn)
    problem = password_file_problem(params)
    if problem is None:
        return dsn
    return make_conninfo(dsn or "", passfile=os.path.join(problem.path, "ignored-unsafe"))


def make_sources(targets: Targets, config: Config) -> list[Source]:
    """The sources to poll, primary first. Imported lazily: the collectors pull in psycopg pools."""
    from pgtop.collect.pgbouncer import BouncerSource
    from pgtop.collect.postgres import PostgresSource

    settings = config.connection
    primary = without_unsafe_passfile(targets.primary)
    sources: list[Source] = [PostgresSource(primary, name="primary", settings=settings)]
    for dsn in targets.replicas:
        name = f"replica {server_for_display(parse_dsn(dsn))}"
        sources.append(PostgresSource(without_unsafe_passfile(dsn), name=name, settings=settings))
    if targets.pgbouncer is not None:
        sources.append(
            BouncerSource(
                without_unsafe_passfile(targets.pgbouncer),
                name="pgbouncer",
                connect_timeout_s=settings.connect_timeout_s,
            )
        )
    return sources


def make_signaller(targets: Targets, config: Config) -> Signaller | None:
    """What cancels and terminates the primary's backends; None with ``--read-only``."""
    return make_actions(targets, config).signaller


@dataclass(frozen=True, slots=True)
class Actions:
    """What the UI may ask of the servers besides watching them."""

    signaller: Signaller | None
    """Cancel and terminate (None with ``--read-only``)."""
    inspector: Inspector
    """Reads one backend's locks, one statement's counters (read-only: always there)."""
    explainer: Explainer
    runbook: Runbook
    """Resume replay, drop a slot (refused by the UI with ``--read-only``)."""


def make_actions(targets: Targets, config: Config) -> Actions:
    """One action session on the primary serves signals and look-ups (so a read-only pgtop
    still reads locks); EXPLAIN has sessions of its own per server and database."""
    from pgtop.collect.explain import PlanExplainer
    from pgtop.collect.runbook import RunbookActions
    from pgtop.collect.signals import BackendSignals

    primary = without_unsafe_passfile(targets.primary)
    session = BackendSignals(primary, name="primary", settings=config.connection)
    servers: dict[str, str | None] = {"primary": primary}
    for dsn in targets.replicas:
        name = f"replica {server_for_display(parse_dsn(dsn))}"
        servers[name] = without_unsafe_passfile(dsn)
    explainer = PlanExplainer(
        servers,
        settings=config.connection,
        statement_timeout_ms=config.explain.statement_timeout_ms,
        lock_timeout_ms=config.explain.lock_timeout_ms,
        read_only=config.monitor.read_only,
    )
    return Actions(
        signaller=None if config.monitor.read_only else session,
        inspector=session,
        explainer=explainer,
        runbook=RunbookActions(servers, settings=config.connection),
    )
