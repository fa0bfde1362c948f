"""The header: who we watch (version, host:port/db, user, role, uptime), the refresh interval or
PAUSED, and a one-line banner per disconnected source and per connected source whose newest
tick brought no fresh data (no answer yet, or a failed tick).

While live, the identity line gives the newest sample's time to the minute and the uptime to
the minute: a line that changed on every tick cost an idle monitor a quarter of its CPU (a
repaint through the compositor each tick), and a stalled source is told by its banner, not by a
clock that stops. Paused, the time of the data on screen is given to the second."""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from pgtop import units
from pgtop.model import AnySample, Sample
from pgtop.text import one_line
from pgtop.ui.outages import Outage
from pgtop.ui.view import has_data, stall_note
from pgtop.ui.widgets.line import Line

__all__ = ["ServerHeader", "banner_text", "identity_text", "outage_text", "stall_banner_text"]


def _where(sample: AnySample) -> str:
    info = sample.info
    if info is None:
        return sample.source
    return f"{info.host}:{info.port}/{info.dbname}"


def identity_text(
    main: Sample | None,
    others: list[AnySample],
    *,
    targets: str,
    interval: float,
    paused: bool,
    read_only: bool,
) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(" pgtop ", style="bold reverse")
    text.append(" ")
    if paused:
        text.append("❚❚ PAUSED", style="bold reverse")
    else:
        text.append(f"⟳ {interval:g}s")
    if read_only:
        text.append(" read-only")
    text.append(" · ")
    if main is None or main.info is None:
        text.append(one_line(targets or "waiting for the first sample…"))
    else:
        info = main.info
        text.append(f"PostgreSQL {one_line(info.version)} ", style="bold")
        text.append(info.role.value, style="bold")
        text.append(f" {one_line(_where(main))} as {one_line(info.user)}")
        uptime = main.stats.uptime_s if main.stats else None
        if uptime is not None:
            text.append(f" · up {units.uptime(uptime)}")
        if paused:
            text.append(f" · data of {units.clock(main.taken_at)} UTC")
        else:
            text.append(f" · {units.clock(main.taken_at, seconds=False)} UTC")
    if others:
        names = []
        for other in others:
            role = other.info.role.value if other.info is not None else ""
            name = one_line(other.source)
            names.append(name if not role or role == name else f"{name} ({role})")
        text.append(" · + " + ", ".join(names))
    return text


def banner_text(sample: AnySample) -> Text:
    """``✖ primary disconnected since 12:03:04 (1m05s) · retry 3 · error`` — one line."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"✖ {one_line(sample.source)} disconnected", style="bold")
    since = sample.disconnected_since
    if since is not None:
        text.append(f" since {units.clock(since)} UTC")
        text.append(f" ({units.duration((sample.taken_at - since).total_seconds())})")
    text.append(f" · retry {sample.retries}")
    if sample.error:
        text.append(" · ")
        text.append(one_line(sample.error))
    text.append(" · showing the last data")
    return text


def stall_banner_text(sample: AnySample, last: AnySample | None) -> Text:
    """``◌ primary: no answer for 7 s · showing the last data`` — one line."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    text.append(f"◌ {one_line(sample.source)}: {one_line(sample.error or '')}", style="bold")
    if last is not None and has_data(last):
        text.append(" · showing the last data")
    return text


def outage_text(outage: Outage) -> Text:
    """``↻ primary back at 12:03:05 UTC after 1.4s away · server restarted at 12:03:04 UTC``."""
    text = Text(no_wrap=True, overflow="ellipsis", end="")
    where = one_line(outage.source)
    text.append(f"↻ {where} back at {units.clock(outage.back_at)} UTC", style="bold")
    text.append(f" after {units.duration(outage.lasted_s)} away")
    if outage.retries:
        text.append(f" ({outage.retries} {'retry' if outage.retries == 1 else 'retries'})")
    if outage.restarted_at is not None:
        text.append(f" · server restarted at {units.clock(outage.restarted_at)} UTC", style="bold")
    if outage.role_before is not None and outage.role_after is not None:
        text.append(
            f" · now {outage.role_after.value} (was {outage.role_before.value})", style="bold"
        )
    return text


class ServerHeader(Vertical):
    """Identity line, a banner per source in trouble and a notice per outage that ended in the
    last minute (both hidden while all is well)."""

    def __init__(self) -> None:
        super().__init__(id="header")
        self.identity = Line(fixed_height=True, id="identity")
        self.banner = Line(fixed_height=False, id="banner")
        self.banner.display = False
        self.notice = Line(fixed_height=False, id="outage-notice")
        self.notice.display = False

    def compose(self) -> ComposeResult:
        yield self.identity
        yield self.banner
        yield self.notice

    def show(
        self,
        latest: Mapping[str, AnySample],
        last_good: Mapping[str, AnySample],
        main: str | None,
        *,
        targets: str,
        interval: float,
        paused: bool,
        read_only: bool,
        outages: list[Outage] = [],  # noqa: B006 - never mutated
    ) -> None:
        main_sample = last_good.get(main) if main is not None else None
        others = [s for name, s in last_good.items() if name != main]
        self.identity.show(
            identity_text(
                main_sample if isinstance(main_sample, Sample) else None,
                others,
                targets=targets,
                interval=interval,
                paused=paused,
                read_only=read_only,
            )
        )
        lines = [
            banner_text(s) if not s.connected else stall_banner_text(s, last_good.get(name))
            for name, s in latest.items()
            if not s.connected or stall_note(s) is not None
        ]
        if lines:
            self.banner.show(Text("\n").join(lines))
        self.banner.display = bool(lines)
        if outages:
            self.notice.show(Text("\n").join(outage_text(o) for o in outages))
        self.notice.display = bool(outages)
