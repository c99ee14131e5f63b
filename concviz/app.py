"""ConcvizApp: the wiring. Sessions measure, run control chooses, the main screen draws; the app
connects them with its frame tick, and quits without leaving a process behind."""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import threading
import time
from typing import Any, Callable, Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from concviz.engine.experiment import machine_info
from concviz.engine import pythons
from concviz.engine.spec import RunSpec, SpecError
from concviz.main_screen import MainScreen
from concviz.run_control import RunControl
from concviz.session import ReplaySession, Session
from concviz.themes import use_theme

TICK_HZ = 10
GC_THRESHOLDS = (10_000, 10, 100)  # the cyclic GC's, while the app runs (see on_mount)
MAX_FRAMES_RECORDED = 100_000  # the frame times kept for benchmarks (CONCVIZ_STATS_FILE)


class RunEnded(Message):
    """Posted (from a session's pump thread) when its run is over."""

    def __init__(self, session: Session, status: str) -> None:
        super().__init__()
        self.session = session
        self.status = status


class ConcvizApp(App[int]):
    """The concviz TUI. Pass ``spec`` for a live app, ``replay=(header, events)`` for a trace.

    Attributes:
        runs: the settings of the next run, the session shown and this session's results.
        main: the screen: layout, keys, and the panes each Frame is handed to.
    """

    CSS_PATH = "concviz.tcss"
    TITLE = "concviz"
    # every other key belongs to the main screen (MainScreen.BINDINGS)
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True)]

    def __init__(self, spec: RunSpec | None = None, *, replay: tuple[dict, list] | None = None,
                 speed: float = 1.0, autorun: bool = False, instant: bool = False,
                 live_ticks: bool = True, stack: list[tuple[dict, list]] | None = None,
                 theme: str | None = None, trace: Session | None = None) -> None:
        """``stack``: recorded traces to open stacked on one time axis (the last is shown
        behind the stack, as a replay); ``theme``: a name from concviz.themes.THEMES;
        ``trace``: a traced program's session, started (concviz trace / attach)."""
        super().__init__()
        use_theme(self, theme)
        session = trace
        stacked = [ReplaySession(*trace, instant=True) for trace in stack or ()]
        if stacked:
            session = stacked[-1]
            spec = dataclasses.replace(session.spec)
        elif replay is not None:
            session = ReplaySession(*replay, speed=speed, instant=instant)
            spec = dataclasses.replace(session.spec)
        if spec is not None:  # (a traced program's session has no settings of concviz's)
            spec = here(spec)
        self.runs = RunControl(self, spec or RunSpec(), session)
        self.trace = trace
        if trace is not None or (session is not None and "trace" in session.header):
            self.runs.locked = "this screen shows a traced program: concviz without trace runs its own models"
        for recorded in stacked:
            self.runs.remember(recorded, recorded.snapshot())
        self.open_stack = bool(stacked)
        # the title bar before a run: the experiment's Python (--python), else this one
        python = self.runs.spec.python
        self.main = MainScreen(self.runs, pythons.describe(python).as_machine() if python else machine_info())
        self.autorun = autorun
        self.live_ticks = live_ticks
        self._seen_version = -1
        self._timer = None
        self._held = False  # a frame waits for the screen to answer a key (see tick)
        # how many frames the tick built; with CONCVIZ_STATS_FILE set (benchmarks), what each
        # cost and when it was begun (time.time(): the tick's rate, whatever each frame cost),
        # written there on exit
        self.frames_drawn = 0
        self._record_frames = bool(os.environ.get("CONCVIZ_STATS_FILE"))
        self.frame_ms: list[float] = []
        self.frame_at: list[float] = []

    def get_default_screen(self) -> Screen:
        return self.main

    def on_mount(self) -> None:
        # A frame makes tens of thousands of short-lived containers (segments, strips): with the
        # default thresholds the cyclic GC would run many times a frame, and its full passes
        # walk every event the run has recorded, which stalls frames under a flood of events.
        # Rarer young collections make a frame cheaper and rarer full ones take the stalls
        # away; the garbage collected is the same, a little later.
        self._gc_threshold = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)

    def on_unmount(self) -> None:
        gc.set_threshold(*self._gc_threshold)

    def on_main_screen_ready(self, _message: MainScreen.Ready) -> None:
        self._timer = self.set_interval(1 / TICK_HZ, self.tick, pause=not self.live_ticks)
        self.tick(force=True)
        if self.trace is not None:
            self.trace.bind(self.run_ended)
        if self.autorun:
            self.call_after_refresh(self.runs.run)
        if self.open_stack:
            self.main.action_stack()

    # --- the frame tick --------------------------------------------------------------------
    def tick(self, force: bool = False, after_input: bool = False) -> None:
        """Take one Frame from the session if anything moved, and hand it to the screen; but
        first let a key (or anything else the app has queued) be answered on screen.

        ``force``: draw now whatever is queued; ``after_input``: this frame already waited
        once (a held key repeating must not hold frames back for good)."""
        if not self.is_running:
            return  # shutting down: the timer can fire once more while the widgets are removed
        if self._held and not force:
            return  # a frame is due after the screen's next refresh
        session = self.runs.session
        if session is None:
            self.main.refresh_bars()
            return
        if not force and not after_input and self._hold_for_input():
            return
        session.advance()
        version = session.version
        if not force and version == self._seen_version and not session.running:
            return
        self._seen_version = version
        t0 = time.perf_counter()
        started = time.time() if self._record_frames else 0.0
        frame = session.snapshot()
        if not force and not after_input and self._hold_for_input():
            self._seen_version = -1  # (this frame is dropped: the one after the refresh is newer)
            return
        self.main.show(frame)
        if not session.running and self.runs.remember(session, frame):
            self.main.last_runs_changed()
        self.frames_drawn += 1
        if self._record_frames and len(self.frame_ms) < MAX_FRAMES_RECORDED:
            self.frame_ms.append((time.perf_counter() - t0) * 1000)
            self.frame_at.append(started)
        if not session.running and not force and self._timer is not None and not session.live:
            self._timer.pause()

    def _hold_for_input(self) -> bool:
        """Whether a frame should wait: a key queued behind a frame of a big run would wait
        for all of it, and then for the layout its answer needs, tens of milliseconds each on a
        loaded machine. While the app's queue holds anything, the frame is drawn after the
        screen's next refresh instead (which shows the key's answer), once."""
        if not self.message_queue_size:
            return False
        self._held = True
        self.call_after_refresh(self._release)
        return True

    def _release(self) -> None:
        self._held = False
        self.tick(after_input=True)

    # --- what run control asks of the app (run_control.RunHost) -----------------------------
    def settings_changed(self) -> None:
        self.main.settings_changed()

    def run_started(self, session: Session) -> None:
        self._seen_version = -1
        self.main.clear()
        if self._timer is not None:
            self._timer.resume()
        self.tick(force=True)

    def run_ended(self, session: Session, status: str) -> None:
        self.post_message(RunEnded(session, status))

    def on_run_ended(self, message: RunEnded) -> None:
        if message.session is not self.runs.session:
            return  # a run that another replaced
        self.tick(force=True)
        frame = self.main.frame
        if frame is not None:
            self.main.append_log(frame, final=True)
        if self._timer is not None:
            self._timer.pause()
        verdict = self.runs.finish(message.session, message.status, frame)
        self.main.update_results()
        if verdict:
            self.notify(verdict + ("" if self.main.results_shown else "; t shows the table"), timeout=6)

    # --- quitting, and the command palette --------------------------------------------------
    async def action_quit(self) -> None:
        self.runs.shutdown()
        self.exit(0)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Every key of the main screen is also a command in the palette (ctrl+p)."""
        yield from super().get_system_commands(screen)
        seen = set()
        for binding in self.main.BINDINGS:
            if binding.action in seen or binding.action == "app.quit":  # (Textual lists Quit)
                continue
            seen.add(binding.action)
            # (a footer's short word, "All", says less than its tooltip in a list of commands)
            yield SystemCommand(binding.tooltip or binding.description, f"key: {binding.key_display or binding.key}",
                                lambda a=binding.action: self.main.run_action(a))


def here(spec: RunSpec) -> RunSpec:
    """A recording's settings, for the next live run here: its Python too where this machine
    has it, else this one (a trace recorded elsewhere names a path that may not be here)."""
    if spec.python is not None:
        try:
            pythons.describe(spec.python)
        except SpecError:
            spec.python = None
    return spec


def run_app(spec: RunSpec | None = None, *, replay: tuple[dict, list] | None = None,
            speed: float = 1.0, autorun: bool = False, stack: list[tuple[dict, list]] | None = None,
            theme: str | None = None, trace: Session | None = None) -> int:
    """Run the TUI until it quits; every experiment (and traced command) it started is gone
    when this returns."""
    app = ConcvizApp(spec, replay=replay, speed=speed, autorun=autorun, stack=stack, theme=theme, trace=trace)
    try:
        return run_until_quit(app, app.runs.shutdown)
    finally:
        _write_stats(app)


def run_until_quit(app: App, shutdown: Callable[..., None]) -> int:
    """Run ``app`` until it quits or a SIGTERM / SIGHUP arrives; ``shutdown(wait_s)`` ends every
    process its runs started, before it returns in any case."""

    def on_signal(signum: int, _frame: Any) -> None:
        # First make sure no process of a run outlives us, then leave.
        shutdown(0.5)
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
        shutdown()
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
