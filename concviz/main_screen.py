"""MainScreen: the layout of the panes and how a Frame is handed to them.

The app's frame tick hands each new Frame to :meth:`MainScreen.show`, which draws it in the
time window the zoom chose. The screen's keys and their actions are in screen_keys.py.
"""

from __future__ import annotations

import time
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Log, Static

from concviz.engine.frame import Frame
from concviz.engine.models import MODELS
from concviz.run_control import RunControl
from concviz.screen_keys import FOOTER_DROP_FIRST, KEYS, RUN_KEYS, ScreenKeys
from concviz.view import Zoom, format_time
from concviz.widgets.bars import (
    Bar,
    KeyFooter,
    caption_markup,
    controls_markup,
    legend_markup,
    stats_markup,
    title_markup,
    trace_controls_markup,
    welcome_markup,
)
from concviz.widgets.code import CodePane
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.gil_lane import GilLane
from concviz.widgets.resource_lanes import ResourceLanes
from concviz.widgets.results import ResultsPane
from concviz.widgets.task_lanes import TaskLanes

NARROW = 110  # columns: below this, the side panel docks at the bottom
STATS_EVERY_S = 0.25  # while a run goes on, the figures are redrawn at most this often


class Band(Vertical):
    """A container that only holds its children (no border, no content of its own), which tells
    Textual so (BLANK): whenever anything on the screen changes, Textual asks every widget whose
    clip meets the changed rows for its lines, and the screen-wide containers' clip always does.
    A blank band is drawn as blank lines of its background, which costs next to nothing."""

    BLANK = True


class Row(Horizontal):
    """A Band laid out left to right."""

    BLANK = True


class MainScreen(ScreenKeys, Screen):
    """The app's screen, BLANK as a Band is: its children draw everything on it.

    Args:
        runs: the app's run control, which the run keys call and the bars describe.
        machine: this machine's facts, for the title bar before any run.

    Attributes:
        frame: the Frame shown (None before a run).
        zoom: the user's choice of time window.
    """

    BLANK = True
    BINDINGS = KEYS

    class Ready(Message):
        """Posted once the screen's widgets are mounted: the app can draw on it."""

    def __init__(self, runs: RunControl, machine: dict[str, Any]) -> None:
        super().__init__(id="_default")
        self.runs = runs
        self.machine = machine
        self.frame: Frame | None = None
        self.zoom = Zoom()
        self._log_seen = 0
        self._welcome = ""
        self._stats_at = 0.0
        self.w: dict[str, Any] = {}  # widgets by id, once mounted

    # --- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # The bars sit in containers of their own: Textual repaints every widget whose clip
        # meets the changed rows, and a bar's clip is its container, so a tick that changes only
        # lanes leaves the bars alone (directly on the screen, their clip would be all of it).
        with Band(id="head"):
            yield Bar(id="title")
            yield Bar(id="controls")
        with Row(id="top"):
            with Band(id="left"):
                yield Static(id="welcome")
                yield TaskLanes(id="tasks")
                yield GilLane(id="gil")
                # inside #left, so its columns line up with the task lanes' time axis
                yield CoreLanes(id="cores")
                yield ResourceLanes(id="resources")
            with Band(id="side"):
                yield CodePane(id="code")
                yield Log(id="log", max_lines=500)
                yield ResultsPane(id="results")
        with Band(id="foot"):
            yield Bar(id="stats")
            yield Bar(id="caption")
            yield Bar(id="legend")
        yield Static("Terminal too small for concviz: make it at least 60x16.", id="too-small")
        yield KeyFooter(compact=True, show_command_palette=False, drop_first=FOOTER_DROP_FIRST)

    def on_mount(self) -> None:
        # the widgets a tick touches, found once (a query walks the DOM)
        self.w = {name: self.query_one(f"#{name}") for name in
                  ("title", "controls", "legend", "stats", "caption", "welcome", "tasks", "gil", "cores", "resources", "log",
                   "code", "results")}
        self.w["log"].border_title = "Events"
        self.last_runs_changed()
        self._apply_size(self.size)
        self.post_message(self.Ready())

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size)
        self.call_after_refresh(self.redraw)

    def _apply_size(self, size: Size) -> None:
        w, h = size
        self.set_class(w < NARROW, "narrow")
        self.set_class(w < 60 or h < 16, "too-small")

    # --- drawing ---------------------------------------------------------------------------
    def show(self, frame: Frame) -> None:
        """Draw ``frame``: the latest picture of the run shown."""
        self.frame = frame
        self.redraw()

    def clear(self) -> None:
        """A new run begins: forget the last one's picture, log and zoom."""
        self.frame = None
        self._log_seen = 0
        if self.w:
            self.w["log"].clear()
        self.zoom = Zoom()

    def redraw(self) -> None:
        """Hand the frame shown to every pane, in the time window the zoom chose."""
        if not self.w:
            return  # not mounted yet
        frame = self.frame
        with self.app.batch_update():
            self.refresh_bars()
            if frame is None:
                return
            win = self.zoom.window(frame)
            note = "fit" if self.zoom.span_ns is None else (
                ("▶ " if self.zoom.follow else "") + format_time(self.zoom.span_ns))
            info = MODELS.get(frame.model)
            self.w["tasks"].show(frame, win, note, info)
            self.w["gil"].show(frame, win, info=info)
            cores = self.w["cores"]
            sample = self._sample()
            cores.os_percent = sample.per_cpu if sample else ()
            cores.show(frame, win)
            self.w["resources"].show(frame, win)
            self.append_log(frame)

    def _sample(self):
        session = self.runs.session
        return session.sample() if session is not None and session.running else None

    def refresh_bars(self, at_once: bool = False) -> None:
        """The title, the settings, the figures, the caption and the legend. While a run goes
        on the figures are redrawn at most every STATS_EVERY_S, unless ``at_once``."""
        if not self.w:
            return  # not mounted yet
        frame = self.frame
        session = self.runs.session
        spec = self.runs.spec
        running = bool(session and session.running)
        title = self.w["title"]
        title.set_markup(title_markup(frame, spec, session.source_label if session else "",
                                      title.size.width - 2, self.machine))
        traced = frame is not None and "trace" in frame.header
        self.w["legend"].set_markup(legend_markup(self.size.width, traced))
        controls = self.w["controls"]
        if traced:
            controls.set_markup(trace_controls_markup(frame, running, controls.size.width - 2))
        else:
            controls.set_markup(controls_markup(spec, running, session.live if session else True,
                                                controls.size.width - 2))
        # the start screen is the default look: a class set at start-up would restyle every
        # widget once more before the first screen
        self.set_class(frame is not None, "has-run")
        if frame is None:
            welcome = welcome_markup(spec, MODELS[spec.model], self.machine)
            if welcome != self._welcome:  # re-laid out only when the choice changed
                self._welcome = welcome
                self.w["welcome"].update(welcome)
            self.w["stats"].set_markup("[dim]no run yet[/]")
            self.w["caption"].set_markup(
                f"[b]▶[/] Ready: [b]r[/] runs {spec.tasks} {spec.workload} tasks under {MODELS[spec.model].title}; "
                "[b]a[/] runs every model.",
                layout=True)
            return
        # figures change every tick while running, but nobody reads them at the tick's rate,
        # and the markup parse and repaint are a good part of a tick's cost
        now = time.monotonic()
        if running and not at_once and now - self._stats_at < STATS_EVERY_S:
            return
        self._stats_at = now
        stats = self.w["stats"]
        stats.set_markup(stats_markup(frame, self._sample(), max(20, stats.size.width - 2)))
        self.w["caption"].set_markup(caption_markup(frame), layout=True)

    def append_log(self, frame: Frame, final: bool = False) -> None:
        """Write the log entries that arrived since the last tick, in time order. Workers'
        batches arrive out of order (a thread's FINISH after another's later START), so at the
        end of a run (``final``) the whole log is written again in time order."""
        new = len(frame.log) if final else frame.log_total - self._log_seen
        if new <= 0:
            return
        log = self.w["log"]
        if final:
            log.clear()
        origin = frame.first_ns or 0
        log.write_lines(f"{(t - origin) / 1e9:7.3f} s  {text}"
                        for t, _, text in sorted(frame.log[-new:], key=lambda entry: entry[0]))
        self._log_seen = frame.log_total

    def last_runs_changed(self) -> None:
        """A run ended: the footer offers the stack key (v) once there are two to compare. A
        traced program's screen does not offer the keys of concviz's own runs."""
        hidden = frozenset() if len(self.runs.last_runs) > 1 else frozenset({"stack"})
        if self.runs.locked:
            hidden |= RUN_KEYS
        self.query_one(KeyFooter).hide(hidden)

    def settings_changed(self) -> None:
        """The settings of the next run changed: the code, the results and the bars follow."""
        if not self.w:
            return  # not mounted yet
        self.update_code()
        self.update_results()
        self.refresh_bars()

    def update_code(self) -> None:
        """Fill the code pane for the chosen model, when it is open (highlighting costs)."""
        if self.w["code"].display:
            self.w["code"].show_model(MODELS[self.runs.spec.model])

    def update_results(self) -> None:
        """Fill the results pane for the settings shown (or the rule's cases, while "A" runs
        them), when it is open."""
        if self.results_shown:
            spec, results = self.runs.spec, self.runs.results
            if self.runs.advising:
                self.w["results"].show_advice(results, self.runs.advice)
            else:
                self.w["results"].show(spec, results.rows(spec), results.not_run(spec))

    @property
    def results_shown(self) -> bool:
        return bool(self.w) and self.w["results"].display
