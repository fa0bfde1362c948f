"""A baseline as a document: TOML front matter holding every figure, then Markdown for people.

The document is data first (STYLE.md 21): :func:`render` writes the whole record as TOML front
matter between ``+++`` lines (tomli-w), then the prose, tables and charts rendered from the same
record; :func:`parse` reads the front matter alone and never the prose, so a reader may edit
the Markdown freely and ``parse(render(x)) == x`` holds exactly (floats included).

Server text (query texts, names, messages) reaches the Markdown only through :func:`cell`: one
line, control and bidi characters as visible escapes, and every character Markdown or HTML
would interpret backslash-escaped; every line that carries it starts with a fixed prefix
(``| ``, ``> ``, ``- ``, a heading), so no server text can start a line, let alone a ``+++``
one. In the front matter tomli-w escapes quotes and C0 controls; the tab, C1, bidi and
line-separator characters it leaves raw are escaped here as well (``\\uXXXX``, still valid
TOML), so the file holds no invisible character at all, and so are ``<`` and ``&``: a viewer
that does not know ``+++`` front matter (GitHub's) renders it as Markdown, where they would
start HTML or an entity. Charts are Mermaid ``xychart-beta`` blocks holding numbers only.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import msgspec
import tomli_w

from pgtop import units
from pgtop.baseline.document import (
    DOCUMENT,
    SCHEMA_VERSION,
    Baseline,
    BaselineError,
    BaselineStatement,
    Series,
    Statements,
)
from pgtop.text import md_cell, one_line

__all__ = ["FENCE", "cell", "default_name", "load", "parse", "render", "statement_pattern", "table"]

FENCE: Final = "+++"
# escaped in the front matter as \uXXXX: invisible characters, and "<" and "&" (a viewer that
# does not know +++ front matter, GitHub's for one, renders it as Markdown: no HTML, no entity)
_TOML_ESCAPED: Final = re.compile(
    "[\t\x80-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff<&]"
)
# an array of numbers only, as tomli-w writes it: "key = [", one number a line, "]". A string
# can never span lines there (tomli-w escapes newlines), so this matches nothing else.
_NUMBER_ARRAY: Final = re.compile(r"^(\w+ = )\[\n((?:[ ]+[-+0-9.eE]+(?:inf|nan)?,\n)+)[ ]*\]", re.M)
_MD_EXTRA: Final = re.compile(r"[&~$]")
_MD_INVISIBLE: Final = re.compile("[\u061c\u200e\u200f\u2028\u2029\ufeff]")
_MERMAID_UNSAFE: Final = re.compile(r"[^A-Za-z0-9 %/._-]")  # a unit read from a document
_PATTERN_LIMIT: Final = 80
_NAME_SAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


# --------------------------------------------------------------------------- public API


def render(baseline: Baseline) -> str:
    """The whole document: front matter, then the Markdown."""
    parts = [
        FENCE,
        _front_matter(baseline).rstrip("\n"),
        FENCE,
        "",
        *_header(baseline),
        *_health(baseline),
        *_statements(baseline),
        *_resources(baseline),
        *_replication(baseline),
        *_pools(baseline),
        *_index_advice(baseline),
        *_settings(baseline),
        *_notes(baseline),
    ]
    return "\n".join(parts).rstrip("\n") + "\n"


def parse(text: str, *, name: str = "the document") -> Baseline:
    """The baseline in ``text``'s front matter; :class:`BaselineError` naming ``name`` (the
    file) and what is wrong when it is not a pgtop baseline this version can read."""
    where = one_line(name)
    body = text.removeprefix("\ufeff")
    lines = body.split("\n")
    if not lines or lines[0].rstrip("\r ") != FENCE:
        raise BaselineError(f"{where}: not a pgtop baseline (no {FENCE} front matter at the top)")
    end = next((i for i, line in enumerate(lines[1:], 1) if line.rstrip("\r ") == FENCE), None)
    if end is None:
        raise BaselineError(f"{where}: corrupt baseline: the front matter has no closing {FENCE}")
    try:
        data = tomllib.loads("\n".join(line.removesuffix("\r") for line in lines[1:end]))
    except tomllib.TOMLDecodeError as exc:
        raise BaselineError(f"{where}: corrupt baseline: front matter is not TOML: {exc}") from None
    if data.get("document") != DOCUMENT:
        raise BaselineError(
            f'{where}: not a pgtop baseline (its front matter has no document = "{DOCUMENT}")'
        )
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise BaselineError(f"{where}: corrupt baseline: schema is not a version number")
    if schema > SCHEMA_VERSION:
        raise BaselineError(
            f"{where}: written by a newer pgtop (baseline schema {schema}; this pgtop reads "
            f"up to {SCHEMA_VERSION}): upgrade pgtop to read it"
        )
    try:
        baseline = msgspec.convert(data, Baseline, builtin_types=(datetime,), strict=True)
    except msgspec.ValidationError as exc:
        raise BaselineError(f"{where}: corrupt baseline: {one_line(str(exc))}") from None
    if baseline.window_start.tzinfo is None or baseline.window_end.tzinfo is None:
        raise BaselineError(f"{where}: corrupt baseline: the window's times have no time zone")
    return baseline


def load(path: Path) -> Baseline:
    """:func:`parse` of the file at ``path``; a missing, unreadable or binary file is a
    :class:`BaselineError` as well."""
    where = one_line(str(path))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BaselineError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise BaselineError(f"{where}: a folder, not a baseline document") from None
    except OSError as exc:
        raise BaselineError(f"{where}: cannot read: {exc.strerror or type(exc).__name__}") from None
    if b"\x00" in data:
        raise BaselineError(f"{where}: a binary file, not a baseline document")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BaselineError(f"{where}: not UTF-8 text, not a baseline document") from None
    return parse(text, name=str(path))


def default_name(baseline: Baseline) -> str:
    """A file name for the document: ``HOST-PORT-DB-20251124T093000Z.md`` (UTC)."""
    server = _NAME_SAFE.sub("-", baseline.server).strip("-.") or "server"
    return f"{server[:80]}-{baseline.window_end:%Y%m%dT%H%M%SZ}.md"


# --------------------------------------------------------------------------- front matter


def _without_none(value: Any) -> Any:
    """TOML has no null: None fields are left out (and read back as their default, None)."""
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_without_none(v) for v in value]
    return value


def _front_matter(baseline: Baseline) -> str:
    data = _without_none(msgspec.to_builtins(baseline, builtin_types=(datetime,)))
    text = _NUMBER_ARRAY.sub(_one_line_array, tomli_w.dumps(data))
    return _TOML_ESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _one_line_array(match: re.Match[str]) -> str:
    """tomli-w writes every array one item per line: a chart's 60 numbers stay on one."""
    items = [item.strip().rstrip(",") for item in match.group(2).splitlines()]
    return f"{match.group(1)}[{', '.join(items)}]"


# --------------------------------------------------------------------------- Markdown helpers


def cell(text: str, limit: int | None = None) -> str:
    """Server text for one table cell or one line of prose (see the module's docstring)."""
    out = md_cell(text, limit)
    out = _MD_INVISIBLE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    return _MD_EXTRA.sub(lambda m: "\\" + m.group(), out)


def _maybe(text: str | None, limit: int | None = None) -> str:
    return "" if text is None else cell(text, limit)


def table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(text or " " for text in row) + " |" for row in rows]
    return out + [""]


def _note(text: str | None) -> list[str]:
    return [] if text is None else [f"> {cell(text)}", ""]


def _ms(value: float | None) -> str:
    return units.milliseconds(value)


def _num(value: float | None, decimals: int = 1) -> str:
    return "" if value is None else units.number(value, decimals)


def _when(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _chart(series: Series | None, title: str, b: Baseline, caption: str) -> list[str]:
    """A Mermaid line chart of one series (or nothing when it has fewer than two points)."""
    return _chart_lines([series] if series else [], title, b, caption)


def _chart_lines(lines: Sequence[Series], title: str, b: Baseline, caption: str) -> list[str]:
    shown = [s for s in lines if len(s.v) >= 2]
    if not shown:
        return []
    minutes = b.duration_s / 60
    axis = (
        f'x-axis "minutes from {b.window_start:%H:%M} UTC" 0 --> {math.ceil(minutes)}'
        if minutes >= 2
        else f'x-axis "seconds from {b.window_start:%H:%M:%S} UTC" 0 --> {math.ceil(b.duration_s)}'
    )
    out = ["```mermaid", "xychart-beta", f'    title "{title}"', f"    {axis}"]
    out.append(f'    y-axis "{_MERMAID_UNSAFE.sub("", shown[0].unit) or "count"}"')
    out += ["    line [" + ", ".join(_plain(v) for v in s.v) + "]" for s in shown]
    step = max(s.step_s for s in shown)
    how = f"means over {units.duration(step)}" if step > 0 else "one point per sample"
    return [*out, "```", "", f"_{caption} ({how}; the table holds the exact figures)._", ""]


def _plain(value: float) -> str:
    """A chart's data point: plain decimal notation, three decimals at most."""
    return f"{value:.3f}".rstrip("0").rstrip(".") or "0"


def _series(b: Baseline, name: str) -> Series | None:
    return next((s for s in b.charts if s.name == name), None)


# --------------------------------------------------------------------------- sections


def _header(b: Baseline) -> list[str]:
    what = ", ".join(
        x for x in (f"PostgreSQL {b.server_version}" if b.server_version else None, b.role) if x
    )
    missed = b.samples - b.samples_connected
    samples = f"{units.count(b.samples)} samples" + (
        f" ({units.count(missed)} without a connection)" if missed else ""
    )
    if b.interval_s is not None:
        samples += f", every {units.seconds(b.interval_s)}"
    return [
        f"# Performance Baseline: {cell(b.server)} {b.window_end:%Y-%m-%d}",
        "",
        f"- **Server:** {cell(b.server)}" + (f" ({cell(what)})" if what else ""),
        f"- **Window:** {_when(b.window_start)} → {_when(b.window_end)} "
        f"({units.duration(b.duration_s)})",
        f"- **Samples:** {samples}",
        f"- **Written by:** pgtop {cell(b.pgtop)}. Every figure is in the front matter above: "
        "pgtop reads only that, so edit the prose freely.",
        "",
    ]


def _health(b: Baseline) -> list[str]:
    out = ["## Health at the end of the window", ""]
    if not b.health:
        return [*out, "> No health verdicts: no connected sample at the end of the window.", ""]
    rows = [(h.level.upper(), cell(h.source), cell(h.message)) for h in b.health]
    return out + table(("Level", "Source", "Check"), rows)


def statement_pattern(item: BaselineStatement, redacted: bool) -> str:
    if item.text is None:
        why = "text redacted" if redacted else "no text"
        return f"{cell(item.keyword)} … ({why})"
    return cell(item.text, _PATTERN_LIMIT)


def _period(s: Statements) -> str:
    if s.basis == "window":
        return f"over the window ({units.duration(s.period_s)})"
    if s.period_s is not None:
        return f"since pg_stat_statements was last reset ({units.duration(s.period_s)})"
    return "since pg_stat_statements was last reset (when: unknown)"


def _statements(b: Baseline) -> list[str]:
    s = b.statements
    out = ["## Query Performance", ""]
    if s.basis is None:
        return out + _note(s.note or "no statement figures")
    share = units.percent(s.top_share_pct)
    out += [
        f"Top {len(s.items)} of {units.count(s.seen)} statements by execution time "
        f"{_period(s)}: {share or 'none'} of all execution time "
        f"({units.count(s.total_calls)} calls, {units.seconds(s.total_ms / 1000)} of execution "
        "time in all).",
        "",
        *_note(s.note),
    ]
    if not s.items:
        return out
    rows = [
        (
            str(n),
            statement_pattern(i, s.redacted),
            units.count_short(i.calls_per_day) if i.calls_per_day is not None else "",
            _ms(i.mean_ms),
            _ms(i.stddev_ms),
            _ms(i.mean_ms + 2 * i.stddev_ms) if i.stddev_ms is not None else "",
            _ms(i.max_ms),
            _num(i.rows_per_call),
            units.percent(i.share_pct),
        )
        for n, i in enumerate(s.items, 1)
    ]
    out += table(
        (
            "#",
            "Query pattern",
            "Calls/day",
            "Mean ms",
            "Stddev ms",
            "Mean + 2σ ms",
            "Max ms since reset",
            "Rows/call",
            "Share of time",
        ),
        rows,
    )
    out += [
        "**P99:** pg_stat_statements keeps no percentiles, so this document has no P99. "
        '"Mean + 2σ" is the mean plus twice the standard deviation of the period (a spread, '
        'not a percentile); "Max since reset" is the slowest call since the entry was last '
        "reset, which may lie before this window. Calls/day extrapolates the period's rate.",
        "",
    ]
    keys = [
        (
            str(n),
            str(i.queryid),
            _maybe(i.database),
            _maybe(i.user),
            "" if i.toplevel is None else ("yes" if i.toplevel else "no"),
            units.count(i.calls),
            _ms(i.total_ms),
            units.count(i.cumulative_calls),
            _ms(i.cumulative_mean_ms),
            _ms(i.min_ms),
            "yes" if i.reset else "",
        )
        for n, i in enumerate(s.items, 1)
    ]
    out += ["### Statements: identities and cumulative figures", ""]
    out += table(
        (
            "#",
            "queryid",
            "Database",
            "User",
            "Top level",
            "Calls",
            "Total ms",
            "Calls since reset",
            "Mean ms since reset",
            "Min ms since reset",
            "Reset in window",
        ),
        keys,
    )
    charts: list[str] = []
    for n in range(1, len(s.items) + 1):
        charts += _chart(
            _series(b, f"statement {n}"),
            f"Statement #{n}: mean time per interval (ms)",
            b,
            f"Statement #{n}'s mean execution time",
        )
    if charts:
        out += ["### Mean time of the top statements over the window", "", *charts]
    return out


def _resources(b: Baseline) -> list[str]:
    r = b.resources
    out = ["## Resource Utilization", "", *_note(r.note)]
    conn_note = ""
    if r.max_connections and r.connections_peak is not None:
        pct = 100.0 * r.connections_peak / r.max_connections
        conn_note = f"peak {units.percent(pct)} of max_connections {units.count(r.max_connections)}"
    size_note = "not collected: this pgtop version does not read database sizes"
    if r.database_size_bytes is not None:
        size_note = f"growth {units.size(r.database_size_growth_bytes)} over the window"
    rows: list[tuple[str, str, str, str]] = [
        (
            "Connections (client)",
            _num(r.connections_avg),
            units.count(r.connections_peak),
            conn_note,
        ),
        ("Active", _num(r.active_avg), units.count(r.active_peak), ""),
        ("Idle in transaction", "", units.count(r.idle_in_transaction_peak), ""),
        ("Transactions/s", units.rate(r.tps_avg), units.rate(r.tps_peak), ""),
        (
            "Cache hit ratio",
            units.percent(r.cache_hit_avg_pct),
            units.percent(r.cache_hit_min_pct),
            "peak column: the lowest",
        ),
        ("Temp files written", "", "", _temp(r.temp_files, r.temp_bytes)),
        ("Deadlocks", "", "", _in_window(r.deadlocks)),
        ("Longest transaction", "", units.duration(r.longest_transaction_peak_s), ""),
        ("Oldest xid age (end)", "", "", units.count(r.xid_age_end)),
        (
            "Database size (end)",
            "",
            units.size(r.database_size_bytes) or "not collected",
            size_note,
        ),
        (
            "CPU, memory, disk IOPS",
            "",
            "not collected",
            "pgtop reads PostgreSQL's views, not the host",
        ),
    ]
    out += table(("Metric", "Avg", "Peak", "Note"), rows)
    out += _chart(_series(b, "tps"), "Transactions per second", b, "Transactions per second")
    out += _chart_lines(
        [s for s in (_series(b, "connections"), _series(b, "active")) if s is not None],
        "Connections",
        b,
        "Upper line: client connections; lower line: active ones",
    )
    out += _chart(_series(b, "cache_hit_pct"), "Cache hit ratio (%)", b, "Cache hit ratio")
    return out


def _in_window(value: int | None) -> str:
    return "" if value is None else f"{units.count(value)} in the window"


def _temp(files: int | None, size: int | None) -> str:
    if files is None:
        return ""
    return _in_window(files) + (f" ({units.size(size)})" if size is not None else "")


def _replication(b: Baseline) -> list[str]:
    r = b.replication
    out = ["## Replication", ""]
    if r.role is not None:
        out += [f"The server was a {r.role} at the end of the window.", ""]
    out += _note(r.note)
    if r.standbys:
        out += ["### Standbys (as the primary sees them)", ""]
        out += table(
            (
                "Standby",
                "Client",
                "State",
                "Sync",
                "Replay lag avg",
                "Replay lag max",
                "Lag bytes max",
                "Samples",
            ),
            (
                (
                    cell(s.name),
                    _maybe(s.client),
                    cell(s.state),
                    cell(s.sync_state),
                    units.duration(s.replay_lag_avg_s),
                    units.duration(s.replay_lag_max_s),
                    units.size(s.replay_lag_max_bytes),
                    units.count(s.samples),
                )
                for s in r.standbys
            ),
        )
    if r.views:
        out += ["### Standbys (their own view)", ""]
        out += table(
            ("Source", "Replay lag avg", "Replay lag max", "WAL receiver", "Upstream"),
            (
                (
                    cell(v.source),
                    units.duration(v.replay_lag_avg_s),
                    units.duration(v.replay_lag_max_s),
                    _maybe(v.receiver) or "none running",
                    _maybe(v.upstream),
                )
                for v in r.views
            ),
        )
    if r.slots:
        out += ["### Replication slots", ""]
        out += table(
            (
                "Slot",
                "Type",
                "Active",
                "Database",
                "Retained WAL (end)",
                "Retained WAL peak",
                "WAL status",
            ),
            (
                (
                    cell(s.name),
                    cell(s.slot_type),
                    "yes" if s.active else "no",
                    _maybe(s.database),
                    units.size(s.retained_wal_bytes),
                    units.size(s.retained_wal_peak_bytes),
                    _maybe(s.wal_status),
                )
                for s in r.slots
            ),
        )
    if r.archiver is not None:
        a = r.archiver
        out += ["### WAL archiving", ""]
        out += table(
            ("Mode", "Archived in window", "Failed in window", "Last archived (end)", "Failing"),
            [
                (
                    cell(a.mode),
                    units.count(a.archived),
                    units.count(a.failed),
                    f"{units.duration(a.last_archived_age_s)} ago"
                    if a.last_archived_age_s is not None
                    else "never",
                    "yes" if a.failing else "no",
                )
            ],
        )
    return out


def _pools(b: Baseline) -> list[str]:
    p = b.pools
    title = "## Connection Pools (PgBouncer)" + (f": {cell(p.source)}" if p.source else "")
    out = [title, "", *_note(p.note)]
    if p.pools:
        out += table(
            (
                "Database",
                "User",
                "Mode",
                "Pool size",
                "Utilisation avg",
                "Utilisation peak",
                "Clients active avg",
                "Waiting peak",
                "Max wait peak",
            ),
            (
                (
                    cell(x.database),
                    cell(x.user),
                    _maybe(x.pool_mode),
                    units.count(x.pool_size),
                    units.percent(x.utilisation_avg_pct),
                    units.percent(x.utilisation_peak_pct),
                    _num(x.clients_active_avg),
                    units.count(x.waiting_peak),
                    units.duration(x.maxwait_peak_s),
                )
                for x in p.pools
            ),
        )
    return out


def _index_advice(b: Baseline) -> list[str]:
    a = b.index_advice
    title = "## Index Advice" + (f" (database {cell(a.database)})" if a.database else "")
    out = [title, "", *_note(a.note)]
    if a.note is not None and not (a.tables or a.unused):
        return out
    out += ["### Tables read mostly by sequential scans (missing-index candidates)", ""]
    if a.tables:
        out += table(
            (
                "Table",
                "Seq scans",
                "Rows read by seq scans",
                "Index scans",
                "Rows fetched by index",
            ),
            (
                (
                    cell(f"{t.schema}.{t.table}"),
                    units.count(t.seq_scan),
                    units.count(t.seq_tup_read),
                    units.count(t.idx_scan),
                    units.count(t.idx_tup_fetch),
                )
                for t in a.tables
            ),
        )
    else:
        out += ["> None.", ""]
    out += ["### Unused indexes (never scanned since the statistics were reset)", ""]
    if a.unused:
        out += table(
            ("Index", "Table", "Size"),
            (
                (cell(f"{i.schema}.{i.index}"), cell(i.table), units.size(i.size_bytes))
                for i in a.unused
            ),
        )
    else:
        out += ["> None.", ""]
    return out


def _settings(b: Baseline) -> list[str]:
    s = b.settings
    out = ["## Settings", "", *_note(s.note)]
    if s.items:
        out += table(
            ("Setting", "Value", "Playbook", "Advice"),
            (
                (
                    cell(x.name),
                    _maybe(x.value) or "not collected",
                    _maybe(x.playbook),
                    (
                        "**WARN:** "
                        if x.level == "warn"
                        else "**CRIT:** "
                        if x.level == "crit"
                        else ""
                    )
                    + _maybe(x.advice),
                )
                for x in s.items
            ),
        )
    return out


def _notes(b: Baseline) -> list[str]:
    if not b.notes:
        return []
    return ["## Collector notes", "", *(f"- {cell(n)}" for n in b.notes), ""]
