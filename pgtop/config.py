"""Settings and thresholds: one typed schema, layered sources, and pgtop's own state file.

Sources, lowest precedence first::

    defaults  <  config.toml  <  PGTOP_* environment variables  <  command-line overrides

``config.toml`` is the user's hand-edited file (``--config FILE``, else
``platformdirs.user_config_path("pgtop") / "config.toml"``). pgtop never writes it: tomli-w would
drop the user's comments. What pgtop remembers by itself (the theme picked in the UI) goes in
``state.toml`` beside it, written atomically by :func:`save_state`.

One schema, the section dataclasses below (types, ranges, documentation, env var), checked by
msgspec: each source is merged onto the values so far and converted (:func:`validate`). Adding a
section is a dataclass, a field of :class:`Config` and an entry in ``_SECTIONS``.

The effective theme composes as ``CLI/env > state.toml > config.toml > default``; see
:func:`effective_theme`.

This module never imports textual or ``pgtop.ui`` (enforced by import-linter).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import textwrap
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Final, TypeVar, get_type_hints

import msgspec
import msgspec.inspect as mi
import platformdirs
import tomli_w
from msgspec import Meta

from pgtop.atomic import WriteError, write_atomically

__all__ = [
    "ENV_VARS",
    "Config",
    "ConfigError",
    "BaselineSettings",
    "ConnectionSettings",
    "ExplainSettings",
    "MonitorSettings",
    "SnapshotSettings",
    "Source",
    "Threshold",
    "Thresholds",
    "UiState",
    "config_dir",
    "default_config_path",
    "default_state_path",
    "effective_theme",
    "load_config",
    "load_state",
    "read_toml",
    "render_default_config",
    "save_state",
    "validate",
]

APP_NAME: Final = "pgtop"

_T = TypeVar("_T")


class ConfigError(Exception):
    """A settings problem. ``str()`` is one line naming the source (file, line, key)."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        """The file at fault, if the problem is in a file."""
        self.line = line
        """1-based line of a TOML syntax error or of the key at fault, if known."""
        self.key = key
        """Dotted key at fault (``"monitor.refresh"``), if known."""


class Source(StrEnum):
    """Where a setting's effective value came from."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    CLI = "cli"


def _setting(
    default: _T,
    doc: str,
    *,
    env: str | None = None,
    lo: float | None = None,
    hi: float | None = None,
) -> _T:
    """A schema field: default, one-line documentation, optional env var and range [lo, hi]."""
    return field(default=default, metadata={"doc": doc, "env": env, "lo": lo, "hi": hi})


# --------------------------------------------------------------------------------------------------
# Schema: msgspec checks the types, ranges and patterns (a description says what is valid)

NonEmpty = Annotated[str, Meta(pattern=r"\S", description="a non-empty string")]
Level = Annotated[float, Meta(ge=0, le=1e18, description="a finite number >= 0")]


@dataclass(frozen=True, slots=True)
class Threshold:
    """A warn/crit pair for one metric.

    ``higher_is_worse=True``: a value at or above ``warn`` warns, at or above ``crit`` is critical.
    ``higher_is_worse=False`` (e.g. cache hit ratio): at or below ``warn`` warns, at or below
    ``crit`` is critical. The direction is part of the schema, not configurable; a pair whose crit
    is on the good side of warn raises ValueError.
    """

    warn: float
    crit: float
    higher_is_worse: bool = True

    def __post_init__(self) -> None:
        if self.higher_is_worse and self.crit < self.warn:
            raise ValueError(f"crit ({self.crit:g}) must not be below warn ({self.warn:g})")
        if not self.higher_is_worse and self.crit > self.warn:
            raise ValueError(
                f"crit ({self.crit:g}) must not be above warn ({self.warn:g}) (lower is worse)"
            )

    def level(self, value: float) -> int:
        """0 = ok, 1 = warn, 2 = crit."""
        if self.higher_is_worse:
            return 2 if value >= self.crit else 1 if value >= self.warn else 0
        return 2 if value <= self.crit else 1 if value <= self.warn else 0


class _Levels(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A threshold as TOML spells it, ``{ warn = 70, crit = 85 }``, merged onto its default."""

    warn: Level
    crit: Level
    higher_is_worse: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.threshold()  # Threshold's direction rule, raised where msgspec names the key

    def threshold(self) -> Threshold:
        return Threshold(self.warn, self.crit, self.higher_is_worse)


class _LowerIsWorse(_Levels, frozen=True, forbid_unknown_fields=True):
    higher_is_worse: ClassVar[bool] = False


_GIB: Final = 1024**3


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """``[monitor]``: the interactive monitor."""

    refresh: float = _setting(
        2.0, "Seconds between polls of each server.", env="PGTOP_REFRESH", lo=0.5, hi=60
    )
    theme: NonEmpty = _setting(
        "pgtop-dark",
        "Theme: pgtop-dark, pgtop-light, pgtop-high-contrast (or dark, light, high-contrast),"
        " or the name of a theme file in the user's themes folder.",
        env="PGTOP_THEME",
    )
    history_minutes: int = _setting(
        60,
        "Minutes of samples kept in memory for charts and baselines.",
        env="PGTOP_HISTORY_MINUTES",
        lo=1,
        hi=24 * 60,
    )
    read_only: bool = _setting(
        False,
        "Disable cancel, terminate and EXPLAIN ANALYZE.",
        env="PGTOP_READ_ONLY",
    )


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """``[connection]``: how pgtop's own sessions behave on the monitored server."""

    statement_timeout_ms: int = _setting(
        2000,
        "statement_timeout of the monitoring session, milliseconds.",
        env="PGTOP_STATEMENT_TIMEOUT_MS",
        lo=1,
        hi=3_600_000,
    )
    lock_timeout_ms: int = _setting(
        500,
        "lock_timeout of the monitoring session, milliseconds.",
        env="PGTOP_LOCK_TIMEOUT_MS",
        lo=1,
        hi=3_600_000,
    )
    connect_timeout_s: int = _setting(
        5,
        "libpq connect_timeout, seconds.",
        env="PGTOP_CONNECT_TIMEOUT_S",
        lo=1,
        hi=600,
    )
    application_name: NonEmpty = _setting(
        "pgtop",
        "application_name of pgtop's sessions (they are hidden from its own activity list).",
        env="PGTOP_APPLICATION_NAME",
    )


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``[thresholds]``: warn/crit levels (ops playbook, "Key Database Metrics").

    In TOML each is a table with ``warn`` and/or ``crit``, e.g.
    ``connections_pct = { warn = 70, crit = 85 }``.
    """

    connections_pct: Threshold = _setting(
        Threshold(70, 85), "Connections in use, % of max_connections."
    )
    replication_lag_s: Threshold = _setting(
        Threshold(1, 10), "Replication replay lag of a standby, seconds."
    )
    cache_hit_pct: Threshold = _setting(
        Threshold(95, 90, higher_is_worse=False),
        "Buffer cache hit ratio, % (lower is worse).",
    )
    tps_drop_pct: Threshold = _setting(
        Threshold(50, 80), "Drop of transactions/s against the recent average, %."
    )
    longest_xact_s: Threshold = _setting(
        Threshold(60, 300), "Age of the longest running transaction, seconds."
    )
    query_s: Threshold = _setting(
        Threshold(60, 300), "Time an active query has been running, seconds (activity rows)."
    )
    idle_in_xact_s: Threshold = _setting(
        Threshold(30, 120), "Time a session has been idle in transaction, seconds."
    )
    xid_age: Threshold = _setting(
        Threshold(200_000_000, 1_000_000_000), "age(datfrozenxid) of the oldest database."
    )
    slot_retained_wal_bytes: Threshold = _setting(
        Threshold(1 * _GIB, 10 * _GIB),
        "WAL retained by a replication slot, bytes. An inactive slot retaining any WAL warns"
        " whatever its size (as postgres_exporter's alert rules do) and is critical from crit;"
        " an active one is judged by both levels; wal_status unreserved or lost is critical.",
    )
    archive_age_s: Threshold = _setting(
        Threshold(600, 3600),
        "Time since the last successful WAL archive, seconds, while complete WAL segments wait"
        " to be archived (a primary that wrote no segment since has nothing to archive: OK).",
    )
    lock_wait_s: Threshold = _setting(
        Threshold(5, 30),
        "Longest wait of a session for a heavyweight lock, seconds (the status names the root"
        " blocker).",
    )
    lock_waiters: Threshold = _setting(
        Threshold(5, 20),
        "Sessions that have waited at least 1 s for a heavyweight lock (shorter waits are the"
        " ordinary traffic of row locks).",
    )
    statement_regression_x: Threshold = _setting(
        Threshold(2, 5),
        "A statement's mean time per call over its last calls, as a multiple of its own mean"
        " before them (from pg_stat_statements' counters: no saved baseline needed).",
    )
    regression_min_calls: int = _setting(
        20,
        "Calls a statement needs in its recent window, and before it, to be judged for a"
        " regression.",
        lo=2,
        hi=1_000_000,
    )
    regression_min_ms: float = _setting(
        1.0,
        "Smallest rise of a statement's mean time per call that can count as a regression,"
        " milliseconds (a query going from 0.02 to 0.1 ms is not an incident).",
        lo=0,
        hi=3_600_000,
    )
    regression_window_s: float = _setting(
        60.0,
        "The recent window of a regression: the newest reads of pg_stat_statements holding"
        " regression_min_calls calls, no older than this many seconds.",
        lo=1,
        hi=86_400,
    )
    pgbouncer_waiting_clients: Threshold = _setting(
        Threshold(1, 10), "PgBouncer clients waiting for a server connection."
    )
    pool_utilisation_pct: Threshold = _setting(
        Threshold(90, 100), "PgBouncer pool server connections in use, % of pool size."
    )
    pool_maxwait_s: Threshold = _setting(
        Threshold(1, 10), "Longest wait of a PgBouncer client for a server connection, seconds."
    )


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    """``[snapshot]``: headless ``pgtop snapshot``."""

    output_dir: NonEmpty = _setting(
        "snapshots", "Folder baseline documents are written to (relative to the working dir)."
    )
    duration_s: int = _setting(
        30, "Default sampling window of a snapshot, seconds.", lo=1, hi=86_400
    )


@dataclass(frozen=True, slots=True)
class ExplainSettings:
    """``[explain]``: EXPLAIN (``e``) and EXPLAIN ANALYZE (``E``), on sessions of pgtop's own."""

    statement_timeout_ms: int = _setting(
        10_000,
        "statement_timeout of an EXPLAIN (ANALYZE runs the query: this bounds it), milliseconds.",
        env="PGTOP_EXPLAIN_STATEMENT_TIMEOUT_MS",
        lo=1,
        hi=3_600_000,
    )
    lock_timeout_ms: int = _setting(
        1000,
        "lock_timeout of an EXPLAIN: planning waits at most this long for a lock, milliseconds.",
        env="PGTOP_EXPLAIN_LOCK_TIMEOUT_MS",
        lo=1,
        hi=3_600_000,
    )


@dataclass(frozen=True, slots=True)
class BaselineSettings:
    """``[baseline]``: comparing statements with a baseline (``baseline diff``, ``--baseline``)."""

    warn_ratio: float = _setting(
        2.0, "A statement's mean this many times its baseline warns (playbook: 2x).", lo=1, hi=1000
    )
    crit_ratio: float = _setting(
        5.0, "A statement's mean this many times its baseline is critical (playbook: 5x).",
        lo=1, hi=1000,
    )  # fmt: skip
    min_calls: int = _setting(
        20, "Noise floor: statements with fewer calls in a window are never judged.", lo=0, hi=10**9
    )
    min_total_ms: float = _setting(
        100.0,
        "Noise floor: statements with less execution time (ms) in a window are never judged.",
        lo=0,
        hi=10**12,
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The effective settings. Build with :func:`load_config`."""

    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    snapshot: SnapshotSettings = field(default_factory=SnapshotSettings)
    explain: ExplainSettings = field(default_factory=ExplainSettings)
    baseline: BaselineSettings = field(default_factory=BaselineSettings)
    path: Path | None = field(default=None, compare=False)
    """The config file that was read, or None when none was (defaults only)."""
    origins: Mapping[str, Source] = field(default_factory=dict, compare=False, hash=False)
    """Dotted key -> where its value came from; keys absent here are defaults."""

    def origin(self, key: str) -> Source:
        """Where the value of dotted ``key`` (``"monitor.theme"``) came from."""
        return self.origins.get(key, Source.DEFAULT)


_SECTIONS: Final[dict[str, type[Any]]] = {
    "monitor": MonitorSettings,
    "connection": ConnectionSettings,
    "thresholds": Thresholds,
    "snapshot": SnapshotSettings,
    "explain": ExplainSettings,
    "baseline": BaselineSettings,
}


def _section_schema(cls: type[Any]) -> type[msgspec.Struct]:
    """msgspec's view of a section dataclass: its fields, types and ranges; no unknown keys."""
    hints = get_type_hints(cls, include_extras=True)

    def wire(f: dataclasses.Field[Any]) -> Any:
        if isinstance(f.default, Threshold):
            levels = _Levels if f.default.higher_is_worse else _LowerIsWorse
            return Annotated[levels, Meta(description="a table like { warn = 1, crit = 2 }")]
        return Annotated[hints[f.name], Meta(ge=f.metadata["lo"], le=f.metadata["hi"])]

    fields = [(f.name, wire(f)) for f in dataclasses.fields(cls)]
    return msgspec.defstruct(cls.__name__, fields, forbid_unknown_fields=True)


_SCHEMA: Final = msgspec.defstruct(
    "Settings",
    [(section, _section_schema(cls)) for section, cls in _SECTIONS.items()],
    forbid_unknown_fields=True,
)
"""The whole of config.toml, every key present (each source is merged onto the defaults)."""

ENV_VARS: Final[dict[str, str]] = {
    f.metadata["env"]: f"{s}.{f.name}"
    for s, cls in _SECTIONS.items()
    for f in dataclasses.fields(cls)
    if f.metadata.get("env")
}
"""Environment variable -> dotted key it sets."""


# --------------------------------------------------------------------------------------------------
# Locations


def config_dir() -> Path:
    """The user's pgtop config folder (``~/.config/pgtop`` on Linux; honours XDG_CONFIG_HOME)."""
    return platformdirs.user_config_path(APP_NAME)


def default_config_path() -> Path:
    """Where ``config.toml`` is looked for when ``--config`` is not given."""
    return config_dir() / "config.toml"


def default_state_path() -> Path:
    """``state.toml``, pgtop's own remembered settings, beside the default ``config.toml``."""
    return config_dir() / "state.toml"


# --------------------------------------------------------------------------------------------------
# Reading and validating TOML (pgtop.themes uses these too)


_AT = re.compile(r"\s*\(at (?:line (\d+), column \d+|end of document)\)\s*$")


def read_toml(path: Path, what: str) -> tuple[dict[str, Any], str]:
    """Parse ``path``: the document and its text. Failures are one-line ConfigErrors naming
    ``what`` (``"config file"``), the file and the line; a missing file is FileNotFoundError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{what} {path}: cannot read ({reason})", path=path) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{what} {path}, line {line}: not valid UTF-8", path=path, line=line
        ) from exc
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        at: int | None = None
        if m := _AT.search(message):  # "(at line 3, column 9)" or "(at end of document)"
            at = int(m[1]) if m[1] else max(1, len(text.splitlines()))
            message = message[: m.start()] + ("" if m[1] else " at end of file")
        where = f"{what} {path}" + (f", line {at}" if at else "")
        raise ConfigError(f"{where}: invalid TOML ({message})", path=path, line=at) from exc


def validate(
    value: object,
    schema: type[_T],
    where: str,
    *,
    path: Path | None = None,
    text: str | None = None,
    strict: bool = True,
) -> _T:
    """``msgspec.convert(value, schema)``; a failure is one ConfigError: ``where``, the key's
    line in ``text`` (the TOML it came from) if found, the key and what it must be."""
    try:
        return msgspec.convert(value, schema, strict=strict)
    except msgspec.ValidationError as exc:
        key, problem = _explain(str(exc), value, schema)
        line = _line_of(text, key) if text is not None else None
        where += f", line {line}" if line else ""
        dotted = ".".join(key) or None
        raise ConfigError(f"{where}: {problem}", path=path, line=line, key=dotted) from None


_ERROR_AT = re.compile(r" - at (?:`key` in )?`\$(.*)`$")
_FIELD = re.compile(r"Object (contains unknown|missing required) field `(.*)`$")
_KINDS: Final[dict[type[mi.Type], str]] = {
    mi.BoolType: "true or false",
    mi.IntType: "a whole number",
    mi.FloatType: "a number",
    mi.StrType: "a string",
    mi.DictType: "a table",
    mi.StructType: "a table",
}


def _explain(message: str, value: object, schema: type[Any]) -> tuple[list[str], str]:
    """msgspec's message (``Expected `float` <= 60.0 - at `$.monitor.refresh```) in pgtop's
    words: the key path and ``"monitor.refresh" must be a number between 0.5 and 60, got 100``."""
    at = _ERROR_AT.search(message)
    key = [part for part in re.sub(r"\[.*?\]", "", at[1]).split(".") if part] if at else []
    message, root = message[: at.start()] if at else message, mi.type_info(schema)
    if m := _FIELD.match(message):
        key.append(m[2])
        dotted = ".".join(key)
        if m[1] == "missing required":
            return key, f'"{dotted}" is required'
        names = _names(root)
        close = [n for n in names if n.endswith(f".{m[2]}")]
        close = close or difflib.get_close_matches(dotted, names, n=1)
        what, spell = "key", "{}"
        if len(key) == 1 and isinstance(_get(value, key), dict):  # a [table] at the top
            what, spell = "section", "[{}]"
        hint = f' (did you mean "{spell.format(close[0])}"?)' if close else ""
        return key, f'unknown {what} "{spell.format(dotted)}"{hint}'
    dotted = ".".join(key)
    if not message.startswith("Expected"):
        return key, f'"{dotted}" {message}'  # a rule of the type, e.g. a threshold's direction
    t: mi.Type | None = root
    for part in key:
        t = _fields(t).get(part)
    t, expected = _unwrap(t)  # what a valid value is: the description, else kind and range
    if not expected:
        expected = next((kind for cls, kind in _KINDS.items() if isinstance(t, cls)), "valid")
        low, high = getattr(t, "ge", None), getattr(t, "le", None)
        expected += f" between {low} and {high}" if low is not None and high is not None else ""
    return key, f'"{dotted}" must be {expected}, got {_show(_get(value, key))}'


def _unwrap(t: mi.Type | None) -> tuple[mi.Type | None, str | None]:
    """``t`` seen through ``Annotated`` and ``| None``, and its description if it has one."""
    description = None
    while isinstance(t, mi.Metadata | mi.UnionType):
        if isinstance(t, mi.UnionType):
            t = t.types[0]
        else:
            description = description or (t.extra_json_schema or {}).get("description")
            t = t.type
    return t, description


def _fields(t: mi.Type | None) -> dict[str, mi.Type]:
    """The fields of a struct or dataclass type (none for any other type)."""
    t = _unwrap(t)[0]
    return (
        {f.name: f.type for f in t.fields}
        if isinstance(t, mi.StructType | mi.DataclassType)
        else {}
    )


def _names(t: mi.Type, prefix: str = "") -> list[str]:
    """Every dotted key of a schema, for "did you mean" hints."""
    return [n for k, sub in _fields(t).items() for n in (prefix + k, *_names(sub, f"{prefix}{k}."))]


def _get(value: object, key: Sequence[str]) -> object:
    for part in key:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _show(value: object) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


_KEY_LINE = re.compile(r"""\s*(\[*)\s*([\w"'. -]+?)\s*[]=]""")  # "[a.b]" or "a.b = …"


def _line_of(text: str, key: Sequence[str]) -> int | None:
    """The 1-based line where ``key`` (or the table or inline table holding it) is written."""
    table: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if m := _KEY_LINE.match(line):
            names = [name.strip().strip("\"'") for name in m[2].split(".")]
            table, written = (names, names) if m[1] else (table, table + names)
            if written == list(key[: len(written)]) and (written == list(key) or not m[1]):
                return number
    return None


# --------------------------------------------------------------------------------------------------
# Public API


def _wire(value: object) -> object:
    """A setting as TOML spells it (a Threshold is a ``{ warn, crit }`` table)."""
    return {"warn": value.warn, "crit": value.crit} if isinstance(value, Threshold) else value


def _nested(flat: Mapping[str, object]) -> dict[str, Any]:
    """``{"monitor.refresh": 1}`` -> ``{"monitor": {"refresh": 1}}``."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, name = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[name] = _wire(value)
    return nested


def _merge(base: Mapping[str, Any], layer: Mapping[str, Any]) -> dict[str, Any]:
    """``layer`` over ``base``, tables key by key (``{ warn = 60 }`` keeps the default crit)."""
    merged = dict(base)
    for key, value in layer.items():
        below = base.get(key)
        both = isinstance(below, dict) and isinstance(value, dict)
        merged[key] = _merge(below, value) if both else value  # type: ignore[arg-type]
    return merged


_BOOL_WORDS: Final = {"yes": True, "on": True, "no": False, "off": False}
"""Booleans in environment variables, besides the true/false/1/0 of msgspec's lax mode."""


def load_config(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Build the effective :class:`Config`: defaults < TOML file < ``PGTOP_*`` env < overrides.

    ``path``: the ``--config`` file (must exist); None reads :func:`default_config_path` if it
    exists. ``env``: the environment (default ``os.environ``); only the names in
    :data:`ENV_VARS` are read, an empty value counts as unset. ``overrides``: typed values from
    the command line keyed by dotted name (``{"monitor.refresh": 1.0}``); None values are
    skipped, thresholds take a :class:`Threshold` or ``{"warn": .., "crit": ..}``.

    Raises :class:`ConfigError` (one line naming the file/variable, key or line). Never writes.
    """
    env = os.environ if env is None else env
    file = Path(path).expanduser() if path is not None else default_config_path()

    values = {
        section: {f.name: _wire(getattr(cls(), f.name)) for f in dataclasses.fields(cls)}
        for section, cls in _SECTIONS.items()
    }
    origins: dict[str, Source] = {}

    def apply(where: str, source: Source, layer: dict[str, Any], text: str | None = None) -> None:
        """Merge ``layer`` (TOML's shape) onto the values so far and validate the whole."""
        nonlocal values
        lax, at_fault = source is Source.ENV, file if source is Source.FILE else None
        valid = validate(
            _merge(values, layer), _SCHEMA, where, path=at_fault, text=text, strict=not lax
        )
        values = msgspec.to_builtins(valid)  # lax: msgspec parses the environment's strings
        origins.update({f"{s}.{name}": source for s, table in layer.items() for name in table})

    used: Path | None = None
    try:
        doc, text = read_toml(file, "config file")
    except FileNotFoundError:
        if path is not None:
            raise ConfigError(
                f"config file {file}: no such file (check the --config path)", path=file
            ) from None
    else:
        used = file
        apply(f"config file {file}", Source.FILE, doc, text)
    for var, key in ENV_VARS.items():
        if raw := env.get(var, "").strip():  # an empty variable counts as unset
            section, name = key.split(".")
            is_bool = get_type_hints(_SECTIONS[section])[name] is bool
            value = _BOOL_WORDS.get(raw.lower(), raw) if is_bool else raw
            apply(f"environment variable {var}", Source.ENV, {section: {name: value}})
    if given := {key: value for key, value in (overrides or {}).items() if value is not None}:
        apply("command line", Source.CLI, _nested(given))

    settings, sections = msgspec.convert(values, _SCHEMA), {}
    for s, cls in _SECTIONS.items():
        fields = msgspec.structs.asdict(getattr(settings, s)).items()
        sections[s] = cls(**{k: v.threshold() if isinstance(v, _Levels) else v for k, v in fields})
    return Config(**sections, path=used, origins=origins)


@dataclass(frozen=True, slots=True)
class UiState:
    """What pgtop remembers by itself, in ``state.toml`` (never in the user's config.toml)."""

    theme: NonEmpty | None = None
    """Theme last chosen in the UI (None: never chosen)."""


def load_state(path: Path | None = None) -> UiState:
    """Read ``state.toml`` (default :func:`default_state_path`); a missing file is empty state.

    Unknown keys are ignored (a newer pgtop may have written them). A corrupt file raises
    :class:`ConfigError` naming file and line; it is left as it is.
    """
    file = path if path is not None else default_state_path()
    try:
        doc, text = read_toml(file, "state file")
    except FileNotFoundError:
        return UiState()
    return validate(doc, UiState, f"state file {file}", path=file, text=text)


def save_state(state: UiState, path: Path | None = None) -> None:
    """Write ``state.toml`` atomically (:func:`pgtop.atomic.write_atomically`).

    Creates the folder on first save and keeps keys it does not know. If the existing file is
    corrupt it is NOT overwritten: :class:`ConfigError` is raised instead.
    """
    file = path if path is not None else default_state_path()
    try:
        existing, _ = read_toml(file, "state file")
    except FileNotFoundError:
        existing = {}
    except ConfigError as exc:
        raise ConfigError(
            f"{exc}; not overwritten: fix or delete it", path=exc.path, line=exc.line
        ) from exc

    doc = dict(existing)
    for f in dataclasses.fields(state):
        value = getattr(state, f.name)
        if value is None:
            doc.pop(f.name, None)  # TOML has no null: absent means unset
        else:
            doc[f.name] = value
    text = "# Written by pgtop; settings you edit belong in config.toml.\n" + tomli_w.dumps(doc)

    try:
        file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"state file {file}: cannot write ({reason})", path=file) from exc
    try:
        write_atomically(file, text, replace=True)
    except WriteError as exc:
        raise ConfigError(f"state file {file}: {exc}", path=file) from exc


def effective_theme(config: Config, state: UiState) -> str:
    """The theme to start with: CLI/env > state.toml > config.toml > default.

    The result may be a short form (``dark``); resolve it with ``pgtop.themes.resolve_theme_name``.
    """
    if config.origin("monitor.theme") in (Source.ENV, Source.CLI):
        return config.monitor.theme
    if state.theme:
        return state.theme
    return config.monitor.theme


def _toml_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_default_config() -> str:
    """A commented ``config.toml`` listing every setting with its documentation and default."""
    out = [
        "# pgtop configuration. Every setting is optional; uncomment to change a default.",
        "# Precedence: defaults < this file < PGTOP_* environment variables < command line.",
    ]
    for section, cls in _SECTIONS.items():
        out += ["", f"[{section}]"]
        for f in dataclasses.fields(cls):
            default = getattr(cls(), f.name)
            doc = f.metadata["doc"]
            if f.metadata.get("env"):
                doc += f" Env: {f.metadata['env']}."
            if isinstance(default, Threshold):
                warn, crit = _toml_number(default.warn), _toml_number(default.crit)
                line = f"{f.name} = {{ warn = {warn}, crit = {crit} }}"
            else:
                line = tomli_w.dumps({f.name: default}).strip()
            out += [f"# {text}" for text in textwrap.wrap(doc, 96)]
            out.append(f"# {line}")
    return "\n".join(out) + "\n"
