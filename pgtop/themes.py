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

:class:`ThemeFile` is the schema msgspec checks a file against (``pgtop.config.validate``: one-line
errors naming the file, line and key). Colours are checked there with a pattern (#RGB, #RRGGBB,
#RRGGBBAA); ``pgtop.ui`` turns a :class:`ThemeSpec` into ``textual.theme.Theme`` (whose
``Color.parse`` has the last word).

Files are read from :func:`theme_dirs`: the packaged folder, then the user's
``<config dir>/themes``. A user file overrides a packaged file of the same file name, and a theme
read later overrides an earlier one of the same theme name. A broken file never stops the app: it
becomes one line in the error list :func:`load_theme_specs` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Final

import msgspec
import platformdirs
from msgspec import Meta

from pgtop.config import ConfigError, read_toml, validate

__all__ = [
    "COLOUR_KEYS",
    "DEFAULT_THEME",
    "ThemeFile",
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

_HEX = r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$"
Colour = Annotated[str, Meta(pattern=_HEX, description='a colour like "#RRGGBB"')]
_NAME_IS = 'a short name of letters, digits, "-", "_" or "."'
ThemeName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description=_NAME_IS)]
VariableName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9-]*$")]
Variables = Annotated[
    dict[VariableName, str], Meta(description='a table of "lower-case-words" = "text"')
]


class ThemeFile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a theme file may hold; the fields map one to one onto ``textual.theme.Theme``."""

    name: ThemeName
    """Theme name, e.g. ``pgtop-dark``."""
    primary: Colour
    """Main accent colour (``#RRGGBB``); the only colour that must be given."""
    dark: bool = True
    """True for a dark background (textual derives shades accordingly)."""
    secondary: Colour | None = None
    accent: Colour | None = None
    foreground: Colour | None = None
    background: Colour | None = None
    surface: Colour | None = None
    panel: Colour | None = None
    success: Colour | None = None
    warning: Colour | None = None
    error: Colour | None = None
    variables: Variables = {}
    """Extra textual design variables (``"footer-key-foreground" = "#..."``)."""


class ThemeSpec(ThemeFile, frozen=True, kw_only=True):
    """A validated theme file and where it was read from."""

    source: Path | None = None
    """The file it was read from (for messages)."""


COLOUR_KEYS: Final = tuple(
    key for key in ThemeFile.__struct_fields__ if key not in ("name", "dark", "variables")
)
"""The colour fields of a theme file, in textual ``Theme`` order of importance."""


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


def _parse(path: Path) -> ThemeSpec:
    doc, text = read_toml(path, "theme file")
    theme = validate(doc, ThemeFile, f"theme file {path}", path=path, text=text)
    return ThemeSpec(**msgspec.structs.asdict(theme), source=path)


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
        except FileNotFoundError:  # gone since the folder was listed
            continue
        except ConfigError as exc:
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
