"""The health statuses: worst first, each other source's chips grouped under its short name."""

from __future__ import annotations

from pgtop.model import Level, Status
from pgtop.ui.format import Palette
from pgtop.ui.widgets.health_bar import merge_statuses, short_names, statuses_text


def status(metric: str, label: str, level: Level, source: str) -> Status:
    return Status(metric, label, level, None, label, source)


def test_other_sources_are_named_once_per_run_of_their_chips() -> None:
    replica = "replica 127.0.0.1:48533"
    merged = merge_statuses(
        [
            status("conn", "conn 3%", Level.OK, "primary"),
            status("hit", "hit 99%", Level.OK, replica),
            status("xact", "xact 3m", Level.CRIT, "primary"),
            status("conn", "conn 1%", Level.OK, replica),
            status("lag", "lag 12s", Level.WARN, replica),
            status("xact", "xact 3m", Level.OK, "primary"),  # the same metric: the worst stays
        ],
        main="primary",
    )
    text = statuses_text(merged, Palette(), main="primary").plain.replace("\u00a0", "_")
    assert text == "✖_xact_3m  replica:_▲_lag_12s  ●_conn_3%  replica:_●_conn_1%  ●_hit_99%"


def test_names_are_shortened_only_when_unambiguous() -> None:
    one = short_names(["replica 10.0.0.7:5432", "pgbouncer"])
    assert one == {"replica 10.0.0.7:5432": "replica", "pgbouncer": "pgbouncer"}
    two = short_names(["replica 10.0.0.7:5432", "replica 10.0.0.8:5432"])
    assert two == {
        "replica 10.0.0.7:5432": "replica 10.0.0.7:5432",
        "replica 10.0.0.8:5432": "replica 10.0.0.8:5432",
    }
