"""Neutralise untrusted server text (queries, names, PgBouncer fields) before showing it.

Anything a client can set (``application_name``, a query's text, a role or database name) may carry
terminal escapes, bidi overrides or markup. Renderers show it *literally*: control characters and
bidi controls become visible escapes (``\\x1b``, ``\\u202e``) so nothing is interpreted by the
terminal or hidden from the reader. Markup is not this module's business: the UI wraps the result in
``rich.text.Text`` (never a markup string); documents use :func:`md_cell`.

No textual or rich import here: baseline documents reuse it.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["md_cell", "one_line", "visible"]

_BIDI: Final = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
# C0 (minus the newline, handled per function), DEL, C1, bidi embeddings/overrides/isolates.
_UNSAFE: Final = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NEWLINES: Final = re.compile(r"\s*(?:\r\n|\n|\r)\s*")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control and bidi character as a visible escape; newlines kept.

    Used where the layout may span lines (the detail screen). ``\\r\\n`` becomes ``\\n``.
    """
    return _UNSAFE.sub(_escape, text.replace("\r\n", "\n").replace("\r", "\n"))


def one_line(text: str, limit: int | None = None) -> str:
    """``text`` on one line: line breaks (and the blanks around them) collapse to one space, tabs
    become a space, the rest as in :func:`visible`; cut to ``limit`` characters with "…"."""
    if text.isascii() and text.isprintable():  # the common case: nothing to replace
        out = text
    else:
        flat = _NEWLINES.sub(" ", text).replace("\t", " ")
        out = _UNSAFE.sub(_escape, flat)
    if limit is not None and len(out) > limit:
        return out[: max(0, limit - 1)] + "…"
    return out


_MD_SPECIAL: Final = re.compile(r"([\\|`*_\[\]<>#])")


def md_cell(text: str, limit: int | None = None) -> str:
    """``text`` safe for one Markdown table cell: one line, and ``|``, backticks and the other
    characters Markdown would interpret are backslash-escaped."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text, limit))
