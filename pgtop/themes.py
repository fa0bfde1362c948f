"""Theme files: where they live, reading and validating them. No textual import here.

A theme is a TOML file (``themes/*.toml``)::

    name = "pgtop-dark"      # required; what --theme and the command palette show
    dark = true              # optional, default true
    primary = "#4C8DD6"      # required
    secondary = "#..."       # optional, like every colour below: textual derives what is missing
    accent = ... foreground = ... background = ... surface = ... panel = ...
    success = ... warning = ... error = ...

    [variables]              # optional textual design variables, e.g.
    "block-cursor-foreground" = "#000000"

Colours are checked here with a simple pattern (#RGB, #RRGGBB, #RRGGBBAA); ``pgtop.ui`` turns a
:class:`ThemeSpec` into ``textual.theme.Theme`` (whose ``Color.parse`` has the last word).

Files are read from :func:`theme_dirs`: the packaged folder, then the user's
``<config dir>/themes``. A user file overrides a packaged file of the same file name, and a theme
read later overrides an earlier one of the same theme name. A broken file never stops the app: it
becomes one line in the error list :func:`load_theme_specs` returns.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import platformdirs

__all__ = [
    "COLOUR_KEYS",
    "DEFAULT_THEME",
    "ThemeSpec",
    "base_stylesheet_path",
    "load_theme_specs",
    "packaged_theme_dir",
    "resolve_theme_name",
    "theme_dirs",
    "user_theme_dir",
]

DEFAULT_THEME: Final = "pgtop-dark"
"""Used when the configured theme is unknown (the UI falls back to a textual built-in after)."""

THEME_PREFIX: Final = "pgtop-"
"""``--theme dark`` means ``pgtop-dark``."""

COLOUR_KEYS: Final = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
)
"""The colour fields of a theme file, in textual ``Theme`` order of importance."""

_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_VARIABLE = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True, slots=True)
class ThemeSpec:
    """A validated theme file; the fields map one to one onto ``textual.theme.Theme``."""

    name: str
    """Theme name, e.g. ``pgtop-dark``."""
    primary: str
    """Main accent colour (``#RRGGBB``); the only colour that must be given."""
    dark: bool = True
    """True for a dark background (textual derives shades accordingly)."""
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    success: str | None = None
    warning: str | None = None
    error: str | None = None
    variables: dict[str, str] = field(default_factory=dict, hash=False)
    """Extra textual design variables (``"footer-key-foreground" = "#..."``)."""
    source: Path | None = field(default=None, compare=False)
    """The file it was read from (for messages)."""


# --------------------------------------------------------------------------------------------------
# Locations


def packaged_theme_dir() -> Path:
    """Themes shipped with pgtop.

    In an installed wheel they are ``pgtop/themes`` (pyproject force-includes the top-level
    ``themes/``); in a source or editable checkout it is the top-level ``themes/`` beside the
    package.
    """
    package = Path(__file__).resolve().parent
    installed = package / "themes"
    if installed.is_dir():
        return installed
    return package.parent / "themes"


def user_theme_dir() -> Path:
    """The user's own themes: ``<user config dir>/pgtop/themes`` (may not exist)."""
    return platformdirs.user_config_path("pgtop") / "themes"


def theme_dirs() -> list[Path]:
    """Folders searched for ``*.toml`` themes, lowest precedence first (they may not exist)."""
    return [packaged_theme_dir(), user_theme_dir()]


def base_stylesheet_path() -> Path:
    """The base Textual stylesheet, ``themes/pgtop.tcss``."""
    return packaged_theme_dir() / "pgtop.tcss"


# --------------------------------------------------------------------------------------------------
# Reading

_AT = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")


class _ThemeFileError(Exception):
    pass


def _parse(path: Path) -> ThemeSpec:
    where = f"theme file {path}"
    try:
        doc = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise _ThemeFileError(f"{where}: cannot read ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise _ThemeFileError(f"{where}: not valid UTF-8") from exc
    except tomllib.TOMLDecodeError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "syntax error"
        if m := _AT.search(message):
            where += f", line {m.group(1)}"
            message = message[: m.start()]
        raise _ThemeFileError(f"{where}: invalid TOML ({message})") from exc

    def bad(message: str) -> _ThemeFileError:
        return _ThemeFileError(f"{where}: {message}")

    known = {"name", "dark", "variables", *COLOUR_KEYS}
    for key in doc:
        if key not in known:
            raise bad(f'unknown key "{key}" (known: {", ".join(sorted(known))})')

    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad('"name" must be a short name of letters, digits, "-", "_" or "."')
    dark = doc.get("dark", True)
    if not isinstance(dark, bool):
        raise bad('"dark" must be true or false')

    colours: dict[str, str | None] = {}
    for key in COLOUR_KEYS:
        value = doc.get(key)
        if value is None:
            if key == "primary":
                raise bad('"primary" is required')
            colours[key] = None
        elif not isinstance(value, str) or not _COLOUR.match(value):
            raise bad(f'"{key}" is not a colour like "#RRGGBB": {value!r}')
        else:
            colours[key] = value

    raw_vars: Any = doc.get("variables", {})
    if not isinstance(raw_vars, dict):
        raise bad('"variables" must be a table')
    variables: dict[str, str] = {}
    for key, value in raw_vars.items():
        if not _VARIABLE.match(key):
            raise bad(f'variable name "{key}" must be lower-case words joined by "-"')
        if not isinstance(value, str):
            raise bad(f'variable "{key}" must be a string, got {value!r}')
        variables[key] = value

    return ThemeSpec(
        name=name,
        primary=doc["primary"],
        dark=dark,
        secondary=colours["secondary"],
        accent=colours["accent"],
        foreground=colours["foreground"],
        background=colours["background"],
        surface=colours["surface"],
        panel=colours["panel"],
        success=colours["success"],
        warning=colours["warning"],
        error=colours["error"],
        variables=variables,
        source=path,
    )


def load_theme_specs(
    dirs: Sequence[Path] | None = None,
) -> tuple[dict[str, ThemeSpec], list[str]]:
    """Read and validate every ``*.toml`` in ``dirs`` (default :func:`theme_dirs`).

    Returns the themes by name and one line per file that failed. Never raises for a bad or
    unreadable file or folder.
    """
    folders = theme_dirs() if dirs is None else list(dirs)
    files: dict[str, Path] = {}  # file name -> path; later folders shadow earlier ones
    errors: list[str] = []
    for folder in folders:
        try:
            found = sorted(p for p in folder.glob("*.toml") if p.is_file())
        except OSError as exc:
            errors.append(f"theme folder {folder}: cannot read ({exc.strerror or exc})")
            continue
        for path in found:
            files.pop(path.name, None)  # re-insert so the order follows precedence
            files[path.name] = path

    specs: dict[str, ThemeSpec] = {}
    for path in files.values():
        try:
            spec = _parse(path)
        except _ThemeFileError as exc:
            errors.append(str(exc))
            continue
        previous = specs.get(spec.name)
        if previous is not None and previous.source and previous.source.parent == path.parent:
            errors.append(
                f'theme file {path}: theme "{spec.name}" is already defined in {previous.source}'
            )
            continue
        specs[spec.name] = spec
    return specs, errors


def resolve_theme_name(name: str, available: Iterable[str]) -> str | None:
    """The available theme ``name`` refers to: exact, then ``pgtop-<name>``; case-insensitive.

    ``resolve_theme_name("dark", ...)`` -> ``"pgtop-dark"``; None if nothing matches.
    """
    names = list(available)
    wanted = name.strip()
    for candidate in (wanted, THEME_PREFIX + wanted):
        if candidate in names:
            return candidate
    by_lower = {n.lower(): n for n in names}
    for candidate in (wanted, THEME_PREFIX + wanted):
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None
