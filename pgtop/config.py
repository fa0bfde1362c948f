"""Settings and thresholds: one typed schema, layered sources, and pgtop's own state file.

Sources, lowest precedence first::

    defaults  <  config.toml  <  PGTOP_* environment variables  <  command-line overrides

``config.toml`` is the user's hand-edited file (``--config FILE``, else
``platformdirs.user_config_path("pgtop") / "config.toml"``). pgtop never writes it: tomli-w would
drop the user's comments. What pgtop remembers by itself (the theme picked in the UI) goes in
``state.toml`` beside it, written atomically by :func:`save_state`.

The effective theme composes as ``CLI/env > state.toml > config.toml > default``; see
:func:`effective_theme`.

This module never imports textual or ``pgtop.ui`` (enforced by import-linter).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, TypeVar, get_type_hints

import platformdirs
import tomli_w

from pgtop.atomic import WriteError, write_atomically

__all__ = [
    "ENV_VARS",
    "Config",
    "ConfigError",
    "ConnectionSettings",
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
    "render_default_config",
    "save_state",
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
        """1-based line of a TOML syntax error, if known."""
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
    meta = {"doc": doc, "env": env, "lo": lo, "hi": hi}
    return field(default=default, metadata=meta)


# --------------------------------------------------------------------------------------------------
# Schema


@dataclass(frozen=True, slots=True)
class Threshold:
    """A warn/crit pair for one metric.

    ``higher_is_worse=True``: a value at or above ``warn`` warns, at or above ``crit`` is critical.
    ``higher_is_worse=False`` (e.g. cache hit ratio): at or below ``warn`` warns, at or below
    ``crit`` is critical. The direction is part of the schema, not configurable.
    """

    warn: float
    crit: float
    higher_is_worse: bool = True

    def level(self, value: float) -> int:
        """0 = ok, 1 = warn, 2 = crit."""
        if self.higher_is_worse:
            return 2 if value >= self.crit else 1 if value >= self.warn else 0
        return 2 if value <= self.crit else 1 if value <= self.warn else 0


_GIB: Final = 1024**3


@dataclass(frozen=True, slots=True)
class MonitorSettings:
    """``[monitor]``: the interactive monitor."""

    refresh: float = _setting(
        2.0, "Seconds between polls of each server.", env="PGTOP_REFRESH", lo=0.5, hi=60
    )
    theme: str = _setting(
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
    application_name: str = _setting(
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
    idle_in_xact_s: Threshold = _setting(
        Threshold(30, 120), "Time a session has been idle in transaction, seconds."
    )
    xid_age: Threshold = _setting(
        Threshold(200_000_000, 1_000_000_000), "age(datfrozenxid) of the oldest database."
    )
    slot_retained_wal_bytes: Threshold = _setting(
        Threshold(1 * _GIB, 10 * _GIB), "WAL retained by a replication slot, bytes."
    )
    archive_age_s: Threshold = _setting(
        Threshold(600, 3600), "Time since the last successful WAL archive, seconds."
    )
    pgbouncer_waiting_clients: Threshold = _setting(
        Threshold(1, 10), "PgBouncer clients waiting for a server connection."
    )
    pool_utilisation_pct: Threshold = _setting(
        Threshold(90, 100), "PgBouncer pool server connections in use, % of pool size."
    )


@dataclass(frozen=True, slots=True)
class SnapshotSettings:
    """``[snapshot]``: headless ``pgtop snapshot``."""

    output_dir: str = _setting(
        "snapshots", "Folder baseline documents are written to (relative to the working dir)."
    )
    duration_s: int = _setting(
        30, "Default sampling window of a snapshot, seconds.", lo=1, hi=86_400
    )


@dataclass(frozen=True, slots=True)
class Config:
    """The effective settings. Build with :func:`load_config`."""

    monitor: MonitorSettings = field(default_factory=MonitorSettings)
    connection: ConnectionSettings = field(default_factory=ConnectionSettings)
    thresholds: Thresholds = field(default_factory=Thresholds)
    snapshot: SnapshotSettings = field(default_factory=SnapshotSettings)
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
}


def _all_keys() -> list[str]:
    return [f"{s}.{f.name}" for s, cls in _SECTIONS.items() for f in dataclasses.fields(cls)]


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
# Reading TOML


_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")
_AT_END = re.compile(r"\s*\(at end of document\)\s*$")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    """Parse ``path``; every failure becomes a one-line ConfigError naming file (and line)."""
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
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        lineno = getattr(exc, "lineno", None)  # Python >= 3.14
        err_line: int | None = lineno if isinstance(lineno, int) else None
        if m := _AT_LINE.search(message):
            err_line = err_line or int(m.group(1))
            message = message[: m.start()]
        elif m := _AT_END.search(message):
            err_line = err_line or max(1, len(text.splitlines()))
            message = message[: m.start()] + " at end of file"
        where = f"{what} {path}" + (f", line {err_line}" if err_line else "")
        raise ConfigError(f"{where}: invalid TOML ({message})", path=path, line=err_line) from exc


# --------------------------------------------------------------------------------------------------
# Validation


def _show(value: object) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _unknown(where: str, key: str, candidates: list[str], path: Path | None) -> ConfigError:
    close = difflib.get_close_matches(key, candidates, n=1)
    hint = f' (did you mean "{close[0]}"?)' if close else ""
    return ConfigError(f'{where}: unknown key "{key}"{hint}', path=path, key=key)


def _check_scalar(
    value: object, typ: Any, meta: Mapping[str, Any], key: str, where: str, path: Path | None
) -> object:
    def bad(message: str) -> ConfigError:
        return ConfigError(f'{where}: "{key}" {message}', path=path, key=key)

    result: object
    if typ is bool:
        if not isinstance(value, bool):
            raise bad(f"must be true or false, got {_show(value)}")
        return value
    if typ is str:
        if not isinstance(value, str) or not value.strip():
            raise bad(f"must be a non-empty string, got {_show(value)}")
        return value
    if typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"must be a whole number, got {_show(value)}")
        result = value
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"must be a number, got {_show(value)}")
        if not math.isfinite(value):
            raise bad(f"must be a finite number, got {_show(value)}")
        result = float(value)
    else:  # pragma: no cover - schema only uses the types above
        raise TypeError(f"unsupported setting type {typ!r} for {key}")
    low, high = meta.get("lo"), meta.get("hi")
    if low is not None and high is not None and not low <= value <= high:
        raise bad(f"must be between {low:g} and {high:g}, got {_show(value)}")
    if low is not None and value < low:
        raise bad(f"must be at least {low:g}, got {_show(value)}")
    if high is not None and value > high:
        raise bad(f"must be at most {high:g}, got {_show(value)}")
    return result


def _check_threshold(
    value: object, current: Threshold, key: str, where: str, path: Path | None
) -> Threshold:
    """Merge a ``{warn = .., crit = ..}`` table (either may be absent) onto ``current``."""
    if isinstance(value, Threshold):
        value = {"warn": value.warn, "crit": value.crit}
    if not isinstance(value, Mapping):
        raise ConfigError(
            f'{where}: "{key}" must be a table like {{ warn = 1, crit = 2 }}, got {_show(value)}',
            path=path,
            key=key,
        )
    levels = {"warn": current.warn, "crit": current.crit}
    for name, level in value.items():
        sub = f"{key}.{name}"
        if name not in levels:
            raise _unknown(where, sub, [f"{key}.warn", f"{key}.crit"], path)
        if isinstance(level, bool) or not isinstance(level, int | float):
            raise ConfigError(
                f'{where}: "{sub}" must be a number, got {_show(level)}', path=path, key=sub
            )
        if not math.isfinite(level) or level < 0:
            raise ConfigError(
                f'{where}: "{sub}" must be a finite number >= 0, got {_show(level)}',
                path=path,
                key=sub,
            )
        levels[name] = float(level)
    warn, crit = levels["warn"], levels["crit"]
    if current.higher_is_worse and crit < warn:
        raise ConfigError(
            f'{where}: "{key}" crit ({crit:g}) must not be below warn ({warn:g})',
            path=path,
            key=key,
        )
    if not current.higher_is_worse and crit > warn:
        raise ConfigError(
            f'{where}: "{key}" crit ({crit:g}) must not be above warn ({warn:g}) (lower is worse)',
            path=path,
            key=key,
        )
    return Threshold(warn, crit, current.higher_is_worse)


_Values = dict[str, dict[str, Any]]


def _set(
    values: _Values,
    origins: dict[str, Source],
    key: str,
    value: object,
    source: Source,
    where: str,
    path: Path | None,
) -> None:
    """Validate and store one dotted ``key``; ``key`` must already be known."""
    section, name = key.split(".", 1)
    cls = _SECTIONS[section]
    typ = get_type_hints(cls)[name]
    meta = next(f.metadata for f in dataclasses.fields(cls) if f.name == name)
    if typ is Threshold:
        values[section][name] = _check_threshold(value, values[section][name], key, where, path)
    else:
        values[section][name] = _check_scalar(value, typ, meta, key, where, path)
    origins[key] = source


def _apply_file(
    values: _Values, origins: dict[str, Source], doc: Mapping[str, Any], path: Path
) -> None:
    where = f"config file {path}"
    known = _all_keys()
    for section, table in doc.items():
        if section not in _SECTIONS:
            if not isinstance(table, Mapping):  # a top-level key: suggest its section
                hits = [k for k in known if k.endswith(f".{section}")]
                raise _unknown(where, section, hits or list(_SECTIONS), path)
            raise ConfigError(
                f'{where}: unknown section "[{section}]" (known: {", ".join(_SECTIONS)})',
                path=path,
                key=section,
            )
        if not isinstance(table, Mapping):
            raise ConfigError(
                f'{where}: "{section}" must be a table ([{section}])', path=path, key=section
            )
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in known:
                raise _unknown(where, key, known, path)
            _set(values, origins, key, value, Source.FILE, where, path)


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _parse_env(raw: str, typ: Any, var: str, key: str) -> object:
    text = raw.strip()
    try:
        if typ is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if typ is int:
            return int(text)
        if typ is float:
            return float(text)
    except ValueError:
        kind = {bool: "true or false", int: "a whole number", float: "a number"}[typ]
        raise ConfigError(
            f'environment variable {var}: "{key}" must be {kind}, got {_show(raw)}', key=key
        ) from None
    return raw


def _apply_env(values: _Values, origins: dict[str, Source], env: Mapping[str, str]) -> None:
    for var, key in ENV_VARS.items():
        raw = env.get(var)
        if raw is None or raw == "":  # an empty variable counts as unset
            continue
        section, name = key.split(".", 1)
        typ = get_type_hints(_SECTIONS[section])[name]
        value = _parse_env(raw, typ, var, key)
        _set(values, origins, key, value, Source.ENV, f"environment variable {var}", None)


def _apply_overrides(
    values: _Values, origins: dict[str, Source], overrides: Mapping[str, object]
) -> None:
    known = _all_keys()
    for key, value in overrides.items():
        if value is None:  # an option that was not given
            continue
        if key not in known:
            raise _unknown("command line", key, known, None)
        _set(values, origins, key, value, Source.CLI, "command line", None)


# --------------------------------------------------------------------------------------------------
# Public API


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
    if env is None:
        env = os.environ
    explicit = path is not None
    file = Path(path).expanduser() if path is not None else default_config_path()

    values: _Values = {
        section: {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
        for section, cls in _SECTIONS.items()
    }
    origins: dict[str, Source] = {}

    used: Path | None = None
    try:
        doc = _read_toml(file, "config file")
    except FileNotFoundError:
        if explicit:
            raise ConfigError(
                f"config file {file}: no such file (check the --config path)", path=file
            ) from None
    else:
        used = file
        _apply_file(values, origins, doc, file)

    _apply_env(values, origins, env)
    if overrides:
        _apply_overrides(values, origins, overrides)

    return Config(
        monitor=MonitorSettings(**values["monitor"]),
        connection=ConnectionSettings(**values["connection"]),
        thresholds=Thresholds(**values["thresholds"]),
        snapshot=SnapshotSettings(**values["snapshot"]),
        path=used,
        origins=origins,
    )


@dataclass(frozen=True, slots=True)
class UiState:
    """What pgtop remembers by itself, in ``state.toml`` (never in the user's config.toml)."""

    theme: str | None = None
    """Theme last chosen in the UI (None: never chosen)."""


def load_state(path: Path | None = None) -> UiState:
    """Read ``state.toml`` (default :func:`default_state_path`); a missing file is empty state.

    Unknown keys are ignored (a newer pgtop may have written them). A corrupt file raises
    :class:`ConfigError` naming file and line; it is left as it is.
    """
    file = path if path is not None else default_state_path()
    try:
        doc = _read_toml(file, "state file")
    except FileNotFoundError:
        return UiState()
    theme = doc.get("theme")
    if theme is not None and (not isinstance(theme, str) or not theme.strip()):
        raise ConfigError(
            f'state file {file}: "theme" must be a non-empty string, got {_show(theme)}',
            path=file,
            key="theme",
        )
    return UiState(theme=theme)


def save_state(state: UiState, path: Path | None = None) -> None:
    """Write ``state.toml`` atomically (:func:`pgtop.atomic.write_atomically`).

    Creates the folder on first save and keeps keys it does not know. If the existing file is
    corrupt it is NOT overwritten: :class:`ConfigError` is raised instead.
    """
    file = path if path is not None else default_state_path()
    try:
        existing = _read_toml(file, "state file")
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
