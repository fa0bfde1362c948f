"""pgtop.config: schema defaults, layered sources, one-line errors, the state file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from pgtop.config import (
    ENV_VARS,
    Config,
    ConfigError,
    Source,
    Threshold,
    UiState,
    default_config_path,
    default_state_path,
    effective_theme,
    load_config,
    load_state,
    render_default_config,
    save_state,
)


@pytest.fixture(autouse=True)
def isolated_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs at an empty folder so the real user's files never leak in."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home / "pgtop"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_file() -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.path is None
    assert config.monitor.refresh == 2.0
    assert config.monitor.theme == "pgtop-dark"
    assert config.monitor.history_minutes == 60
    assert config.monitor.read_only is False
    assert config.connection.statement_timeout_ms == 2000
    assert config.connection.lock_timeout_ms == 500
    assert config.connection.connect_timeout_s == 5
    assert config.connection.application_name == "pgtop"
    assert config.snapshot.output_dir == "snapshots"
    assert config.snapshot.duration_s == 30
    t = config.thresholds
    assert t.connections_pct == Threshold(70, 85)
    assert t.cache_hit_pct == Threshold(95, 90, higher_is_worse=False)
    assert t.xid_age == Threshold(200_000_000, 1_000_000_000)
    assert t.slot_retained_wal_bytes == Threshold(1024**3, 10 * 1024**3)
    assert t.pool_utilisation_pct == Threshold(90, 100)
    assert config.origin("monitor.refresh") is Source.DEFAULT


def test_default_paths_follow_the_user_config_dir(isolated_config_home: Path) -> None:
    assert default_config_path() == isolated_config_home / "config.toml"
    assert default_state_path() == isolated_config_home / "state.toml"


def test_default_file_is_read_when_present(isolated_config_home: Path) -> None:
    file = write(isolated_config_home / "config.toml", "[monitor]\nrefresh = 5\n")
    config = load_config(env={})
    assert config.monitor.refresh == 5.0
    assert config.path == file
    assert config.origin("monitor.refresh") is Source.FILE


def test_file_overrides_defaults(tmp_path: Path) -> None:
    file = write(
        tmp_path / "c.toml",
        """
        [monitor]
        refresh = 1.5
        read_only = true
        [connection]
        application_name = "pgtop-ops"
        [thresholds]
        connections_pct = { warn = 60 }
        cache_hit_pct = { warn = 99, crit = 97 }
        [snapshot]
        duration_s = 120
        """,
    )
    config = load_config(file, env={})
    assert config.monitor.refresh == 1.5
    assert config.monitor.read_only is True
    assert config.monitor.theme == "pgtop-dark"  # untouched keys keep their default
    assert config.connection.application_name == "pgtop-ops"
    assert config.thresholds.connections_pct == Threshold(60, 85)  # crit kept
    assert config.thresholds.cache_hit_pct == Threshold(99, 97, higher_is_worse=False)
    assert config.snapshot.duration_s == 120


def test_env_overrides_file(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", '[monitor]\nrefresh = 1.5\ntheme = "pgtop-light"\n')
    env = {
        "PGTOP_REFRESH": "3",
        "PGTOP_READ_ONLY": "yes",
        "PGTOP_STATEMENT_TIMEOUT_MS": "1500",
        "PGTOP_LOCK_TIMEOUT_MS": "100",
        "PGTOP_CONNECT_TIMEOUT_S": "9",
        "PGTOP_THEME": "",  # empty counts as unset
        "PGTOP_PG_BIN": "/not/a/setting",  # other PGTOP_ variables are not ours to judge
    }
    config = load_config(file, env=env)
    assert config.monitor.refresh == 3.0
    assert config.monitor.read_only is True
    assert config.monitor.theme == "pgtop-light"
    assert config.connection.statement_timeout_ms == 1500
    assert config.connection.lock_timeout_ms == 100
    assert config.connection.connect_timeout_s == 9
    assert config.origin("monitor.refresh") is Source.ENV
    assert config.origin("monitor.theme") is Source.FILE


def test_required_env_vars_exist() -> None:
    for var in (
        "PGTOP_REFRESH",
        "PGTOP_THEME",
        "PGTOP_READ_ONLY",
        "PGTOP_STATEMENT_TIMEOUT_MS",
        "PGTOP_LOCK_TIMEOUT_MS",
        "PGTOP_CONNECT_TIMEOUT_S",
    ):
        assert var in ENV_VARS


def test_cli_overrides_env(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", "[monitor]\nrefresh = 1.5\n")
    config = load_config(
        file,
        env={"PGTOP_REFRESH": "3", "PGTOP_THEME": "light"},
        overrides={
            "monitor.refresh": 0.5,
            "monitor.theme": None,  # option not given: env stays
            "thresholds.replication_lag_s": Threshold(5, 50),
        },
    )
    assert config.monitor.refresh == 0.5
    assert config.monitor.theme == "light"
    assert config.thresholds.replication_lag_s == Threshold(5, 50)
    assert config.origin("monitor.refresh") is Source.CLI


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    file = write(tmp_path / "config.toml", "[monitor]\nrefesh = 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(file, env={})
    message = str(info.value)
    assert message == (
        f'config file {file}, line 2: unknown key "monitor.refesh"'
        ' (did you mean "monitor.refresh"?)'
    )
    assert info.value.key == "monitor.refesh"
    assert info.value.line == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[monitr]\nrefresh = 3\n", 'unknown section "[monitr]" (did you mean "[monitor]"?)'),
        ("refresh = 3\n", 'unknown key "refresh" (did you mean "monitor.refresh"?)'),
        (
            "[thresholds]\nxid_age = { warn = 1, critical = 2 }\n",
            'unknown key "thresholds.xid_age.critical" (did you mean "thresholds.xid_age.crit"?)',
        ),
        ("[thresholds]\nxid_age = { warn = 1, crit = 2, higher_is_worse = false }\n", "higher"),
    ],
)
def test_unknown_sections_and_nested_keys(tmp_path: Path, text: str, needle: str) -> None:
    file = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        load_config(file, env={})
    assert str(file) in str(info.value)


def test_syntax_error_names_file_and_line_and_leaves_file_alone(tmp_path: Path) -> None:
    file = write(tmp_path / "config.toml", '# mine\n[monitor]\ntheme "dark"\n')
    before = file.read_bytes()
    with pytest.raises(ConfigError) as info:
        load_config(file, env={})
    message = str(info.value)
    assert message.startswith(f"config file {file}, line 3: invalid TOML (")
    assert "\n" not in message
    assert info.value.line == 3
    assert file.read_bytes() == before


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="no such file") as info:
        load_config(missing, env={})
    assert str(missing) in str(info.value)


@pytest.mark.parametrize("refresh", ["0.1", "61", "1e9"])
def test_out_of_range_refresh_rejected_in_file(tmp_path: Path, refresh: str) -> None:
    file = write(tmp_path / "c.toml", f"[monitor]\nrefresh = {refresh}\n")
    with pytest.raises(
        ConfigError, match=r'"monitor\.refresh" must be a number between 0\.5 and 60, got '
    ):
        load_config(file, env={})


def test_out_of_range_refresh_rejected_in_env_and_cli() -> None:
    with pytest.raises(ConfigError, match="environment variable PGTOP_REFRESH"):
        load_config(env={"PGTOP_REFRESH": "100"})
    with pytest.raises(ConfigError, match=r"command line: \"monitor\.refresh\""):
        load_config(env={}, overrides={"monitor.refresh": 0.25})


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[monitor]\nrefresh = "fast"\n', '"monitor.refresh" must be a number'),
        ("[monitor]\nread_only = 1\n", '"monitor.read_only" must be true or false'),
        ("[monitor]\nhistory_minutes = 1.5\n", '"monitor.history_minutes" must be a whole'),
        ('[monitor]\ntheme = ""\n', '"monitor.theme" must be a non-empty string'),
        ("[connection]\nstatement_timeout_ms = 0\n", '"connection.statement_timeout_ms"'),
        ("monitor = 3\n", '"monitor" must be a table'),
        ("[thresholds]\nxid_age = 5\n", '"thresholds.xid_age" must be a table'),
        ("[thresholds]\ntps_drop_pct = { warn = -1 }\n", '"thresholds.tps_drop_pct.warn"'),
        ("[thresholds]\nconnections_pct = { warn = 90 }\n", "must not be below warn"),
        ("[thresholds]\ncache_hit_pct = { crit = 99 }\n", "must not be above warn"),
    ],
)
def test_wrong_types_and_values_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    file = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        load_config(file, env={})
    line = text.count("\n")  # the offending key is on the last line
    assert str(info.value).startswith(f"config file {file}, line {line}: ")
    assert info.value.line == line


def test_error_names_the_line_of_the_key(tmp_path: Path) -> None:
    file = write(
        tmp_path / "config.toml",
        "# pgtop\n\n[connection]\napplication_name = 'ops'\n\n[monitor]\nrefresh = 100\n",
    )
    with pytest.raises(ConfigError) as info:
        load_config(file, env={})
    assert str(info.value) == (
        f'config file {file}, line 7: "monitor.refresh" must be a number between 0.5 and 60,'
        " got 100"
    )
    assert (info.value.path, info.value.line, info.value.key) == (file, 7, "monitor.refresh")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("monitor.refresh = 2\nmonitor.theme = 3\n", 2, '"monitor.theme" must be a non-empty'),
        ("[thresholds.xid_age]\nwarn = 1\n\ncrit = inf\n", 4, "must be a finite number >= 0"),
        ("[thresholds.xid_age]\nwarn = 5\ncrit = 1\n", 1, "crit (1) must not be below warn (5)"),
        ('[monitor]\n"theme" = "  "\n', 2, '"monitor.theme" must be a non-empty string, got "  "'),
        ("[snapshot]\nduration_s = 0\n", 2, "must be a whole number between 1 and 86400, got 0"),
    ],
)
def test_line_found_in_other_spellings(tmp_path: Path, text: str, line: int, needle: str) -> None:
    file = write(tmp_path / "config.toml", text)
    with pytest.raises(ConfigError, match=re.escape(needle)) as info:
        load_config(file, env={})
    assert info.value.line == line
    assert str(info.value).startswith(f"config file {file}, line {line}: ")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"PGTOP_REFRESH": "100"},
            'environment variable PGTOP_REFRESH: "monitor.refresh" must be a number between 0.5'
            ' and 60, got "100"',
        ),
        (
            {"PGTOP_STATEMENT_TIMEOUT_MS": "soon"},
            "environment variable PGTOP_STATEMENT_TIMEOUT_MS:"
            ' "connection.statement_timeout_ms" must be a whole number between 1 and 3600000,'
            ' got "soon"',
        ),
        (
            {"PGTOP_READ_ONLY": "maybe"},
            'environment variable PGTOP_READ_ONLY: "monitor.read_only" must be true or false,'
            ' got "maybe"',
        ),
    ],
)
def test_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env=env)
    assert str(info.value) == message
    assert info.value.path is None
    assert info.value.line is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("on", True), ("OFF", False), ("1", True), ("False", False)]
)
def test_env_booleans(raw: str, expected: bool) -> None:
    assert load_config(env={"PGTOP_READ_ONLY": raw}).monitor.read_only is expected


def test_cli_threshold_table_merges_and_obeys_the_same_rules() -> None:
    config = load_config(env={}, overrides={"thresholds.cache_hit_pct": {"crit": 80}})
    assert config.thresholds.cache_hit_pct == Threshold(95, 80, higher_is_worse=False)
    assert config.origin("thresholds.cache_hit_pct") is Source.CLI
    with pytest.raises(ConfigError) as info:
        load_config(env={}, overrides={"thresholds.xid_age": {"warn": 2e9}})
    assert str(info.value) == (
        'command line: "thresholds.xid_age" crit (1e+09) must not be below warn (2e+09)'
    )


def test_threshold_direction_is_checked_on_construction() -> None:
    with pytest.raises(ValueError, match="must not be below warn"):
        Threshold(10, 5)
    with pytest.raises(ValueError, match="must not be above warn"):
        Threshold(90, 95, higher_is_worse=False)
    assert Threshold(5, 5).level(5) == 2


def test_bad_env_and_unknown_override() -> None:
    with pytest.raises(ConfigError, match="PGTOP_READ_ONLY.*true or false"):
        load_config(env={"PGTOP_READ_ONLY": "maybe"})
    with pytest.raises(ConfigError, match='command line: unknown key "monitor.colour"'):
        load_config(env={}, overrides={"monitor.colour": "x"})


def test_threshold_levels() -> None:
    higher = Threshold(70, 85)
    assert [higher.level(v) for v in (10, 70, 84, 85, 100)] == [0, 1, 1, 2, 2]
    lower = Threshold(95, 90, higher_is_worse=False)
    assert [lower.level(v) for v in (99.5, 95, 92, 90, 10)] == [0, 1, 1, 2, 2]


def test_every_field_documented_and_default_config_renders_the_defaults(tmp_path: Path) -> None:
    text = render_default_config()
    for section in ("monitor", "connection", "thresholds", "snapshot"):
        for f in dataclasses.fields(getattr(Config(), section)):
            assert f.metadata["doc"], f"{section}.{f.name} has no documentation"
            assert f"# {f.name} = " in text
    # The template is valid TOML once uncommented, and spells out exactly the defaults.
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.MULTILINE)
    file = write(tmp_path / "full.toml", uncommented)
    assert load_config(file, env={}) == Config()


# --------------------------------------------------------------------------------------------------
# state.toml


def test_state_round_trip_creates_dirs_atomically(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.toml"
    assert load_state(path) == UiState()  # missing file: empty state
    save_state(UiState(theme="pgtop-light"), path)
    assert load_state(path) == UiState(theme="pgtop-light")
    save_state(UiState(theme="pgtop-high-contrast"), path)
    assert load_state(path).theme == "pgtop-high-contrast"
    assert sorted(p.name for p in path.parent.iterdir()) == ["state.toml"]  # no temp file left
    save_state(UiState(theme=None), path)
    assert load_state(path) == UiState()


def test_state_defaults_to_user_config_dir(isolated_config_home: Path) -> None:
    save_state(UiState(theme="pgtop-dark"))
    assert (isolated_config_home / "state.toml").is_file()
    assert load_state() == UiState(theme="pgtop-dark")


def test_state_keeps_keys_it_does_not_know(tmp_path: Path) -> None:
    path = write(tmp_path / "state.toml", 'future = "kept"\ntheme = "pgtop-dark"\n')
    save_state(UiState(theme="pgtop-light"), path)
    assert 'future = "kept"' in path.read_text(encoding="utf-8")
    assert load_state(path).theme == "pgtop-light"


def test_corrupt_state_is_reported_and_never_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path / "state.toml", 'theme = "pgtop-dark"\ntheme =\n')
    before = path.read_bytes()
    with pytest.raises(ConfigError, match=re.escape(f"state file {path}, line 2: invalid TOML")):
        load_state(path)
    with pytest.raises(ConfigError, match="not overwritten") as info:
        save_state(UiState(theme="pgtop-light"), path)
    assert "line 2" in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.toml"]


def test_state_with_wrong_type_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "state.toml", "theme = 3\n")
    with pytest.raises(ConfigError, match=re.escape(f'state file {path}, line 1: "theme" must')):
        load_state(path)


def test_effective_theme_precedence(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", '[monitor]\ntheme = "from-file"\n')
    chosen = UiState(theme="from-state")
    assert effective_theme(load_config(env={}), UiState()) == "pgtop-dark"
    assert effective_theme(load_config(file, env={}), UiState()) == "from-file"
    assert effective_theme(load_config(file, env={}), chosen) == "from-state"
    from_env = load_config(file, env={"PGTOP_THEME": "from-env"})
    assert effective_theme(from_env, chosen) == "from-env"
    from_cli = load_config(file, env={}, overrides={"monitor.theme": "from-cli"})
    assert effective_theme(from_cli, chosen) == "from-cli"
