"""pgtop.themes: packaged and user theme files, validation, and that a wheel ships them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from textual.color import Color

from pgtop.themes import (
    COLOUR_KEYS,
    ThemeSpec,
    base_stylesheet_path,
    load_theme_specs,
    packaged_theme_dir,
    resolve_theme_name,
    theme_dirs,
    user_theme_dir,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGED = {"pgtop-dark", "pgtop-light", "pgtop-high-contrast"}


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user config dir (platformdirs honours XDG_CONFIG_HOME)."""
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_theme_dirs_packaged_first_then_user(config_home: Path) -> None:
    dirs = theme_dirs()
    assert dirs == [packaged_theme_dir(), config_home / "pgtop" / "themes"]
    assert user_theme_dir() == dirs[1]
    assert (dirs[0] / "dark.toml").is_file()
    assert base_stylesheet_path() == dirs[0] / "pgtop.tcss"
    assert base_stylesheet_path().is_file()


def test_packaged_themes_load_without_errors() -> None:
    specs, errors = load_theme_specs()
    assert errors == []
    assert set(specs) == PACKAGED
    assert specs["pgtop-dark"].dark is True
    assert specs["pgtop-light"].dark is False
    contrast = specs["pgtop-high-contrast"]
    assert (contrast.background, contrast.foreground) == ("#000000", "#FFFFFF")
    for spec in specs.values():
        for key in COLOUR_KEYS:  # the packaged themes spell out every colour
            colour = getattr(spec, key)
            assert colour is not None, f"{spec.name}.{key}"
            Color.parse(colour)  # what pgtop.ui will do with it


def test_light_theme_is_dark_text_on_light_background() -> None:
    light = load_theme_specs([packaged_theme_dir()])[0]["pgtop-light"]
    assert light.background is not None
    assert light.foreground is not None
    background, foreground = Color.parse(light.background), Color.parse(light.foreground)
    assert background.brightness > 0.9
    assert foreground.brightness < 0.2


def test_user_themes_override_and_extend(config_home: Path) -> None:
    user = config_home / "pgtop" / "themes"
    # Same file name as a packaged theme: the packaged file is not read at all.
    write(user / "dark.toml", 'name = "pgtop-dark"\nprimary = "#112233"\n')
    # Another file name, same theme name: later folder wins.
    write(user / "my-light.toml", 'name = "pgtop-light"\ndark = false\nprimary = "#abc"\n')
    # A new theme, with variables.
    write(
        user / "solar.toml",
        'name = "solar"\nprimary = "#B58900"\nbackground = "#002B36"\n'
        '[variables]\n"footer-key-foreground" = "#B58900"\n',
    )
    specs, errors = load_theme_specs()
    assert errors == []
    assert set(specs) == PACKAGED | {"solar"}
    assert specs["pgtop-dark"].primary == "#112233"
    assert specs["pgtop-dark"].source == user / "dark.toml"
    assert specs["pgtop-light"].primary == "#abc"
    assert specs["solar"] == ThemeSpec(
        name="solar",
        primary="#B58900",
        background="#002B36",
        variables={"footer-key-foreground": "#B58900"},
        source=user / "solar.toml",
    )


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            'name = "bad"\nprimary = "#12345"\n',
            'line 2: "primary" must be a colour like "#RRGGBB", got "#12345"',
        ),
        ('name = "bad"\nprimary = "#123"\nerror = "red"\n', 'line 3: "error" must be a colour'),
        ('name = "bad"\nbackground = "#000"\n', ': "primary" is required'),
        ('primary = "#123"\n', ': "name" is required'),
        ('name = "a b"\nprimary = "#123"\n', 'line 1: "name" must be a short name of letters'),
        (
            'name = "bad"\nprimary = "#123"\nprimery = "#123"\n',
            'line 3: unknown key "primery" (did you mean "primary"?)',
        ),
        ('name = "bad"\nprimary = "#123"\ndark = "yes"\n', '"dark" must be true or false'),
        ('name = "bad"\nprimary = "#123"\nvariables = 1\n', '"variables" must be a table'),
        (
            'name = "bad"\nprimary = "#123"\n[variables]\nFooter = "#fff"\n',
            'line 3: "variables" must be a table of "lower-case-words" = "text"',
        ),
        ('name = "bad"\nprimary = "#123"\n[variables]\nfooter = 1\n', '"variables" must be'),
        ('name = "bad"\n\nprimary = #123\n', "line 3: invalid TOML"),
    ],
)
def test_bad_theme_file_is_an_error_line_not_an_exception(
    tmp_path: Path, text: str, needle: str
) -> None:
    folder = tmp_path / "themes"
    bad = write(folder / "bad.toml", text)
    write(folder / "good.toml", 'name = "good"\nprimary = "#00ff00"\n')
    specs, errors = load_theme_specs([packaged_theme_dir(), folder])
    assert set(specs) == PACKAGED | {"good"}
    assert len(errors) == 1
    assert errors[0].startswith(f"theme file {bad}")
    assert needle in errors[0]
    assert "\n" not in errors[0]


def test_duplicate_name_in_one_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "themes"
    write(folder / "a.toml", 'name = "twin"\nprimary = "#111111"\n')
    write(folder / "b.toml", 'name = "twin"\nprimary = "#222222"\n')
    specs, errors = load_theme_specs([folder])
    assert specs["twin"].primary == "#111111"
    assert errors == [
        f'theme file {folder / "b.toml"}: theme "twin" is already defined in {folder / "a.toml"}'
    ]


def test_missing_folders_are_fine(tmp_path: Path) -> None:
    assert load_theme_specs([tmp_path / "nope"]) == ({}, [])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("dark", "pgtop-dark"),
        ("light", "pgtop-light"),
        ("high-contrast", "pgtop-high-contrast"),
        ("pgtop-light", "pgtop-light"),
        ("Dark", "pgtop-dark"),
        ("solar", "solar"),
        ("nord", None),
    ],
)
def test_resolve_theme_name(name: str, expected: str | None) -> None:
    assert resolve_theme_name(name, [*PACKAGED, "solar"]) == expected


def test_exact_name_wins_over_short_form() -> None:
    assert resolve_theme_name("dark", ["dark", "pgtop-dark"]) == "dark"


def test_wheel_ships_the_themes_and_an_installed_copy_finds_them(tmp_path: Path) -> None:
    """Build a real wheel, install it (not editable) into a fresh venv, ask it for its themes."""
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(dist),
            str(PROJECT_ROOT),
        ],
        check=True,
        timeout=180,
    )
    (wheel,) = dist.glob("pgtop-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    for file in ("dark.toml", "light.toml", "high-contrast.toml", "pgtop.tcss"):
        assert f"pgtop/themes/{file}" in names
    assert "pgtop/themes.py" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # pgtop.themes needs platformdirs and msgspec, and tomli-w through pgtop.config; install
    # them and the wheel with this venv's pip.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            str(wheel),
            "platformdirs",
            "msgspec",
            "tomli-w",
        ],
        check=True,
        timeout=180,
    )
    probe = (
        "import json, pgtop, pgtop.themes as t\n"
        "specs, errors = t.load_theme_specs()\n"
        "print(json.dumps({'package': pgtop.__file__, 'dirs': [str(d) for d in t.theme_dirs()],"
        " 'names': sorted(specs), 'errors': errors,"
        " 'tcss': t.base_stylesheet_path().is_file()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    result = subprocess.run(
        [str(python), "-I", "-c", probe],
        cwd=tmp_path,  # not the project: the source tree must not be importable
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    found = json.loads(result.stdout)
    assert Path(found["package"]).is_relative_to(venv)
    assert Path(found["dirs"][0]).is_relative_to(venv)
    assert Path(found["dirs"][0]).parts[-2:] == ("pgtop", "themes")
    assert found["names"] == sorted(PACKAGED)
    assert found["errors"] == []
    assert found["tcss"] is True
