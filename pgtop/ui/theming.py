"""Theme files (pgtop.themes.ThemeSpec) -> textual Themes, every colour checked by Color.parse.

Failures are collected (one line each) for the App to show once; a theme that fails is skipped and
the App falls back to a built-in.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.color import Color, ColorParseError
from textual.theme import Theme

from pgtop.themes import COLOUR_KEYS, ThemeSpec

__all__ = ["build_themes", "spec_to_theme"]


def spec_to_theme(spec: ThemeSpec) -> Theme:
    """Raises ValueError naming the theme, file and colour that does not parse."""
    where = f"theme {spec.name}" + (f" ({spec.source})" if spec.source else "")
    colours: dict[str, str | None] = {}
    for key in COLOUR_KEYS:
        value = getattr(spec, key)
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError as exc:
                raise ValueError(f"{where}: {key} {value!r} is not a colour") from exc
        colours[key] = value
    for name, value in spec.variables.items():
        if value.startswith("#"):
            try:
                Color.parse(value.split()[0])
            except ColorParseError as exc:
                raise ValueError(f"{where}: variable {name} {value!r} is not a colour") from exc
    return Theme(
        name=spec.name,
        primary=spec.primary,
        secondary=colours["secondary"],
        accent=colours["accent"],
        foreground=colours["foreground"],
        background=colours["background"],
        surface=colours["surface"],
        panel=colours["panel"],
        success=colours["success"],
        warning=colours["warning"],
        error=colours["error"],
        dark=spec.dark,
        variables=dict(spec.variables),
    )


def build_themes(specs: Mapping[str, ThemeSpec]) -> tuple[dict[str, Theme], list[str]]:
    themes: dict[str, Theme] = {}
    errors: list[str] = []
    for name, spec in specs.items():
        try:
            themes[name] = spec_to_theme(spec)
        except ValueError as exc:
            errors.append(str(exc))
    return themes, errors
