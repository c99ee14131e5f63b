"""The main screen's keys: one Binding each, and the action it runs.

The keys that choose and start runs call the app's RunControl (concviz.run_control); the keys
that change the view (zoom, pan, follow, fit, the side panes, help, export, screenshot) act on
the screen's zoom and panes. :class:`ScreenKeys` is a mixin of MainScreen (main_screen.py),
which lays the panes out and draws the Frame they act on.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

from concviz.view import Zoom

if TYPE_CHECKING:
    from concviz.engine.frame import Frame
    from concviz.run_control import RunControl

# keys the footer leaves out first when it is too narrow for all of them (at 80 columns, the
# first four); they still work, and "?" lists them
FOOTER_DROP_FIRST = ("follow", "zoom(1)", "export", "toggle_log", "stack", "toggle_code", "toggle_results")
SIDE_PANES = ("code", "log", "results")
# the keys that choose and start concviz's own runs (left out of the footer of a traced program)
RUN_KEYS = frozenset({"run", "run_all", "model(1)", "workload(1)", "tasks(1)", "toggle_code", "toggle_results", "stack"})

KEYS = [
    Binding("r", "run", "Run"),
    Binding("a", "run_all", "All", tooltip="Run every model in turn and rank them"),
    Binding("A", "advise", "Advise", show=False, tooltip="Advise: measure the rule of thumb's three cases here"),
    Binding("s", "stop", "Stop"),
    Binding("m", "model(1)", "Model"),
    Binding("M", "model(-1)", "Previous model", show=False),
    Binding("w", "workload(1)", "Workload"),
    Binding("W", "workload(-1)", "Previous workload", show=False),
    Binding("plus,equals_sign", "tasks(1)", "Tasks", key_display="+/-"),
    Binding("minus,underscore", "tasks(-1)", "Fewer tasks", show=False),
    Binding("k", "workers(1)", "More workers", show=False),
    Binding("K", "workers(-1)", "Fewer workers", show=False),
    Binding("right_square_bracket", "scale(1)", "Scale up", show=False),
    Binding("left_square_bracket", "scale(-1)", "Scale down", show=False),
    Binding("x", "fault", "Inject a fault", show=False),
    Binding("i", "switch(1)", "Longer switch interval", show=False),
    Binding("I", "switch(-1)", "Shorter switch interval", show=False),
    Binding("c", "toggle_code", "Code"),
    Binding("l", "toggle_log", "Log"),
    Binding("t", "toggle_results", "Results", tooltip="Results: this session's runs, ranked"),
    Binding("v", "stack", "Stack", tooltip="Stack the last runs of this session on one time axis"),
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("q", "app.quit", "Quit"),
    Binding("greater_than_sign,full_stop", "zoom(1)", "Zoom", key_display="</>"),
    Binding("less_than_sign,comma", "zoom(-1)", "Zoom out", show=False),
    Binding("left", "pan(-1)", "Pan left", show=False),
    Binding("right", "pan(1)", "Pan right", show=False),
    Binding("f", "follow", "Follow"),
    Binding("0", "fit", "Fit the whole run", show=False),
    Binding("e", "export", "Export"),
    Binding("S", "screenshot_svg", "Screenshot", show=False),
]


class ScreenKeys:
    """The actions of :data:`KEYS`, mixed into a Screen (MainScreen) that has the attributes
    below and draws through ``redraw()``, ``update_code()``, ``update_results()`` and
    ``results_shown``.

    Attributes:
        runs: the app's run control.
        frame: the Frame shown (None before a run).
        zoom: the user's choice of time window.
        w: the screen's widgets by id, once mounted.
    """

    runs: RunControl
    frame: Frame | None
    zoom: Zoom
    w: dict[str, Any]

    # --- keys: the next run ----------------------------------------------------------------
    def action_run(self) -> None:
        self.runs.run()

    def action_run_all(self) -> None:
        """Run every model in turn with the settings shown, and open the results pane that
        ranks them."""
        if self.runs.queue_every_model():
            if not self.results_shown:
                self.action_toggle_results()
            self.runs.run_next()

    def action_advise(self) -> None:
        """Run the rule's three cases (CPU-bound, net-fast, net-slow) under every model that can
        run them here, and open the results pane that judges them."""
        if self.runs.queue_advice():
            if not self.results_shown:
                self.action_toggle_results()
            self.runs.run_next()

    def action_stop(self) -> None:
        self.runs.stop()

    def action_model(self, direction: int) -> None:
        self.runs.next_model(direction)

    def action_workload(self, direction: int) -> None:
        self.runs.next_workload(direction)

    def action_tasks(self, direction: int) -> None:
        self.runs.step_tasks(direction)

    def action_workers(self, direction: int) -> None:
        self.runs.step_workers(direction)

    def action_scale(self, direction: int) -> None:
        self.runs.step_scale(direction)

    def action_fault(self) -> None:
        self.runs.next_fault()

    def action_switch(self, direction: int) -> None:
        self.runs.step_switch(direction)

    # --- keys: the view --------------------------------------------------------------------
    def action_zoom(self, direction: int) -> None:
        if self.frame is None:
            return
        (self.zoom.zoom_in if direction > 0 else self.zoom.zoom_out)(self.frame)
        self.redraw()

    def action_pan(self, direction: int) -> None:
        if self.frame is not None:
            self.zoom.pan(self.frame, direction)
            self.redraw()

    def action_follow(self) -> None:
        if self.frame is None:
            return  # no run yet: no edge to follow
        self.zoom.toggle_follow(self.frame)
        self.notify("following the live edge" if self.zoom.follow else "view fixed; ←/→ to pan")
        self.redraw()

    def action_fit(self) -> None:
        self.zoom = Zoom()
        self.redraw()

    def _toggle(self, wid: str) -> None:
        pane = self.w[wid]
        pane.display = not pane.display
        self.set_class(any(self.w[side].display for side in SIDE_PANES), "side-open")
        self.call_after_refresh(self.redraw)

    def action_toggle_code(self) -> None:
        self._toggle("code")
        self.update_code()

    def action_toggle_log(self) -> None:
        self._toggle("log")

    def action_toggle_results(self) -> None:
        self._toggle("results")
        self.update_results()

    def action_stack(self) -> None:
        """Stack the last runs of this session (up to 4) on one time axis, each from its own
        start, so that their lengths compare."""
        if not self.runs.last_runs:
            self.notify("no run has ended yet: r runs one", severity="warning")
            return
        from concviz.widgets.stack import StackScreen

        self.app.push_screen(StackScreen(self.runs.last_runs))

    def action_help(self) -> None:
        # imported here: the Markdown widget costs start-up time that most launches skip
        from concviz.widgets.help import HelpScreen

        self.app.push_screen(HelpScreen())

    def action_export(self) -> None:
        """Write the run shown as a concviz trace (.jsonl, for replay) and a Chrome trace
        (.json, for Perfetto), in the working directory."""
        session = self.runs.session
        if session is None or self.frame is None:
            self.notify("nothing to export yet: press r to run", severity="warning")
            return
        from concviz.engine.events import read_trace
        from concviz.engine.export import write_chrome_trace

        stem = f"concviz-{self.frame.model}-{self.frame.workload}-{time.strftime('%H%M%S')}"
        try:
            session.export(stem + ".jsonl")
            write_chrome_trace(*read_trace(stem + ".jsonl"), stem + ".json")
        except (OSError, ValueError) as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"wrote {stem}.jsonl (concviz replay) and {stem}.json (Perfetto)")

    def action_screenshot_svg(self) -> None:
        path = self.app.save_screenshot(path=os.getcwd())
        self.notify(f"saved {os.path.basename(path)}")
