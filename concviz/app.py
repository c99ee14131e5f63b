"""ConcvizApp: bindings and wiring. Panes draw; sessions measure; this module connects them."""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import sys
import threading
import time
from typing import Any, Iterable

from textual import events
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Log, Static

from concviz.engine.experiment import machine_info
from concviz.engine.frame import Frame
from concviz.engine.models import MODELS
from concviz.engine.spec import (
    DEFAULT_TIMEOUT_S,
    MAX_SCALE,
    MAX_WORKERS,
    MODEL_NAMES,
    PROCESS_MODELS,
    RunSpec,
    SpecError,
    task_limit,
)
from concviz.engine.workloads import WORKLOADS
from concviz.report import round_order
from concviz.results import Results
from concviz.session import LiveSession, ReplaySession, Session
from concviz.view import Zoom, format_time
from concviz.widgets.bars import (
    LEGEND,
    LEGEND_SHORT,
    Bar,
    KeyFooter,
    caption_markup,
    controls_markup,
    stats_markup,
    title_markup,
    welcome_markup,
)
from concviz.widgets.code import CodePane
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.gil_lane import GilLane
from concviz.widgets.task_lanes import TaskLanes
from concviz.widgets.results import ResultsPane

TICK_HZ = 10
GC_THRESHOLDS = (10_000, 10, 100)  # the cyclic GC's, while the app runs (see on_mount)
TASK_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 100, 200, 500, 1000, 2000, 5000, 10000)
SCALE_STEPS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
SWITCH_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)  # ms, for i / I
NARROW = 110
HANG_TIMEOUT_S = 10.0
# keys the footer leaves out first when it is too narrow for all of them (at 80 columns, the
# first four); they still work, and "?" lists them
FOOTER_DROP_FIRST = ("follow", "zoom(1)", "export", "toggle_log", "toggle_code", "toggle_results")


class Band(Vertical):
    """A container that only holds its children (no border, no content of its own), which tells
    Textual so (BLANK): whenever anything on the screen changes, Textual asks every widget whose
    clip meets the changed rows for its lines, and the screen-wide containers' clip always does.
    Rendered as blank lines of its background, a band costs ~10 us a tick instead of 40-140."""

    BLANK = True


class Row(Horizontal):
    """A Band laid out left to right."""

    BLANK = True


class MainScreen(Screen):
    """The default screen, BLANK as a Band is: its children draw everything on it."""

    BLANK = True


class RunEnded(Message):
    """Posted (from the pump thread) when a live run is over."""

    def __init__(self, session: Session, status: str) -> None:
        super().__init__()
        self.session = session
        self.status = status


def _step(values: tuple, current: Any, direction: int) -> Any:
    """The next value in ``values`` after (or before) ``current``."""
    if current in values:
        i = values.index(current) + direction
    else:
        i = sum(1 for v in values if v is not None and current is not None and v < current)
        i = i if direction > 0 else i - 1
    return values[max(0, min(len(values) - 1, i))]


class ConcvizApp(App[int]):
    """The concviz TUI. Pass ``spec`` for a live app, ``replay=(header, events)`` for a trace."""

    CSS_PATH = "concviz.tcss"
    TITLE = "concviz"
    BINDINGS = [
        Binding("r", "run", "Run"),
        Binding("a", "run_all", "All", tooltip="Run every model in turn and rank them"),
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
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
        Binding("greater_than_sign,full_stop", "zoom(1)", "Zoom", key_display="</>"),
        Binding("less_than_sign,comma", "zoom(-1)", "Zoom out", show=False),
        Binding("left", "pan(-1)", "Pan left", show=False),
        Binding("right", "pan(1)", "Pan right", show=False),
        Binding("f", "follow", "Follow"),
        Binding("0", "fit", "Fit the whole run", show=False),
        Binding("e", "export", "Export"),
        Binding("S", "screenshot_svg", "Screenshot", show=False),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, spec: RunSpec | None = None, *, replay: tuple[dict, list] | None = None,
                 speed: float = 1.0, autorun: bool = False, instant: bool = False,
                 live_ticks: bool = True) -> None:
        super().__init__()
        self.session: Session | None = None
        if replay is not None:
            self.session = ReplaySession(*replay, speed=speed, instant=instant)
            spec = dataclasses.replace(self.session.spec)
        self.spec = spec or RunSpec()
        self.autorun = autorun
        self.live_ticks = live_ticks
        self.zoom = Zoom()
        self.frame: Frame | None = None
        self._seen_version = -1
        self._log_seen = 0
        self._timer = None
        self._old_sessions: list[Session] = []  # replaced while running: still winding down
        self.results = Results()  # this session's complete runs, for the results pane
        self._run_queue: list[str] = []  # models still to run after this one ("a": every model)
        self._run_workers: int | None = None  # the pool size they run with
        self.machine = machine_info()
        self._welcome = ""
        self.w: dict[str, Any] = {}  # widgets by id, once mounted
        # how many frames the tick built; with CONCVIZ_STATS_FILE set (benchmarks), what each
        # cost and when it was begun (time.time(): the tick's rate, whatever each frame cost),
        # written there on exit
        self.frames_drawn = 0
        self._stats_at = 0.0
        self._record_frames = bool(os.environ.get("CONCVIZ_STATS_FILE"))
        self.frame_ms: list[float] = []
        self.frame_at: list[float] = []

    # --- layout ----------------------------------------------------------------------------
    def get_default_screen(self) -> Screen:
        return MainScreen(id="_default")

    def compose(self) -> ComposeResult:
        # The bars sit in containers of their own: Textual repaints every widget whose clip
        # meets the changed rows, and a bar's clip is its container, so a tick that changes only
        # lanes leaves the bars alone (on the screen, their clip was the whole screen).
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
        # A frame makes tens of thousands of short-lived containers (segments, strips); with the
        # default thresholds (700, 10, 10) the cyclic GC ran dozens of times a frame, and its
        # full passes walk every event the run has recorded: under a flood of 1.5 M events those
        # stalled the UI for 150-235 ms, a frame or two lost each time. Young collections every
        # 10,000 allocations made a 64-lane frame ~15% cheaper, and full ones 10x rarer took the
        # stalls away (tests/bench); the garbage collected is the same, a little later.
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        # the widgets a tick touches, found once (a query walks the DOM: ~10 of them a tick)
        self.w = {name: self.query_one(f"#{name}") for name in
                  ("title", "controls", "legend", "stats", "caption", "welcome", "tasks", "gil", "cores", "log")}
        self.w["log"].border_title = "Events"
        self._timer = self.set_interval(1 / TICK_HZ, self.tick, pause=not self.live_ticks)
        self._apply_size()
        self.tick(force=True)
        if self.autorun:
            self.call_after_refresh(self.action_run)

    def on_unmount(self) -> None:
        gc.set_threshold(*self._gc_threshold)

    def on_resize(self, event: events.Resize) -> None:
        self._apply_size(event.size)
        self.call_after_refresh(self.redraw)

    def _apply_size(self, size: Size | None = None) -> None:
        w, h = size or self.size
        self.screen.set_class(w < NARROW, "narrow")
        self.screen.set_class(w < 60 or h < 16, "too-small")

    # --- the frame tick --------------------------------------------------------------------
    def tick(self, force: bool = False) -> None:
        """Take one Frame from the session if anything moved, and hand it to every pane."""
        if not self.is_running:
            return  # shutting down: the timer can fire once more while the widgets are removed
        session = self.session
        if session is None:
            self._refresh_bars()
            return
        session.advance()
        version = session.version
        if not force and version == self._seen_version and not session.running:
            return
        self._seen_version = version
        t0 = time.perf_counter()
        started = time.time() if self._record_frames else 0.0
        self.frame = session.snapshot()
        self.redraw()
        self.frames_drawn += 1
        if self._record_frames and len(self.frame_ms) < 100_000:
            self.frame_ms.append((time.perf_counter() - t0) * 1000)
            self.frame_at.append(started)
        if not session.running and not force and self._timer is not None and session.live is False:
            self._timer.pause()

    def redraw(self) -> None:
        if not self.w:
            return  # not mounted yet
        frame = self.frame
        with self.batch_update():
            self._refresh_bars()
            if frame is None:
                return
            win = self.zoom.window(frame)
            note = "fit" if self.zoom.span_ns is None else (
                ("▶ " if self.zoom.follow else "") + format_time(self.zoom.span_ns))
            info = MODELS.get(frame.model)
            self.w["tasks"].show(frame, win, note, info)
            self.w["gil"].show(frame, win, info=info)
            cores = self.w["cores"]
            sample = self.session.sample() if self.session and self.session.running else None
            cores.os_percent = sample.per_cpu if sample else ()
            cores.show(frame, win)
            self._append_log(frame)

    def _refresh_bars(self) -> None:
        if not self.w:
            return  # not mounted yet
        frame = self.frame
        session = self.session
        running = bool(session and session.running)
        title = self.w["title"]
        title.set_markup(title_markup(frame, self.spec, session.source_label if session else "",
                                      title.size.width - 2, self.machine))
        self.w["legend"].set_markup(LEGEND if self.size.width >= 104 else LEGEND_SHORT)
        controls = self.w["controls"]
        controls.set_markup(controls_markup(self.spec, running, session.live if session else True,
                                            controls.size.width - 2))
        # the start screen is the default look: a class set at start-up would restyle every
        # widget once more before the first screen (~20 ms)
        self.screen.set_class(frame is not None, "has-run")
        if frame is None:
            welcome = welcome_markup(self.spec, MODELS[self.spec.model])
            if welcome != self._welcome:  # re-laid out only when the choice changed
                self._welcome = welcome
                self.w["welcome"].update(welcome)
            self.w["stats"].set_markup("[dim]no run yet[/]")
            info = MODELS[self.spec.model]
            self.w["caption"].set_markup(
                f"[b]▶[/] Ready: [b]r[/] runs {self.spec.tasks} {self.spec.workload} tasks under {info.title}; "
                "[b]a[/] runs every model.",
                layout=True)
            return
        # figures change every tick while running, but nobody reads them at 10 Hz: 4 Hz is
        # plenty, and the markup parse and repaint are a good part of a tick's cost
        now = time.monotonic()
        if running and now - self._stats_at < 0.25:
            return
        self._stats_at = now
        stats = self.w["stats"]
        sample = session.sample() if session and session.running else None
        stats.set_markup(stats_markup(frame, sample, max(20, stats.size.width - 2)))
        self.w["caption"].set_markup(caption_markup(frame), layout=True)

    def _append_log(self, frame: Frame, final: bool = False) -> None:
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

    # --- runs ------------------------------------------------------------------------------
    def action_run(self) -> None:
        """Start a fresh live run with the settings shown (stopping any run in progress)."""
        self._run_queue = []
        self._start_run()

    def action_run_all(self) -> None:
        """Run every model in turn with the settings shown, and open the results pane that
        ranks them; each round in the order compare's rounds run (report.round_order)."""
        spec = self.spec
        if spec.faults:
            self.notify("a fault is set: runs with a fault are not ranked; press x until Fault "
                        "shows none", severity="warning")
            return
        runnable = [m for m in MODEL_NAMES if spec.tasks <= task_limit(m, spec.workload)]
        skipped = [m for m in MODEL_NAMES if m not in runnable]
        runnable = round_order(runnable, self.results.begin_round(spec))
        if skipped:
            self.notify(f"{spec.tasks} tasks is over the limit of {', '.join(skipped)}: skipped", severity="warning")
        if not self.query_one("#results").display:
            self.action_toggle_results()
        self._run_queue = runnable
        self._run_workers = spec.workers  # a pool size chosen (k/K) holds for every pool model
        self._run_next()

    def _run_next(self) -> None:
        """Start the next model of the queue ("a"), with the settings it was queued with."""
        # (workers is dropped for models without a pool)
        self._apply_spec(model=self._run_queue.pop(0), workers=self._run_workers)
        self._start_run()

    def _start_run(self) -> None:
        self._retire_session()
        session = LiveSession(dataclasses.replace(self.spec), on_end=self._on_session_end)
        self.session = session
        self.frame = None
        self._seen_version = -1
        self._log_seen = 0
        self.query_one("#log", Log).clear()
        self.zoom = Zoom()
        try:
            session.start()
        except OSError as exc:
            self.notify(f"could not start the experiment: {exc}", severity="error")
            return
        if self._timer is not None:
            self._timer.resume()
        self.tick(force=True)

    def _on_session_end(self, session: Session, status: str) -> None:
        self.post_message(RunEnded(session, status))

    def on_run_ended(self, message: RunEnded) -> None:
        if message.session is not self.session:
            return  # a run that another replaced
        self.tick(force=True)
        frame = self.frame
        if frame is not None:
            self._append_log(frame, final=True)
        stopped = frame.stats["stopped"] if frame else 0
        failed = frame.stats["failed"] - stopped if frame else 0
        if message.status not in ("ok", "cancelled") or failed:
            detail = frame.end_message if frame and frame.end_message else ""
            self.notify(f"run ended: {message.status}; {failed} failed {detail}".strip(), severity="warning")
        elif stopped:
            self.notify(f"run stopped: {stopped} task{'s' if stopped != 1 else ''} cut short")
        if self._timer is not None:
            self._timer.pause()
        session = message.session
        if session.ranked and frame is not None and message.status == "ok":
            self.results.add(session.spec, frame.stats)
        self._update_results()
        if self._run_queue:
            if message.status == "cancelled":
                self._run_queue = []
            else:
                self.call_later(self._run_next)
        elif session.ranked and (verdict := self.results.verdict(session.spec)):
            hint = "" if self.query_one("#results").display else "; t shows the table"
            self.notify(verdict + hint, timeout=6)

    def _update_results(self) -> None:
        """Fill the results pane for the settings shown, when it is open."""
        pane = self.query_one("#results", ResultsPane)
        if pane.display:
            pane.show(self.spec, self.results.rows(self.spec), self.results.not_run(self.spec))

    def action_toggle_results(self) -> None:
        self._toggle("results")
        self._update_results()

    def _retire_session(self) -> None:
        old = self.session
        self._old_sessions = [s for s in self._old_sessions if s.running]
        if old is not None and old.running:
            old.close(0.0)  # the new run must not wait for the old one's processes
            self._old_sessions.append(old)

    def action_stop(self) -> None:
        self._run_queue = []
        if self.session is not None and self.session.running:
            self.session.stop()
            self.notify("stopping the run")
        else:
            self.notify("nothing is running", severity="information")

    def shutdown(self, wait_s: float = 1.0) -> None:
        """Stop every live run and wait (bounded) for its processes to be gone."""
        sessions = [s for s in (self.session, *self._old_sessions) if s is not None]
        for s in sessions:  # all of them at once, then wait for each
            s.close(0.0)
        deadline = time.monotonic() + wait_s
        for s in sessions:
            s.close(max(0.0, deadline - time.monotonic()))

    async def action_quit(self) -> None:
        self.shutdown()
        self.exit(0)

    # --- settings for the next run ---------------------------------------------------------
    def _set_spec(self, **changes: Any) -> None:
        """The user changed a setting: "a" runs every model with the settings it began with, so
        a sequence in progress ends here (its current run goes on)."""
        self._run_queue = []
        self._apply_spec(**changes)

    def _apply_spec(self, **changes: Any) -> None:
        spec = dataclasses.replace(self.spec, **changes)
        spec.tasks = min(spec.tasks, task_limit(spec.model, spec.workload))
        if not spec.has_pool:
            spec.workers = None
        for flag in ("fail_task", "kill_task", "hang_task"):
            # a fault follows the task count; a kill only exists for process models
            if getattr(spec, flag) is not None:
                setattr(spec, flag, None if flag == "kill_task" and spec.model not in PROCESS_MODELS
                        else spec.tasks // 2)
        try:
            spec.validate()
        except SpecError as exc:  # the keys only offer valid values; this is a safety net
            self.notify(str(exc), severity="error")
            return
        self.spec = spec
        self._update_code()
        self._update_results()
        self._refresh_bars()

    def action_model(self, direction: int) -> None:
        i = (MODEL_NAMES.index(self.spec.model) + direction) % len(MODEL_NAMES)
        self._set_spec(model=MODEL_NAMES[i])

    def action_workload(self, direction: int) -> None:
        i = (WORKLOADS.index(self.spec.workload) + direction) % len(WORKLOADS)
        self._set_spec(workload=WORKLOADS[i])

    def action_tasks(self, direction: int) -> None:
        limit = task_limit(self.spec.model, self.spec.workload)
        value = _step(TASK_STEPS, self.spec.tasks, direction)
        if value > limit:
            self.notify(f"{self.spec.model} is limited to {limit} tasks", severity="warning")
            value = limit
        self._set_spec(tasks=value)

    def action_workers(self, direction: int) -> None:
        if not self.spec.has_pool:
            self.notify(f"{self.spec.model} has no pool: it starts one worker per task", severity="warning")
            return
        self._set_spec(workers=max(1, min(MAX_WORKERS, (self.spec.pool_size or 1) + direction)))

    def action_scale(self, direction: int) -> None:
        self._set_spec(scale=min(MAX_SCALE, _step(SCALE_STEPS, self.spec.scale, direction)))

    def action_fault(self) -> None:
        """Cycle the fault injected into the middle task of the next run: none, raise, SIGKILL
        (process models only), hang (ended by a 10 s time limit)."""
        spec = self.spec
        kinds = ["fail", "kill", "hang"] if spec.model in PROCESS_MODELS else ["fail", "hang"]
        current = next(iter(spec.faults.values()), None) if spec.faults else None
        following = kinds[kinds.index(current) + 1] if current in kinds[:-1] else (None if current else kinds[0])
        task = spec.tasks // 2
        changes: dict[str, Any] = {"fail_task": None, "kill_task": None, "hang_task": None,
                                   "timeout_s": DEFAULT_TIMEOUT_S}
        if following:
            changes[f"{following}_task"] = task
        if following == "hang":
            changes["timeout_s"] = HANG_TIMEOUT_S
        self._set_spec(**changes)
        if following:
            self.notify({"fail": f"task {task} will raise an exception half-way",
                         "kill": f"the process of task {task} will be SIGKILLed half-way",
                         "hang": f"task {task} will hang; the run stops after {HANG_TIMEOUT_S:g} s"}[following])

    def action_switch(self, direction: int) -> None:
        """The next longer (shorter) switch interval than the one the next run would use; the
        interpreter's own (5 ms unless changed) is shown, and passed on, as the default."""
        default = round(sys.getswitchinterval() * 1000, 6)
        current = self.spec.switch_interval_ms or default
        if direction > 0:
            new = next((ms for ms in SWITCH_STEPS if ms > current + 1e-9), SWITCH_STEPS[-1])
        else:
            new = next((ms for ms in reversed(SWITCH_STEPS) if ms < current - 1e-9), SWITCH_STEPS[0])
        self._set_spec(switch_interval_ms=None if abs(new - default) < 1e-9 else new)

    # --- view ------------------------------------------------------------------------------
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
        pane = self.query_one(f"#{wid}")
        pane.display = not pane.display
        self.screen.set_class(any(self.query_one(f"#{side}").display for side in ("code", "log", "results")),
                              "side-open")
        self.call_after_refresh(self.redraw)

    def action_toggle_code(self) -> None:
        self._toggle("code")
        self._update_code()

    def _update_code(self) -> None:
        """Fill the code pane for the chosen model, when it is open (highlighting costs)."""
        code = self.query_one("#code", CodePane)
        if code.display:
            code.show_model(MODELS[self.spec.model])

    def action_toggle_log(self) -> None:
        self._toggle("log")

    def action_help(self) -> None:
        # imported here: the Markdown widget costs ~40 ms of start-up that most launches skip
        from concviz.widgets.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_export(self) -> None:
        if self.session is None or self.frame is None:
            self.notify("nothing to export yet: press r to run", severity="warning")
            return
        from concviz.engine.events import read_trace
        from concviz.engine.export import write_chrome_trace

        stem = f"concviz-{self.frame.model}-{self.frame.workload}-{time.strftime('%H%M%S')}"
        try:
            self.session.export(stem + ".jsonl")
            write_chrome_trace(*read_trace(stem + ".jsonl"), stem + ".json")
        except (OSError, ValueError) as exc:
            self.notify(f"export failed: {exc}", severity="error")
            return
        self.notify(f"wrote {stem}.jsonl (concviz replay) and {stem}.json (Perfetto)")

    def action_screenshot_svg(self) -> None:
        path = self.save_screenshot(path=os.getcwd())
        self.notify(f"saved {os.path.basename(path)}")

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key binding is also a command in the palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        seen = set()
        for binding in self.BINDINGS:
            if binding.action in seen or binding.action == "quit":
                continue
            seen.add(binding.action)
            # (a footer's short word, "All", says less than its tooltip in a list of commands)
            yield SystemCommand(binding.tooltip or binding.description, f"key: {binding.key_display or binding.key}",
                                lambda a=binding.action: self.run_action(a))


def run_app(spec: RunSpec | None = None, *, replay: tuple[dict, list] | None = None,
            speed: float = 1.0, autorun: bool = False) -> int:
    """Run the TUI until it quits; every experiment it started is gone when this returns."""
    app = ConcvizApp(spec, replay=replay, speed=speed, autorun=autorun)

    def on_signal(signum: int, _frame: Any) -> None:
        # First make sure no process of a run outlives us, then leave.
        app.shutdown(0.5)
        if signum == signal.SIGHUP:
            # The terminal is gone: there is nothing to restore, and writing to it could block.
            os._exit(128 + signum)
        app.exit(128 + signum)
        # If the app cannot wind down (a blocked write to the terminal), do not linger.
        timer = threading.Timer(2.0, os._exit, args=(128 + signum,))
        timer.daemon = True  # must not keep a normal exit waiting
        timer.start()

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        result = app.run()
    finally:
        app.shutdown()
        _write_stats(app)
    # a crash inside the app sets return_code (Textual has printed the error by then)
    return app.return_code or result or 0


def _write_stats(app: ConcvizApp) -> None:
    """With CONCVIZ_STATS_FILE set, leave the frame counts there on exit (for benchmarks that
    drive the real app in a terminal)."""
    path = os.environ.get("CONCVIZ_STATS_FILE")
    if not path:
        return
    import json

    with open(path, "w", encoding="utf-8") as out:
        json.dump({"frames": app.frames_drawn, "frame_ms": app.frame_ms, "frame_at": app.frame_at}, out)
