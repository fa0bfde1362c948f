"""Line and the painter: text drawn directly, repainted only on change, laid out only when its
height may change."""

from __future__ import annotations

import random

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.strip import Strip

from pgtop.ui.format import cell, num
from pgtop.ui.widgets.line import Line, wrap_at_spaces
from pgtop.ui.widgets.paint import Painter, cells, changed_range, differing_span, merged

BASE = Style(color="white", bgcolor="black")


def plain(runs: list[tuple[str, Style]]) -> str:
    return "".join(text for text, _ in runs)


def test_painter_fits_pads_and_cuts() -> None:
    painter = Painter()
    assert plain(painter.runs(Text("abc"), 6, BASE)) == "abc   "
    assert plain(painter.runs(num("12"), 6, BASE)) == "    12"
    assert plain(painter.runs(Text("abc"), 7, BASE, "center")) == "  abc  "
    assert plain(painter.runs(Text("abcdefgh"), 5, BASE)) == "abcd…"
    wide = plain(painter.runs(Text("表表表表"), 5, BASE))  # two cells each
    assert wide == "表表…"
    assert plain(painter.runs(Text("x"), 0, BASE)) == ""


def test_a_long_text_is_cut_as_from_the_whole() -> None:
    """The cut reads only a head that fills the width (a 64K statement text is not split into
    graphemes whole): the same line as Rich's cut of the whole text, with combining, joining
    and wide characters at the edge."""
    rng = random.Random(5)
    alphabet = ["a", "b", " ", "表", "e\u0301", "\u0301", "…", "x\u200d", "\ufe0f"]
    for _ in range(500):
        width = rng.randint(1, 12)
        body = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        if cells(body) <= width:
            continue
        for text in (Text(body), Text(body, style="bold")):
            fitted = plain(Painter().runs(text, width, BASE))
            if text.style:
                whole = text.copy()
                whole.truncate(width, overflow="ellipsis", pad=True)
                expected = whole.plain
            else:
                head = set_cell_size(body, width - 1).rstrip(" ")
                expected = head + "…" + " " * (width - 1 - cells(head))
            assert fitted == expected, (body, width)
    long = Text("SELECT $1 AS mb /* " + "x" * 65500 + " …")
    assert plain(Painter().runs(long, 20, BASE)) == "SELECT $1 AS mb /*… "  # as Rich cuts it


def test_painter_keeps_styles_and_merges_equal_runs() -> None:
    painter = Painter()
    styled = cell("active", "bold red")
    runs = painter.runs(styled, 8, BASE)
    assert runs[0] == ("active", BASE + Style.parse("bold red"))
    assert runs[1] == ("  ", BASE)
    mixed = Text.assemble(("├─ ", "dim"), ("4201", "bold"))
    runs = painter.runs(mixed, 9, BASE)
    assert plain(runs) == "├─ 4201  "
    assert {style for _, style in runs} >= {BASE + Style.parse("dim"), BASE + Style(bold=True)}
    segments = merged([("a", BASE), ("b", BASE), ("c", BASE + Style(bold=True)), ("", BASE)])
    assert [s.text for s in segments] == ["ab", "c"]


def test_a_cut_cell_keeps_its_style() -> None:
    """A styled cell too wide for its column ("Lock:transa…" in the warning colour) keeps its
    style when cut; so do overlapping spans under a text style."""
    painter = Painter()
    warn = BASE + Style.parse("bold red")
    assert painter.runs(cell("Lock:transactionid", "bold red"), 12, BASE) == [
        ("Lock:transa…", warn)
    ]
    nested = Text("abcdef", style="bold")
    nested.stylize("red", 0, 4)
    nested.stylize("underline", 2, 6)
    runs = painter.runs(nested, 6, BASE)
    assert all(style.bold for _, style in runs)
    assert plain(runs) == "abcdef"


def test_markup_and_escapes_stay_literal() -> None:
    painter = Painter()
    hostile = cell("[bold red]x\x1b[2J")
    assert plain(painter.runs(hostile, 20, BASE)).rstrip() == "[bold red]x\\x1b[2J"


def test_wrap_breaks_only_at_ascii_spaces() -> None:
    chips = Text("●\u00a0hit\u00a099.2%  ▲\u00a0xact\u00a03m05s  ●\u00a0conn\u00a014%")
    lines = [line.plain for line in wrap_at_spaces(chips, 16)]
    assert lines == ["●\u00a0hit\u00a099.2%", "▲\u00a0xact\u00a03m05s", "●\u00a0conn\u00a014%"]
    assert [t.plain for t in wrap_at_spaces(Text("short"), 16)] == ["short"]
    long_word = wrap_at_spaces(Text("a " + "x" * 30), 10)
    assert [t.plain for t in long_word] == ["a", "x" * 30]
    # a chip wider than the line breaks at its own no-break spaces, not mid-word
    chip = Text("●\u00a0replica\u00a0127.0.0.1:39371:\u00a0replay\u00a0lag\u00a00.00s")
    assert [t.plain for t in wrap_at_spaces(chip, 28)] == [
        "●\u00a0replica\u00a0127.0.0.1:39371:",
        "replay\u00a0lag\u00a00.00s",
    ]


class Recorder(Line):
    """A Line that remembers the refreshes it asked for."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.asked: list[bool] = []

    def refresh(self, *args: object, layout: bool = False, **kwargs: object) -> Recorder:
        self.asked.append(layout)
        super().refresh(*args, layout=layout, **kwargs)  # type: ignore[arg-type]
        return self


class LinesApp(App[None]):
    CSS = "#fixed { height: 1; text-wrap: nowrap; } #auto { height: auto; }"

    def __init__(self) -> None:
        super().__init__()
        self.fixed = Recorder(fixed_height=True, id="fixed")
        self.auto = Recorder(fixed_height=False, id="auto")

    def compose(self) -> ComposeResult:
        yield self.fixed
        yield self.auto


async def test_line_repaints_on_change_only_and_lays_out_only_when_height_changes() -> None:
    app = LinesApp()
    async with app.run_test(size=(30, 10)) as pilot:
        await pilot.pause()
        fixed, auto = app.fixed, app.auto
        fixed.asked.clear()
        auto.asked.clear()
        fixed.show(Text("a status line that is longer than thirty cells"))
        fixed.show(Text("a status line that is longer than thirty cells"))  # the same: nothing
        assert fixed.asked == [False]
        await pilot.pause()
        assert fixed.render_line(0).text.rstrip() == "a status line that is longer…"

        auto.show(Text("one"))
        auto.show(Text("two"))
        auto.show(Text("three\nlines\nnow"))
        auto.show(Text("still\nthree\nlines"))
        assert auto.asked == [False, False, True, False]
        await pilot.pause()
        assert auto.size.height == 3
        assert [auto.render_line(y).text.rstrip() for y in range(3)] == ["still", "three", "lines"]
        assert str(auto.render()) == "still\nthree\nlines"


def _cell_by_cell(old: Strip, new: Strip) -> tuple[int, int]:
    """changed_range the slow and obvious way."""
    a = [(ch, seg.style) for seg in old for ch in seg.text]
    b = [(ch, seg.style) for seg in new for ch in seg.text]
    diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    return (diffs[0], diffs[-1] + 1) if diffs else (0, 0)


def test_changed_range_equals_a_cell_by_cell_comparison() -> None:
    rng = random.Random(3)
    styles = [None, Style(bold=True), Style(color="red"), Style(color="red", bgcolor="blue")]

    def strip(chars: str) -> Strip:
        segments, i = [], 0
        while i < len(chars):
            size = rng.randint(1, 6)
            segments.append(Segment(chars[i : i + size], rng.choice(styles)))
            i += size
        return Strip(segments, len(chars))

    for _ in range(2000):
        width = rng.randint(1, 40)
        chars = "".join(rng.choice("ab ") for _ in range(width))
        changed = list(chars)
        for _ in range(rng.randint(0, 3)):
            changed[rng.randrange(width)] = rng.choice("abc ")
        old, new = strip(chars), strip("".join(changed))
        assert changed_range(old, new) == _cell_by_cell(old, new), (list(old), list(new))
    wide = Strip([Segment("表x")], 3)
    assert changed_range(wide, Strip([Segment("表y")], 3)) is None  # cells are not characters
    assert changed_range(Strip([Segment("ab")], 2), Strip([Segment("abc")], 3)) is None


def test_differing_span_finds_both_ends() -> None:
    rng = random.Random(5)
    for _ in range(2000):
        width = rng.randint(0, 50)
        a = [rng.choice("xy") for _ in range(width)]
        b = list(a)
        for _ in range(rng.randint(0, 3)):
            if width:
                b[rng.randrange(width)] = rng.choice("xyz")
        diffs = [i for i in range(width) if a[i] != b[i]]
        expected = (diffs[0], diffs[-1] + 1) if diffs else None
        start, stop = differing_span("".join(a), "".join(b))
        assert (start, stop) == expected if diffs else start == stop


def test_cells_counts_as_rich_does() -> None:
    """The fast width agrees with Rich's on every kind of text the screen gets: ASCII,
    ellipses, braille, wide CJK, combining marks, control pictures, joined emoji and keycaps
    (whose width depends on their neighbours)."""
    rng = random.Random(11)
    pieces = [
        "UPDATE t SET a = 1",
        " ",
        "…",
        "▲",
        "⣿⡇",
        "表",
        "e\u0301",
        "␛",
        "\u202e",
        "👩\u200d💻",
        "1\ufe0f\u20e3",
        "❤\ufe0f",
        "Ω",
        "x",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert cells(text) == cell_len(text), repr(text)
