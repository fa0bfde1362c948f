"""What the user asked to watch: validated DSNs, a preflight connect, the sources to poll."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import psycopg

from pgtop.config import Config, ConnectionSettings
from pgtop.conninfo import connect_error, connect_kwargs, dsn_for_display, parse_dsn


@dataclass(frozen=True, slots=True)
class Targets:
    primary: str | None  # None: everything from PG* variables / service file, as psql
    replicas: tuple[str, ...]
    pgbouncer: str | None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Targets:
        """Validate every DSN up front: a malformed one is a usage error (exit 2)."""
        targets = cls(args.dsn, tuple(args.replica or ()), args.pgbouncer)
        for dsn in (targets.primary, *targets.replicas, targets.pgbouncer):
            if dsn is not None:
                parse_dsn(dsn)
        return targets

    def describe(self) -> str:
        """Human-readable, password-free: for the header and documents."""
        parts = [dsn_for_display(parse_dsn(self.primary))]
        parts += [f"replica {dsn_for_display(parse_dsn(dsn))}" for dsn in self.replicas]
        if self.pgbouncer:
            parts.append(f"pgbouncer {dsn_for_display(parse_dsn(self.pgbouncer))}")
        return ", ".join(parts)


def preflight(dsn: str | None, settings: ConnectionSettings) -> None:
    """Connect once, synchronously, so a wrong target fails in one line before any UI starts."""
    params = parse_dsn(dsn)
    kwargs = connect_kwargs(
        params,
        application_name=settings.application_name,
        connect_timeout=settings.connect_timeout_s,
    )
    try:
        with psycopg.connect(**kwargs) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise connect_error(exc, params) from None


def make_sources(targets: Targets, config: Config) -> list[object]:
    """The sources to poll, primary first. Imported lazily: the collectors pull in psycopg pools."""
    from pgtop.collect.pgbouncer import BouncerSource
    from pgtop.collect.postgres import PostgresSource

    settings = config.connection
    sources: list[object] = [PostgresSource(targets.primary, name="primary", settings=settings)]
    for dsn in targets.replicas:
        label = dsn_for_display(parse_dsn(dsn))
        sources.append(PostgresSource(dsn, name=f"replica {label}", settings=settings))
    if targets.pgbouncer:
        sources.append(
            BouncerSource(
                targets.pgbouncer, name="pgbouncer", connect_timeout_s=settings.connect_timeout_s
            )
        )
    return sources
