"""The health bar: one status per health metric (all sources merged, worst first) with a symbol
and a colour (the symbol alone carries the level under NO_COLOR), and small charts of TPS, active
connections, replication lag and cache hit ratio over the history window (hidden when narrow).

A chip is ``symbol label culprit``: ``✖ locks 4 1m35s pid 4201 lab-blocker``. The culprit (who
to act on, :attr:`pgtop.model.Status.culprit`) is cut to what the bar's width leaves, so a chip
never wraps and its symbol and culprit always share a line; chips that do not fit the bar's
height give way to ``▲ +3 more`` (the worst level among them), never silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal

from pgtop.history import History
from pgtop.model import Level, Sample, Status
from pgtop.text import one_line
from pgtop.ui.format import LEVEL_SYMBOL, Palette
from pgtop.ui.panes.replication import max_replay_lag
from pgtop.ui.widgets.charts import MetricChart
from pgtop.ui.widgets.line import Line
from pgtop.ui.widgets.paint import cells

__all__ = ["CULPRIT_MIN", "HealthBar", "merge_statuses", "statuses_text"]

NBSP = "\u00a0"
GAP = "  "
CULPRIT_MIN = 4
"""A culprit cut to fewer cells than this is left out (``p…`` names nobody)."""


def merge_statuses(statuses: Iterable[Status], main: str | None = None) -> list[Status]:
    """One status per (metric, source), worst first; within a level the main source first,
    then each other source's statuses together (they share one name in the bar); among OK
    statuses the informative ones (a culprit: a command in progress) first."""
    seen: dict[tuple[str, str], Status] = {}
    for status in statuses:
        key = (status.metric, status.source)
        if key not in seen or status.level > seen[key].level:
            seen[key] = status
    return sorted(
        seen.values(),
        key=lambda s: (
            -s.level,
            bool(s.source) and s.source != main,
            s.source,
            not s.culprit,
            s.metric,
        ),
    )


def short_names(sources: Iterable[str]) -> dict[str, str]:
    """``replica 10.0.0.7:5432`` is called ``replica`` while it is the only replica."""
    names = set(sources)
    kinds: dict[str, int] = {}
    for name in names:
        kind = name.split(" ", 1)[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        name: name.split(" ", 1)[0] if kinds[name.split(" ", 1)[0]] == 1 else name for name in names
    }


def _fit(text: str, width: int) -> str:
    """``text`` cut with "…" to at most ``width`` cells."""
    if cells(text) <= width:
        return text
    cut = text[: max(0, width - 1)]
    while cut and cells(cut) + 1 > width:
        cut = cut[:-1]
    return cut.rstrip() + "…" if width > 0 else ""


# one chip: (the source's name before it or "", its text, its level, its source's name or "")
_Chip = tuple[str, str, Level, str]


def _chips(statuses: list[Status], main: str | None, width: int | None) -> list[_Chip]:
    names = short_names(s.source for s in statuses if s.source and s.source != main)
    chips: list[_Chip] = []
    previous: str | None = None
    for status in statuses:
        source = status.source if status.source and status.source != main else None
        name = f"{one_line(names[source])}: " if source is not None else ""
        prefix = name if source != previous else ""
        previous = source
        body = f"{LEVEL_SYMBOL[status.level]} {one_line(status.label)}"
        culprit = one_line(status.culprit)
        if culprit and width is not None:
            room = width - cells(name) - cells(body) - 1  # the name may come at a line start
            culprit = _fit(culprit, room) if room >= CULPRIT_MIN else ""
        if culprit:
            body += f" {culprit}"
        # no-break spaces: a chip never wraps in its middle, the name sticks to its chip
        nb = NBSP
        chips.append(
            (prefix.replace(" ", nb), body.replace(" ", nb), status.level, name.replace(" ", nb))
        )
    return chips


def _lines(chips: list[_Chip], width: int, height: int) -> tuple[list[list[_Chip]], list[_Chip]]:
    """Chips packed into at most ``height`` lines of ``width`` cells, and those left over; a
    line that starts inside a run of another source's chips names that source again."""
    lines: list[list[_Chip]] = [[]]
    used = 0
    for i, chip in enumerate(chips):
        placed = chip
        size = cells(chip[0]) + cells(chip[1])
        if lines[-1] and used + len(GAP) + size > width:
            if len(lines) == height:
                return lines, chips[i:]
            lines.append([])
            used = 0
            if not chip[0] and chip[3]:
                placed = (chip[3], *chip[1:])
                size = cells(placed[0]) + cells(placed[1])
        used += (len(GAP) if lines[-1] else 0) + size
        lines[-1].append(placed)
    return lines, []


def _more(hidden: list[_Chip]) -> tuple[str, Level]:
    level = max(chip[2] for chip in hidden)
    return f"{LEVEL_SYMBOL[level]}{NBSP}+{len(hidden)}{NBSP}more", level


def statuses_text(
    statuses: list[Status],
    palette: Palette,
    *,
    main: str | None,
    width: int | None = None,
    height: int | None = None,
) -> Text:
    """``✖ xact 3m05s pid 4201 batch  replica: ▲ lag 12s from 10.0.0.7  ● conn 3%``: chips of a
    source other than the main one follow its name, given once per run of that source's chips.

    With the bar's ``width``, culprits are cut so that each chip fits one line; with its
    ``height`` too, the chips are laid out in lines here and those that do not fit are counted
    at the end of the last line (``▲ +3 more``)."""
    text = Text(end="")
    if not statuses:
        text.append("● health: waiting for data", style=palette.dim)
        return text
    chips = _chips(statuses, main, width)
    if width is None or height is None or width <= 0 or height <= 0:
        rows, hidden = [chips], list[_Chip]()
    else:
        rows, hidden = _lines(chips, width, height)
        if hidden:
            last = rows[-1]
            while last:
                marker, _ = _more(hidden)
                used = sum(cells(c[0]) + cells(c[1]) for c in last) + len(GAP) * len(last)
                if used + cells(marker) <= width:
                    break
                hidden.insert(0, last.pop())

    def style_of(level: Level) -> str:
        return palette.level(level) if level is not Level.OK else palette.ok

    for y, row in enumerate(rows):
        if y:
            text.append("\n")
        for i, (prefix, body, level, _) in enumerate(row):
            if i:
                text.append(GAP)
            text.append(prefix)
            text.append(body, style=style_of(level))
    if hidden:
        marker, level = _more(hidden)
        text.append(GAP if rows[-1] else "")
        text.append(marker, style=style_of(level))
    return text


def _tps(s: Sample) -> float | None:
    return s.stats.tps if s.stats else None


def _active(s: Sample) -> float | None:
    return float(s.stats.active) if s.stats else None


def _hit(s: Sample) -> float | None:
    ratio = s.stats.cache_hit_ratio if s.stats else None
    return None if ratio is None else 100.0 * ratio


class _Statuses(Line):
    """The chips: laid out again for the new size when the bar is resized."""

    def __init__(self, on_resize: Callable[[], None]) -> None:
        super().__init__(fixed_height=True, id="statuses")
        self._on_resize = on_resize

    def on_resize(self, event: events.Resize) -> None:
        del event
        self._on_resize()


WIDE_AT = 160
"""From this many columns the statuses take 2/5 of the bar instead of 1/4 (two alarm chips a
line at 200 columns, the charts still 30 columns each); the stylesheet's split below."""


class HealthBar(Horizontal):
    def __init__(self) -> None:
        super().__init__(id="health")
        self.statuses: Line = _Statuses(self._redraw)
        self.charts = {
            "tps": MetricChart("TPS", decimals=0, id="chart-tps"),
            "active": MetricChart("active", colour_var="secondary", decimals=0, id="chart-active"),
            "lag": MetricChart("lag", unit="s", colour_var="warning", decimals=2, id="chart-lag"),
            "hit": MetricChart("hit", unit="%", colour_var="success", id="chart-hit"),
        }
        self._last: tuple[tuple[str, str, int, str, str], ...] | None = None
        self._palette: Palette | None = None
        self._shown: tuple[list[Status], str | None] = ([], None)
        self._laid_out_for: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield self.statuses
        with Horizontal(id="charts"):
            yield from self.charts.values()

    def show(
        self, statuses: list[Status], palette: Palette, history: History, main: str | None
    ) -> None:
        key = tuple((s.metric, s.source, int(s.level), s.label, s.culprit) for s in statuses) + (
            ("main", main or "", 0, "", ""),
        )
        if key != self._last or palette != self._palette:
            self._last, self._palette = key, palette
            self._shown = (statuses, main)
            self._laid_out_for = None
            self._redraw()
        if main is None:
            return
        for name, fn in (
            ("tps", _tps),
            ("active", _active),
            ("lag", max_replay_lag),
            ("hit", _hit),
        ):
            self.charts[name].follow(history, main, fn)

    def on_resize(self, event: events.Resize) -> None:
        wide = event.size.width >= WIDE_AT
        if wide != (self.statuses.styles.inline.width is not None):
            self.statuses.styles.width = "2fr" if wide else None

    def _redraw(self) -> None:
        """The chips for the bar's current size (unknown before the first layout: then they
        wrap as the line wraps, and are laid out again on the resize that follows)."""
        if self._palette is None:
            return
        size = self.statuses.size
        known = (size.width, size.height) if size.width > 0 and size.height > 0 else None
        if known is not None and known == self._laid_out_for:
            return
        self._laid_out_for = known
        statuses, main = self._shown
        width, height = known if known is not None else (None, None)
        text = statuses_text(statuses, self._palette, main=main, width=width, height=height)
        self.statuses.show(text)
