"""The Textual App: wiring only (bindings, screens, routing messages) — panes own their widgets.

``make_app`` is the composition root used by the CLI and by the tests. A worker runs
``feed.run(publish)``; ``publish`` posts :class:`SampleReady` (the feed keeps the one history),
which coalesces per source (a backed-up terminal renders only the newest).
"""

from __future__ import annotations

import functools
import gc
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

from rich.console import RenderableType
from textual import constants, on, work
from textual.app import WINDOWS, App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding, BindingType
from textual.logging import TextualHandler
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from pgtop import units
from pgtop.actions import Inspector, Runbook, Signal, Signaller
from pgtop.audit import ActionLog, Entry
from pgtop.baseline.live import LiveBaseline
from pgtop.config import Config, ConfigError, UiState, effective_theme, load_state, save_state
from pgtop.explaining import BackendTarget, Explainer, ExplainTarget, Explanation, StatementTarget
from pgtop.feed import Feed, show_pane
from pgtop.model import AnySample, Backend, Role, Sample, Statement
from pgtop.text import one_line
from pgtop.themes import DEFAULT_THEME, base_stylesheet_path, load_theme_specs, resolve_theme_name
from pgtop.ui.compositor import MonitorScreen
from pgtop.ui.cropped_update import cropped
from pgtop.ui.format import Palette
from pgtop.ui.outages import Outages
from pgtop.ui.panes.activity import BULK_BINDINGS, ActivityPane
from pgtop.ui.panes.base import EXPLAIN_BINDINGS, SIGNAL_BINDINGS, Pane
from pgtop.ui.panes.locks import LocksPane
from pgtop.ui.panes.pools import PoolsPane
from pgtop.ui.panes.replication import ReplicationPane
from pgtop.ui.panes.statements import StatementsPane
from pgtop.ui.quiet_input import QuietInputDriver
from pgtop.ui.screens.ask import AskNumber
from pgtop.ui.screens.backend import BackendScreen, warm_up_highlighting
from pgtop.ui.screens.confirm import ConfirmScreen, confirm_bulk, confirm_signal
from pgtop.ui.screens.detail import DetailScreen
from pgtop.ui.screens.help import HelpScreen, collect_bindings
from pgtop.ui.screens.plan import PlanScreen
from pgtop.ui.screens.running import RunningScreen
from pgtop.ui.screens.statement import StatementScreen
from pgtop.ui.theming import build_themes
from pgtop.ui.view import MonitorView, has_data
from pgtop.ui.widgets.header import ServerHeader
from pgtop.ui.widgets.health_bar import HealthBar, merge_statuses
from pgtop.ui.widgets.key_bar import KeyBar, keys_text
from pgtop.ui.widgets.keyed_table import KeyedTable
from pgtop.ui.widgets.pane_bar import PaneBar

__all__ = ["REFRESH_STEPS", "PgtopApp", "SampleReady", "make_app", "settle_gc"]

REFRESH_STEPS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0, 60.0)
"""``+`` / ``-`` move along these (seconds between polls)."""

_FALLBACK_THEME = "textual-dark"
_LOGGERS = ("pgtop", "psycopg")


class SampleReady(Message):
    """A sample arrived; a newer one for the same source replaces it in the queue."""

    def __init__(self, sample: AnySample) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        """A newer sample replaces a queued one of the same source, unless the connection
        state changed in between: a short outage must still show its banner."""
        return (
            isinstance(message, SampleReady)
            and message.sample.source == self.sample.source
            and message.sample.connected == self.sample.connected
        )


def _pane_binding(key: str, pane: str, title: str) -> Binding:
    return Binding(
        key, f"show_pane('{pane}')", title, id=f"pane.{pane}", tooltip=f"Show the {title} pane"
    )


class PgtopApp(App[None]):
    CSS_PATH = str(base_stylesheet_path())
    TITLE = "pgtop"
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (110, "-wide"),
    ]
    BINDINGS: ClassVar[list[BindingType]] = [
        _pane_binding("1", "activity", "Activity"),
        _pane_binding("2", "locks", "Locks"),
        _pane_binding("3", "replication", "Replication"),
        _pane_binding("4", "pools", "Pools"),
        _pane_binding("5", "statements", "Statements"),
        Binding("space", "toggle_pause", "Pause", id="app.pause", tooltip="Pause / resume refresh"),
        Binding(
            "plus",
            "slower",
            "Slower",
            key_display="+",
            id="app.slower",
            tooltip="Refresh less often (up to 60 s)",
        ),
        Binding(
            "minus",
            "faster",
            "Faster",
            key_display="-",
            id="app.faster",
            tooltip="Refresh more often (down to 0.5 s)",
        ),
        Binding(
            "question_mark", "help", "Help", key_display="?", id="app.help", tooltip="Every key"
        ),
        Binding(
            "b",
            "write_baseline",
            "Baseline",
            id="app.baseline",
            tooltip="Write a baseline document from the history so far (shows where)",
        ),
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit pgtop"),
    ]
    PANES: ClassVar[tuple[type[Pane], ...]] = (
        ActivityPane,
        LocksPane,
        ReplicationPane,
        PoolsPane,
        StatementsPane,
    )

    def __init__(
        self,
        config: Config,
        feed: Feed,
        *,
        targets: str = "",
        read_only: bool = False,
        theme: str | None = None,
        state_path: Path | None = None,
        signaller: Signaller | None = None,
        inspector: Inspector | None = None,
        explainer: Explainer | None = None,
        baseline: LiveBaseline | None = None,
        action_log: ActionLog | None = None,
        runbook: Runbook | None = None,
    ) -> None:
        # Textual's own driver on Windows (and whatever TEXTUAL_DRIVER names)
        quiet = not WINDOWS and constants.DRIVER is None
        super().__init__(driver_class=QuietInputDriver if quiet else None)
        self.runbook = runbook
        """Resume replay, drop a slot (palette commands, offered where they apply)."""
        self.action_log = action_log or ActionLog()
        """Every action taken or refused, one JSON line each (``actions.log``)."""
        self.baseline = baseline
        """``--baseline FILE``, for the statements pane's "vs base" column."""
        self.explainer = explainer
        """Plans queries on sessions of pgtop's own (None: not offered)."""
        self.config = config
        self.feed = feed
        self.signaller = signaller
        self.inspector = inspector
        """Reads one backend's locks on demand (None: not offered)."""
        """Cancels and terminates the main server's backends (None: not offered)."""
        self.targets = targets
        self.read_only = read_only or config.monitor.read_only
        self.state_path = state_path
        self.history = feed.history
        self.latest: dict[str, AnySample] = {}
        self.last_good: dict[str, AnySample] = {}
        self.main: str | None = None
        self.outages = Outages()
        self.paused = False
        self.applied = 0
        """Samples rendered (tests read it: nothing is applied while paused)."""
        self.panes: dict[str, Pane] = {cls.pane_id: cls() for cls in self.PANES}
        self.header_widget = ServerHeader()
        self.health = HealthBar()
        self.key_bar = KeyBar()
        self.pane_bar = PaneBar()
        self.active = "activity"
        """The pane shown."""
        self._startup_notes: list[str] = []
        self._theme_ready = False
        self._mounted = False
        self._handlers: list[tuple[logging.Logger, logging.Handler]] = []
        self._setup_themes(theme)
        self.palette = Palette.from_theme(self.current_theme, config.thresholds, baseline)

    # ------------------------------------------------------------------ themes

    def _setup_themes(self, wanted: str | None) -> None:
        specs, errors = load_theme_specs()
        themes, more = build_themes(specs)
        self._startup_notes.extend(errors + more)
        for theme in themes.values():
            self.register_theme(theme)
        if wanted is None:
            try:
                state = load_state(self.state_path)
            except ConfigError as exc:
                self._startup_notes.append(str(exc))
                state = UiState()
            wanted = effective_theme(self.config, state)
        name = resolve_theme_name(wanted, self.available_themes)
        if name is None:
            fallback = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else _FALLBACK_THEME
            self._startup_notes.append(f'unknown theme "{wanted}": using {fallback}')
            name = fallback
        self.theme = name

    def watch_theme(self, name: str) -> None:
        self.palette = Palette.from_theme(self.current_theme, self.config.thresholds, self.baseline)
        if not self._theme_ready:
            return
        self._show_keys(self.active_pane)
        try:
            save_state(UiState(theme=name), self.state_path)
        except ConfigError as exc:
            self.notify(str(exc), severity="warning", timeout=8)
        self._render_all()

    # ------------------------------------------------------------------ layout

    def get_default_screen(self) -> Screen[Any]:
        return MonitorScreen(id="_default")

    def compose(self) -> ComposeResult:
        yield self.header_widget
        yield self.health
        yield self.pane_bar
        for pane in self.panes.values():  # straight on the screen: no container to walk
            pane.display = pane.pane_id == self.active
            yield pane
        yield self.key_bar

    def on_mount(self) -> None:
        for name in _LOGGERS:
            # devtools only (``textual console``): never stdout/stderr, where Textual draws.
            # Propagation stays on, so the log file (pgtop.logs.configure) gets every record.
            logger = logging.getLogger(name)
            handler = TextualHandler(stderr=False, stdout=False)
            self._handlers.append((logger, handler))
            logger.addHandler(handler)
        self._theme_ready = True
        self._mounted = True
        if self._startup_notes:
            self.notify("\n".join(self._startup_notes), severity="warning", timeout=10)
        self._update_header()
        self._relabel_panes()
        self.action_show_pane(self.active)
        self._show_keys(self.panes["activity"])
        if not self.is_headless:  # a real terminal (tests and benchmarks call it themselves)
            settle_gc()
        self._run_feed()
        self.set_timer(1.0, warm_up_highlighting, name="warm up highlighting")

    def _display(self, screen: Screen[Any], renderable: RenderableType | None) -> None:
        """Each screen update writes only the refreshed spans (see cropped_update)."""
        super()._display(screen, cropped(renderable))

    async def on_unmount(self) -> None:
        for logger, handler in self._handlers:
            logger.removeHandler(handler)
        self._handlers.clear()
        if self.signaller is not None:
            await self.signaller.close()
        if self.inspector is not None and self.inspector is not cast(object, self.signaller):
            await self.inspector.close()
        if self.explainer is not None:
            await self.explainer.close()
        if self.runbook is not None:
            await self.runbook.close()

    # ------------------------------------------------------------------ samples

    @work(group="feed", name="feed", exit_on_error=False)
    async def _run_feed(self) -> None:
        await self.feed.run(self.publish)

    def publish(self, sample: AnySample) -> None:
        """The Feed's callback (may be called from another thread)."""
        self.post_message(SampleReady(sample))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and self.is_attached:
            error = event.worker.error
            self.notify(
                f"{event.worker.name} stopped: {type(error).__name__}: {error}",
                severity="error",
                timeout=30,
            )

    def _choose_main(self, sample: Sample) -> None:
        is_primary = sample.info is not None and sample.info.role is Role.PRIMARY
        if self.main is None:
            self.main = sample.source
            return
        current = self.last_good.get(self.main)
        current_primary = (
            isinstance(current, Sample)
            and current.info is not None
            and current.info.role is Role.PRIMARY
        )
        if is_primary and not current_primary:
            self.main = sample.source

    def on_sample_ready(self, message: SampleReady) -> None:
        if not self.is_attached:
            return
        sample = message.sample
        self.outages.observe(sample, self.last_good.get(sample.source))
        self.latest[sample.source] = sample
        if sample.connected and (has_data(sample) or sample.source not in self.last_good):
            # a failed tick (connected, no data) keeps the last data on screen, dimmed; a stall
            # republishes the last data itself
            self.last_good[sample.source] = sample
        if isinstance(sample, Sample):
            self._choose_main(sample)
        if self.paused:
            return
        self._render_all()

    def view(self) -> MonitorView:
        return MonitorView(
            latest=dict(self.latest),
            last_good=dict(self.last_good),
            main=self.main,
            history=self.history,
            palette=self.palette,
        )

    def _render_all(self) -> None:
        if not self._mounted:
            return
        self.applied += 1
        view = self.view()
        with self.batch_update():
            self._update_header()
            statuses = merge_statuses(
                (s for sample in self.latest.values() for s in sample.health), self.main
            )
            self.health.show(statuses, self.palette, self.history, self.main)
            for pane in self.panes.values():
                pane.show(view)
            self._relabel_panes()
        self._follow_details()

    def _follow_details(self) -> None:
        """A details screen on top follows its backend or statement with every tick."""
        try:
            screen = self.screen
        except ScreenStackError:  # the app is closing: no screen to follow
            return
        if not isinstance(screen, BackendScreen | StatementScreen):
            return
        followed = self.last_good.get(screen.source)
        sample = followed if isinstance(followed, Sample) else None
        if isinstance(screen, BackendScreen):
            screen.follow(sample)
            return
        if sample is None or sample.error or not sample.statements:
            return
        key = screen.key
        screen.follow(
            next((s for s in sample.statements if (s.queryid, s.user, s.database) == key), None)
        )

    @on(Pane.LabelChanged)
    def _relabel_panes(self) -> None:
        labels = [
            (pane.pane_id, str(number), pane.tab_label)
            for number, pane in enumerate(self.panes.values(), start=1)
        ]
        self.pane_bar.show_panes(labels, self.active, self.palette.accent)

    def _update_header(self) -> None:
        self.header_widget.show(
            self.latest,
            self.last_good,
            self.main,
            targets=self.targets,
            interval=self.feed.interval,
            paused=self.paused,
            read_only=self.read_only,
            outages=self.outages.recent({n: s.taken_at for n, s in self.latest.items()}),
        )

    # ------------------------------------------------------------------ routing

    @on(Pane.DetailsRequested)
    def _details(self, event: Pane.DetailsRequested) -> None:
        pane = self.panes[event.pane_id]
        if isinstance(event.record, Statement) and self.main is not None:
            self.push_screen(
                StatementScreen(
                    self.main,
                    event.record,
                    self.history,
                    inspector=self.inspector,
                    explain=self.explain_statement,
                )
            )
            return
        backend = pane.chosen_backend()
        sample = self.last_good.get(self.main) if self.main is not None else None
        if backend is not None and isinstance(sample, Sample) and self.main is not None:
            self.push_screen(
                BackendScreen(
                    self.main,
                    backend,
                    sample,
                    inspector=self.inspector,
                    explain=self.explain_backend,
                )
            )
            return
        self.push_screen(DetailScreen(f"{pane.title} — details", event.record))

    @on(Pane.SignalRequested)
    def _signal_requested(self, event: Pane.SignalRequested) -> None:
        """Ask, then send the signal in a worker (the UI keeps refreshing meanwhile)."""
        what = event.signal.value
        if self.read_only:
            self.notify(f"read-only (--read-only): {what} is off", severity="warning", timeout=6)
            self._audit(what, event.backend, "refused: read-only (--read-only)", ok=False)
            return
        if self.signaller is None:
            self.notify(f"{what}: not available here (no server session)", severity="warning")
            return
        if self.main is not None and self.main != self.signaller.name:
            self.notify(
                f"{what} acts on {self.signaller.name}, not on {self.main}", severity="warning"
            )
            return
        backend = event.backend
        if event.signal is Signal.CANCEL and backend.state == "idle":
            self.notify(
                f"pid {backend.pid} is idle: no query to cancel (k terminates the session)",
                severity="warning",
                timeout=6,
            )
            return
        screen = confirm_signal(event.signal, backend)
        self.push_screen(screen, functools.partial(self._signal_confirmed, event.signal, backend))

    def _signal_confirmed(self, signal: Signal, backend: Backend, yes: bool | None) -> None:
        if yes:
            self._send_signal(signal, backend)

    @work(group="signals", exit_on_error=False)
    async def _send_signal(self, signal: Signal, backend: Backend) -> None:
        assert self.signaller is not None
        outcome = await self.signaller.send(signal, backend.pid, backend.backend_start)
        self._audit(signal.value, backend, outcome.message, ok=outcome.ok)
        severity: SeverityLevel = "information" if outcome.ok else "error"
        self.notify(outcome.message, severity=severity, timeout=8, markup=False)

    # ------------------------------------------------------------------ bulk and runbook

    def _audit(
        self, action: str, backend: Backend | None, outcome: str, *, ok: bool, target: str = ""
    ) -> None:
        """One line in the action log for every action taken or refused."""
        self.action_log.write(self._entry(action, backend, outcome, ok=ok, target=target))

    def _entry(
        self, action: str, backend: Backend | None, outcome: str, *, ok: bool, target: str = ""
    ) -> Entry:
        main = self.last_good.get(self.main) if self.main is not None else None
        role = main.info.user if main is not None and main.info is not None else None
        return Entry(
            server=self.main or "?",
            action=action,
            outcome=outcome,
            ok=ok,
            role=role,
            pid=backend.pid if backend else None,
            backend_start=backend.backend_start if backend else None,
            user=backend.user if backend else None,
            application=backend.application if backend else None,
            query=backend.query if backend else None,
            target=target or None,
        )

    @on(ActivityPane.BulkRequested)
    def _bulk_requested(self, event: ActivityPane.BulkRequested) -> None:
        self.ask_bulk(event.signal, event.backends, event.why)

    def ask_bulk(self, signal: Signal, backends: list[Backend], why: str) -> None:
        """One question for many backends (count, the first rows, "and N more"), then one
        statement for all of them."""
        what = f"{signal.value} {len(backends)}"
        if self.read_only or self.signaller is None:
            reason = "read-only (--read-only)" if self.read_only else "no server session"
            self.notify(f"{what}: refused, {reason}", severity="warning", timeout=6)
            self.action_log.write(
                *(
                    self._entry(f"bulk {signal.value}", b, f"refused: {reason}", ok=False)
                    for b in backends
                )  # fmt: skip
            )
            return
        self.push_screen(
            confirm_bulk(signal, backends, why),
            functools.partial(self._bulk_confirmed, signal, backends),
        )

    def _bulk_confirmed(self, signal: Signal, backends: list[Backend], yes: bool | None) -> None:
        if yes:
            self._send_bulk(signal, backends)

    @work(group="signals", exit_on_error=False)
    async def _send_bulk(self, signal: Signal, backends: list[Backend]) -> None:
        assert self.signaller is not None
        outcome = await self.signaller.send_many(
            signal, [(b.pid, b.backend_start) for b in backends]
        )
        done, gone = set(outcome.signalled), set(outcome.gone)

        def result(b: Backend) -> str:
            if b.pid in done:
                return "signalled"
            return "already gone" if b.pid in gone else f"not signalled: {outcome.message}"

        self.action_log.write(
            *(
                self._entry(f"bulk {signal.value}", b, result(b), ok=b.pid in done)
                for b in backends
            )  # fmt: skip
        )
        activity = self.panes["activity"]
        if isinstance(activity, ActivityPane) and outcome.signalled:
            activity.clear_marks()
        severity: SeverityLevel = "information" if outcome.ok else "error"
        self.notify(outcome.message, severity=severity, timeout=10, markup=False)

    def runbook_rows(self, kind: str, minimum_s: float) -> list[Backend]:
        """The sessions a runbook command hits: idle in transaction longer than ``minimum_s``
        ("idle_xact"), or running a query longer than it ("long_query")."""
        sample = self.last_good.get(self.main) if self.main is not None else None
        if not isinstance(sample, Sample):
            return []
        own = sample.info.backend_pid if sample.info is not None else None
        hits = []
        for b in sample.activity:
            if b.pid == own or not b.is_client:
                continue
            if kind == "idle_xact" and (b.state or "").startswith("idle in transaction"):
                if (b.state_s or 0.0) > minimum_s:
                    hits.append(b)
            elif kind == "long_query" and b.state == "active" and (b.query_s or 0.0) > minimum_s:
                hits.append(b)
        return hits

    def run_runbook(self, kind: str) -> None:
        """A palette command from the playbook's runbooks: ask N, list what it would hit, ask."""
        if kind == "idle_xact":
            prompt = "Terminate sessions idle in transaction for more than N minutes. N ="
        else:
            prompt = "Cancel queries running longer than N seconds. N ="
        self.push_screen(AskNumber(prompt), functools.partial(self._runbook_number, kind))

    def _runbook_number(self, kind: str, value: float | None) -> None:
        if value is None:
            return
        seconds = value * 60 if kind == "idle_xact" else value
        hits = self.runbook_rows(kind, seconds)
        if kind == "idle_xact":
            why = f"idle in transaction for more than {value:g} min"
            signal = Signal.TERMINATE
        else:
            why = f"running a query for more than {value:g} s"
            signal = Signal.CANCEL
        if not hits:
            self.notify(f"no session {why}", timeout=6)
            return
        self.ask_bulk(signal, hits, f"every session {why}")

    # ------------------------------------------------------------------ EXPLAIN

    @on(Pane.ExplainRequested)
    def _explain_requested(self, event: Pane.ExplainRequested) -> None:
        if self.main is None:
            return
        if isinstance(event.record, Statement):
            self.explain_statement(event.record, self.main, event.analyze)
        else:
            self.explain_backend(event.record, self.main, event.analyze)

    def explain_backend(self, backend: Backend, source: str, analyze: bool) -> None:
        target = BackendTarget(source, backend.pid, backend.backend_start, backend.database)
        self._explain(target, backend.query, f"pid {backend.pid}", analyze)

    def explain_statement(self, statement: Statement, source: str, analyze: bool = False) -> None:
        target = StatementTarget(source, statement.queryid, statement.database, user=statement.user)
        self._explain(target, statement.query, f"statement {statement.queryid}", analyze)

    def _explain(self, target: ExplainTarget, query: str, who: str, analyze: bool) -> None:
        """Ask first for ANALYZE (the query runs), then run it in a worker while the monitor
        goes on refreshing; the plan on its own screen, or one line saying why not."""
        explainer = self.explainer
        if explainer is None or target.server not in explainer.servers:
            self.notify(f"EXPLAIN is not available on {target.server}", severity="warning")
            return
        where = f"{target.server} / {target.database or '?'}"
        if not analyze:
            self._run_explain(target, False, f"EXPLAIN of {who} on {where}…")
            return
        if self.read_only or explainer.read_only:
            self.notify(
                "read-only (--read-only): EXPLAIN ANALYZE is off (e, plain EXPLAIN, still works)",
                severity="warning",
                timeout=6,
            )
            return
        limits = self.config.explain
        screen = ConfirmScreen(
            f"EXPLAIN ANALYZE {who}? The query WILL RUN on {where}.",
            [
                ("query", query),
                (
                    "runs for",
                    f"at most {units.seconds(limits.statement_timeout_ms / 1000)}"
                    f" (statement_timeout); waits {units.seconds(limits.lock_timeout_ms / 1000)}"
                    " at most for a lock",
                ),  # fmt: skip
                (
                    "safety",
                    "in a READ ONLY transaction, always rolled back: a statement "
                    "that writes is refused",
                ),  # fmt: skip
            ],
            "y runs it · esc cancels it while it runs",
        )
        self.push_screen(
            screen,
            lambda yes: (
                self._run_explain(target, True, f"EXPLAIN ANALYZE of {who} on {where}…")
                if yes
                else None
            ),
        )

    def _run_explain(self, target: ExplainTarget, analyze: bool, what: str) -> None:
        running = RunningScreen(what, self._cancel_explain)
        self.push_screen(running)
        self._explain_worker(target, analyze, running)

    @work(group="explain", exit_on_error=False)
    async def _explain_worker(
        self, target: ExplainTarget, analyze: bool, running: RunningScreen
    ) -> None:
        assert self.explainer is not None
        result = await self.explainer.explain(target, analyze=analyze)
        if running.is_attached:
            running.dismiss()
        if isinstance(result, Explanation):
            self.push_screen(PlanScreen(result))
        else:
            self.notify(result.message, severity="warning" if result.cancelled else "error",
                        timeout=12, markup=False)  # fmt: skip

    def _cancel_explain(self) -> None:
        self._cancel_worker()

    @work(group="explain-cancel", exit_on_error=False)
    async def _cancel_worker(self) -> None:
        if self.explainer is not None:
            await self.explainer.cancel()

    @on(PaneBar.Chosen)
    def _pane_chosen(self, event: PaneBar.Chosen) -> None:
        self.action_show_pane(event.pane_id)

    def _show_keys(self, pane: Pane) -> None:
        """The key bar for ``pane``: its own keys first, help early (the bar is cut at 80
        columns)."""
        bindings = vars(type(pane)).get("BINDINGS", [])
        actions = [*SIGNAL_BINDINGS, *EXPLAIN_BINDINGS, *BULK_BINDINGS]
        own = [b for b in bindings if b not in actions]
        signals = [b for b in bindings if b in actions]
        panes = Binding("1", "show_pane", "Panes", key_display="1-5")
        app_keys = [
            b
            for b in self.BINDINGS
            if isinstance(b, Binding) and b.id and not b.id.startswith("pane.")
        ]
        first = [b for b in app_keys if b.id in ("app.help", "app.quit")]
        palette = Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Commands")
        groups = [
            own,
            Pane.BINDINGS,
            [panes],
            first,
            signals,
            KeyedTable.BINDINGS,
            app_keys,
            [palette],
        ]
        self.key_bar.show(keys_text(groups, f"bold {self.palette.accent}"))

    @property
    def active_pane(self) -> Pane:
        return self.panes[self.active]

    # ------------------------------------------------------------------ actions

    def action_show_pane(self, pane_id: str) -> None:
        if pane_id not in self.panes:
            return
        show_pane(self.feed, pane_id)  # what it shows is read each tick, caught up now
        if pane_id != self.active:
            with self.batch_update():
                self.panes[self.active].display = False
                self.active = pane_id
                self.panes[pane_id].display = True
                self.panes[pane_id].catch_up()
                self._relabel_panes()
                self._show_keys(self.panes[pane_id])
        self.panes[pane_id].focus_table()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self.feed.set_paused(self.paused)
        if self.paused:
            self._update_header()
        else:
            self._render_all()

    def _step(self, direction: int) -> None:
        current = self.feed.interval
        if direction > 0:
            bigger = [s for s in REFRESH_STEPS if s > current + 1e-9]
            new = bigger[0] if bigger else REFRESH_STEPS[-1]
        else:
            smaller = [s for s in REFRESH_STEPS if s < current - 1e-9]
            new = smaller[-1] if smaller else REFRESH_STEPS[0]
        self.feed.set_interval(min(60.0, max(0.5, new)))
        self._update_header()

    def action_slower(self) -> None:
        self._step(+1)

    def action_faster(self) -> None:
        self._step(-1)

    def help_rows(self) -> list[tuple[str, Binding]]:
        palette = Binding(
            self.COMMAND_PALETTE_BINDING,
            "command_palette",
            "Commands",
            id="app.palette",
            tooltip="Command palette: every command, themes",
        )
        groups: list[tuple[str, Iterable[BindingType]]] = [("global", [*self.BINDINGS, palette])]
        groups.append(("every pane", Pane.BINDINGS))
        groups.append(("tables", KeyedTable.BINDINGS))
        for cls in self.PANES:
            if "BINDINGS" in vars(cls):
                groups.append((cls.title.lower(), cls.BINDINGS))
        return collect_bindings(groups)

    def action_write_baseline(self) -> None:
        """``b``: the session's history so far as a baseline document in ``[snapshot]
        output_dir``; the statements as cumulative since their last reset (the history keeps
        per-statement series, not a second read of every counter)."""
        from pgtop.atomic import WriteError, write_atomically
        from pgtop.baseline import BaselineError, build, default_name, render

        latest = self.last_good.get(self.main) if self.main is not None else None
        if not isinstance(latest, Sample):
            self.notify("no data yet: nothing to write", severity="warning", timeout=6)
            return
        samples: list[AnySample] = []
        for source in self.history.sources():
            samples.extend(self.history.samples(source))
        folder = Path(self.config.snapshot.output_dir)
        try:
            baseline = build(
                samples,
                redact=False,
                statements_to=latest if latest.statements else None,
                source=latest.source,
                index_advice_note="not read from the monitor: pgtop snapshot reads it",
            )
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / default_name(baseline)
            write_atomically(path, render(baseline), replace=False)
        except (BaselineError, WriteError, OSError) as exc:
            self.notify(f"baseline not written: {one_line(str(exc))}", severity="error")
            return
        self.notify(f"baseline written: {path.resolve()}", timeout=10, markup=False)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_rows(), action_log=self.action_log.path))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from self._binding_commands()
        yield SystemCommand(
            "Terminate sessions idle in transaction for more than N minutes…",
            "Runbook: lists the sessions it would end, then asks",
            functools.partial(self.run_runbook, "idle_xact"),
        )
        yield SystemCommand(
            "Cancel queries running longer than N seconds…",
            "Runbook: lists the queries it would cancel, then asks",
            functools.partial(self.run_runbook, "long_query"),
        )
        yield from self._fix_commands()

    def _fix_commands(self) -> Iterator[SystemCommand]:
        """The runbook's fixes where they apply now: a standby whose replay is paused, an
        inactive replication slot (with the WAL it holds)."""
        if self.runbook is None:
            return
        for name, sample in self.last_good.items():
            if not isinstance(sample, Sample) or name not in self.runbook.servers:
                continue
            rep = sample.replication
            if rep is not None and rep.standby is not None and rep.standby.replay_paused:
                yield SystemCommand(
                    f"Resume WAL replay on {name}",
                    "Runbook: replay is paused there (asks first)",
                    functools.partial(self.ask_fix, "resume replay", name, ""),
                )
            for slot in rep.slots if rep is not None else ():
                if slot.active:
                    continue
                held = units.size(slot.retained_wal_bytes) or "unknown WAL"
                yield SystemCommand(
                    f"Drop inactive slot {slot.name} on {name} (holds {held})",
                    "Runbook: frees the WAL it holds; its consumer cannot resume (asks first)",
                    functools.partial(self.ask_fix, "drop slot", name, slot.name),
                )

    def ask_fix(self, action: str, server: str, target: str) -> None:
        """Ask, then resume replay or drop a slot; refused with --read-only; logged."""
        what = f"{action} {target}".strip()
        if self.read_only:
            self.notify(f"read-only (--read-only): {what} is off", severity="warning")
            self.action_log.write(
                Entry(server, action, "refused: read-only (--read-only)", False, target=target)
            )
            return
        if action == "drop slot":
            question = f"Drop replication slot {target} on {server}?"
            warning = (
                "The WAL it holds is freed; whatever consumed the slot cannot resume from it "
                "(a standby or a logical consumer must be rebuilt). Dropped only if still inactive."
            )
        else:
            question = f"Resume WAL replay on {server}?"
            warning = "The standby replays the WAL it received while paused, then keeps up."
        self.push_screen(
            ConfirmScreen(question, [("server", server)], warning),
            functools.partial(self._fix_confirmed, action, server, target),
        )

    def _fix_confirmed(self, action: str, server: str, target: str, yes: bool | None) -> None:
        if yes:
            self._run_fix(action, server, target)

    @work(group="runbook", exit_on_error=False)
    async def _run_fix(self, action: str, server: str, target: str) -> None:
        assert self.runbook is not None
        if action == "drop slot":
            outcome = await self.runbook.drop_slot(server, target)
        else:
            outcome = await self.runbook.resume_replay(server)
        self.action_log.write(Entry(server, action, outcome.message, outcome.ok, target=target))
        severity: SeverityLevel = "information" if outcome.ok else "error"
        self.notify(outcome.message, severity=severity, timeout=10, markup=False)

    def _binding_commands(self) -> Iterator[SystemCommand]:
        for group, binding in self.help_rows():
            if binding.action in ("command_palette", "quit"):
                continue
            title = f"{binding.description} ({group})"
            yield SystemCommand(
                title, binding.tooltip or binding.description, self._runner(group, binding)
            )

    def _runner(self, group: str, binding: Binding) -> Any:
        def run() -> None:
            if group == "global":
                target: Any = self
            elif group == "tables":
                target = self.active_pane.table
            elif group == "every pane":
                target = self.active_pane
            else:  # a pane's own key: show that pane first
                target = next(p for p in self.panes.values() if p.title.lower() == group)
                self.action_show_pane(target.pane_id)
            self.call_later(self.run_action, binding.action, target)

        return run


def settle_gc() -> None:
    """Take what exists once the app is mounted out of the garbage collector's reach.

    Textual, rich, the stylesheet and the widget tree are ~90,000 objects that live as long as
    the app; a full collection walked all of them (~100 ms on a slow machine) every few
    refreshes, which showed as a frame taking 3-5x its usual time. Collected once, then frozen,
    full collections only walk what the monitor holds. Garbage made later is collected as usual,
    the youngest generation after 10,000 allocations instead of 700: a tick allocates several
    thousand short-lived objects, and at 700 the ones alive at that moment were scanned and
    moved to the next generation, whose collections cost a millisecond each (~1 % of the
    monitor's CPU in a replay of a busy server's samples).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def make_app(
    config: Config,
    feed: Feed,
    *,
    targets: str = "",
    read_only: bool = False,
    theme: str | None = None,
    state_path: Path | None = None,
    signaller: Signaller | None = None,
    inspector: Inspector | None = None,
    explainer: Explainer | None = None,
    baseline: LiveBaseline | None = None,
    action_log: ActionLog | None = None,
    runbook: Runbook | None = None,
) -> PgtopApp:
    """The composition root (CLI and tests): a monitor rendering ``feed``'s samples.

    ``theme`` (``--theme``) wins over the saved and configured theme; ``state_path`` is where a
    theme chosen in the UI is remembered (default: ``pgtop.config.default_state_path()``);
    ``signaller`` cancels and terminates backends of the main server (None: not offered);
    ``inspector`` reads one backend's locks for its details screen; ``explainer`` runs
    EXPLAIN (ANALYZE) on sessions of its own; ``baseline`` adds the statements pane's
    "vs base" column.
    """
    return PgtopApp(
        config,
        feed,
        targets=targets,
        read_only=read_only,
        theme=theme,
        state_path=state_path,
        signaller=signaller,
        inspector=inspector,
        explainer=explainer,
        baseline=baseline,
        action_log=action_log,
        runbook=runbook,
    )
