"""pgtop.text: untrusted server text is shown literally and can never drive the terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pgtop.text import md_cell, one_line, visible


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain", "plain"),
        ("\x1b[2J", "\\x1b[2J"),
        ("bell\x07", "bell\\x07"),
        ("del\x7f", "del\\x7f"),
        ("csi\x9b31m", "csi\\x9b31m"),
        ("nel\x85", "nel\\x85"),
        ("rtl\u202eevil", "rtl\\u202eevil"),
        ("iso\u2066x\u2069", "iso\\u2066x\\u2069"),
        ("nul\x00", "nul\\x00"),
        ("[bold red]x", "[bold red]x"),
        ("emoji ✓ é", "emoji ✓ é"),
    ],
)
def test_one_line_escapes_controls_and_bidi(raw: str, shown: str) -> None:
    assert one_line(raw) == shown


def test_one_line_collapses_newlines_and_tabs() -> None:
    assert one_line("SELECT *\n  FROM t\r\n WHERE\ta = 1\r") == "SELECT * FROM t WHERE a = 1 "


def test_one_line_limit() -> None:
    assert one_line("abcdef", 4) == "abc…"
    assert one_line("abc", 4) == "abc"


def test_visible_keeps_newlines_but_escapes_the_rest() -> None:
    assert visible("a\r\nb\rc\n\x1b]0;t\x07") == "a\nb\nc\n\\x1b]0;t\\x07"


def test_visible_output_has_no_control_characters() -> None:
    everything = "".join(chr(c) for c in range(0x00, 0x2100))
    out = visible(everything)
    bad = [ch for ch in out if ch != "\n" and (ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F)]
    assert bad == []
    assert "\u202e" not in out


def test_md_cell_escapes_markdown() -> None:
    assert md_cell("a | b `c` *d*\nnext") == "a \\| b \\`c\\` \\*d\\* next"
    assert md_cell("\x1b") == "\\\\x1b"  # the visible escape's backslash, escaped


def test_text_module_does_not_import_textual() -> None:
    code = (
        "import sys, pgtop.text; assert 'textual' not in sys.modules and 'rich' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
