"""Run control: the settings of the next run, the sequence of "a", the session shown, and this
app session's results.

No widgets here. The main screen's keys call a RunControl; it changes the settings, starts and
stops sessions, and tells the app (its RunHost) what the user should hear and when a run
begins or ends. The app's frame tick draws the session it holds.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import weakref
from typing import Any, Callable, Protocol

from concviz.engine.frame import Frame
from concviz.engine.limits import prepare_run, runnable_specs
from concviz.engine.spec import (
    DEFAULT_TIMEOUT_S,
    MAX_SCALE,
    MAX_WORKERS,
    MODEL_NAMES,
    PROCESS_MODELS,
    RunSpec,
    SpecError,
    default_tasks,
    net_task_ceiling,
    models_for,
    task_limit,
)
from concviz.engine.workloads import NET_PRESETS, WORKLOADS
from concviz.ranking import round_order
from concviz.results import Results
from concviz.session import LiveSession, Session
from concviz.stack import MAX_STACK, StackedRun

TASK_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)
SCALE_STEPS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
SWITCH_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0)  # ms, for i / I
LATENCY_STEPS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)  # ms, [ ]
HANG_TIMEOUT_S = 10.0  # the time limit of a run with a hanging task (x)
FAULT_FLAGS = ("fail_task", "kill_task", "hang_task")


class RunHost(Protocol):
    """What run control asks of the app."""

    def notify(self, message: str, *, severity: Any = "information", timeout: float | None = None) -> None:
        """Tell the user ``message``."""

    def call_later(self, callback: Callable[..., Any], *args: Any) -> Any:
        """Call ``callback`` once the current event has been handled."""

    def settings_changed(self) -> None:
        """The settings of the next run changed: show them."""

    def run_started(self, session: Session) -> None:
        """``session`` is now the run shown, from its beginning."""

    def run_ended(self, session: Session, status: str) -> None:
        """``session``'s run is over (called from its pump thread)."""


def _step(values: tuple, current: Any, direction: int) -> Any:
    """The next value in ``values`` after (or before) ``current``."""
    if current in values:
        i = values.index(current) + direction
    else:
        i = sum(1 for v in values if v is not None and current is not None and v < current)
        i = i if direction > 0 else i - 1
    return values[max(0, min(len(values) - 1, i))]


class RunControl:
    """The run side of the app.

    Args:
        host: the app, told what to show.
        spec: the settings of the next run.
        session: the session shown at start (a replay), if any.

    Attributes:
        spec: the settings of the next run (each key makes a new, valid RunSpec).
        session: the run shown, live or replayed; None before the first.
        results: this app session's complete runs, ranked by the results pane.
        queue: the runs "a" (or "A") has still to start after the one running.
        advising: the runs are the rule's three cases ("A"): the results pane judges them.
        last_runs: the last MAX_STACK runs that ended, oldest first, for the stack (v).
    """

    def __init__(self, host: RunHost, spec: RunSpec, session: Session | None = None) -> None:
        self.host = host
        self.spec = spec
        self.session = session
        self.results = Results()
        self.queue: list[RunSpec] = []
        self.advising = False  # the results pane shows the rule's cases ("A"), not one table
        self.advice: dict[str, list[str]] = {}  # case -> the models "A" runs it under
        self._plain_tasks = spec.tasks if not spec.is_net else default_tasks("cpu")
        self._retired: list[Session] = []  # replaced while running: still being wound down
        self.last_runs: list[StackedRun] = []
        self._remembered: weakref.WeakSet[Session] = weakref.WeakSet()
        # why the keys that choose and start runs do nothing (a traced program is shown), or None
        self.locked: str | None = None

    def _refused(self) -> bool:
        """The run keys are locked: the user is told why."""
        if self.locked:
            self.host.notify(self.locked, severity="warning")
        return bool(self.locked)

    # --- settings of the next run ----------------------------------------------------------
    def change(self, **changes: Any) -> None:
        """The user changed a setting: "a" runs every model with the settings it began with, so
        a sequence in progress ends here (its current run goes on), and so does "A"'s."""
        if self._refused():
            return
        self.queue = []
        self.advising = False
        self._apply(**changes)

    def _apply(self, **changes: Any) -> None:
        spec = dataclasses.replace(self.spec, **changes)
        if spec.workload != self.spec.workload:
            self._new_workload(spec)
        spec.tasks = min(spec.tasks, task_limit(spec.model, spec.workload))
        if not spec.has_pool:
            spec.workers = None
        if spec.is_net:
            self._fit_in_time(spec)
        for flag in FAULT_FLAGS:
            # a fault follows the task count; a kill only exists for process models
            if getattr(spec, flag) is not None:
                setattr(spec, flag, None if flag == "kill_task" and spec.model not in PROCESS_MODELS
                        else spec.tasks // 2)
        try:
            spec.validate()
        except SpecError as exc:  # the keys only offer valid values; this is a safety net
            self.host.notify(str(exc), severity="error")
            return
        self.spec = spec
        self.host.settings_changed()

    def _new_workload(self, spec: RunSpec) -> None:
        """A net workload comes with its preset (connections, requests, latency; scale 1); back
        on another workload, the task count is the one last used there."""
        was_net = self.spec.is_net
        if not was_net:
            self._plain_tasks = self.spec.tasks
        spec.latency_ms = spec.requests = None
        if spec.is_net:
            spec.tasks, spec.scale = default_tasks(spec.workload), 1.0
        else:
            spec.kill_server = False
            if was_net:
                spec.tasks = self._plain_tasks

    def _fit_in_time(self, spec: RunSpec) -> None:
        """Fewer connections, where the model would otherwise outlast the time limit (one at a
        time, or a pool's few at a time), and the user told so."""
        preset = NET_PRESETS[spec.workload]
        requests = spec.requests or preset.requests
        latency = preset.latency_ms if spec.latency_ms is None else spec.latency_ms
        ceiling = net_task_ceiling(spec.model, spec.pool_size, requests, latency, spec.timeout_s)
        if ceiling is not None and 1 <= ceiling < spec.tasks:
            self.host.notify(f"{spec.model} can hold {ceiling} of {spec.tasks} connections within the "
                             f"{spec.timeout_s:g} s time limit", severity="warning")
            spec.tasks = ceiling

    def next_model(self, direction: int) -> None:
        """The next (direction 1) or previous (-1) model, in the registry's order, of those the
        experiment's Python can run (the interpreters model needs 3.12 or newer)."""
        offered = models_for(self.spec.python)
        ring = [m for m in MODEL_NAMES if m in offered or m == self.spec.model]
        self.change(model=ring[(ring.index(self.spec.model) + direction) % len(ring)])

    def next_workload(self, direction: int) -> None:
        """The next or previous workload."""
        i = (WORKLOADS.index(self.spec.workload) + direction) % len(WORKLOADS)
        self.change(workload=WORKLOADS[i])

    def step_tasks(self, direction: int) -> None:
        """More or fewer tasks, in TASK_STEPS, up to the model's ceiling for the workload."""
        limit = task_limit(self.spec.model, self.spec.workload)
        value = _step(TASK_STEPS, self.spec.tasks, direction)
        if value > limit:
            self.host.notify(f"{self.spec.model} is limited to {limit} tasks", severity="warning")
            value = limit
        self.change(tasks=value)

    def step_workers(self, direction: int) -> None:
        """One more or one fewer pool worker (pool models only)."""
        if not self.spec.has_pool:
            self.host.notify(f"{self.spec.model} has no pool: it starts one worker per task", severity="warning")
            return
        self.change(workers=max(1, min(MAX_WORKERS, (self.spec.pool_size or 1) + direction)))

    def step_scale(self, direction: int) -> None:
        """More or less work per task, in SCALE_STEPS; on a net workload, a slower or faster
        server (its latency, in LATENCY_STEPS)."""
        if self.spec.is_net:
            self.change(latency_ms=_step(LATENCY_STEPS, self.spec.latency_ms, direction))
            return
        self.change(scale=min(MAX_SCALE, _step(SCALE_STEPS, self.spec.scale, direction)))

    def next_fault(self) -> None:
        """Cycle the fault injected into the next run: none, the middle task raises, its process
        is SIGKILLed (process models only), it hangs (ended by a HANG_TIMEOUT_S time limit), the
        server is killed half-way (net workloads only)."""
        if self._refused():
            return
        spec = self.spec
        kinds = ["fail", "kill", "hang"] if spec.model in PROCESS_MODELS else ["fail", "hang"]
        if spec.is_net:
            kinds.append("server")
        current = "server" if spec.kill_server else next(iter(spec.faults.values()), None) if spec.faults else None
        following = kinds[kinds.index(current) + 1] if current in kinds[:-1] else (None if current else kinds[0])
        task = spec.tasks // 2
        changes: dict[str, Any] = {flag: None for flag in FAULT_FLAGS}
        changes["timeout_s"] = HANG_TIMEOUT_S if following == "hang" else DEFAULT_TIMEOUT_S
        changes["kill_server"] = following == "server"
        if following in ("fail", "kill", "hang"):
            changes[f"{following}_task"] = task
        self.change(**changes)
        if following:
            self.host.notify({"fail": f"task {task} will raise an exception half-way",
                              "kill": f"the process of task {task} will be SIGKILLed half-way",
                              "hang": f"task {task} will hang; the run stops after {HANG_TIMEOUT_S:g} s",
                              "server": "the server will be SIGKILLed once half the replies are sent"}[following])

    def step_switch(self, direction: int) -> None:
        """The next longer (shorter) switch interval than the one the next run would use; the
        interpreter's own (5 ms unless changed) is shown, and passed on, as the default."""
        default = round(sys.getswitchinterval() * 1000, 6)
        current = self.spec.switch_interval_ms or default
        if direction > 0:
            new = next((ms for ms in SWITCH_STEPS if ms > current + 1e-9), SWITCH_STEPS[-1])
        else:
            new = next((ms for ms in reversed(SWITCH_STEPS) if ms < current - 1e-9), SWITCH_STEPS[0])
        self.change(switch_interval_ms=None if abs(new - default) < 1e-9 else new)

    # --- runs ------------------------------------------------------------------------------
    def run(self) -> None:
        """Start a fresh live run with the settings shown (stopping any run in progress)."""
        if self._refused():
            return
        self.queue = []
        self.advising = False
        self.start()

    def queue_every_model(self) -> bool:
        """Queue every model that can take the settings shown ("a"), in the order of this
        round (ranking.round_order); False, and the user told why, when there is nothing to
        rank. run_next starts the first."""
        if self._refused():
            return False
        spec = self.spec
        self.advising = False
        if spec.has_fault:
            self.host.notify("a fault is set: runs with a fault are not ranked; press x until Fault "
                             "shows none", severity="warning")
            return False
        # (a model the experiment's Python cannot run is not offered)
        specs, skipped = runnable_specs(models_for(spec.python), spec.for_model)
        if skipped:
            self.host.notify("skipped: " + "; ".join(f"{m} ({why})" for m, why in skipped.items()),
                             severity="warning")
        self.queue = [specs[m] for m in round_order(list(specs), self.results.begin_round(spec))]
        return bool(self.queue)

    def queue_advice(self) -> bool:
        """Queue the rule's three cases (advise.CASES) under every model that can run each here
        ("A"), each case's models in the order of its round; the results pane judges them as
        they complete. False, and the user told why, when nothing can run."""
        if self._refused():
            return False
        from concviz.advise import CASES

        queue, out = [], []
        self.advice = {}
        for case in CASES:
            specs, skipped = case.runnable()
            self.advice[case.name] = list(specs)
            queue += [specs[m] for m in round_order(list(specs), self.results.begin_round(case.spec))]
            if skipped:
                out.append(f"{case.name}: {', '.join(skipped)}")
        if out:
            self.host.notify("sitting out (over their ceiling or the time limit): " + "; ".join(out),
                             severity="information", timeout=8)
        self.queue = queue
        self.advising = bool(queue)
        return self.advising

    def run_next(self) -> None:
        """Start the next run of the queue, with the settings it was queued with."""
        self.spec = self.queue.pop(0)
        self.host.settings_changed()
        self.start()

    def start(self) -> None:
        """Start a live run of the settings shown (if the experiment's Python can run its model
        and this machine's limits allow it, raised where they can be); the run it replaces winds
        down meanwhile."""
        try:
            self.spec.check_runnable()  # (a replay's settings may name a model this Python lacks)
        except SpecError as exc:
            self.host.notify(str(exc), severity="error")
            self.queue = []
            return
        check = prepare_run(self.spec)
        if not check.ok:
            self.host.notify(check.problem, severity="error")
            self.queue = []
            return
        self._retire()
        session = LiveSession(dataclasses.replace(self.spec), on_end=self.host.run_ended)
        try:
            session.start()
        except OSError as exc:
            self.host.notify(f"could not start the experiment: {exc}", severity="error")
            return
        self.session = session
        self.host.run_started(session)

    def _retire(self) -> None:
        old = self.session
        self._retired = [s for s in self._retired if s.running]
        if old is not None and old.running:
            old.close(0.0)  # the new run must not wait for the old one's processes
            self._retired.append(old)

    def stop(self) -> None:
        """Stop the run shown (and the sequence of "a")."""
        self.queue = []
        if self.session is not None and self.session.running:
            self.session.stop()
            self.host.notify("stopping the run")
        else:
            self.host.notify("nothing is running", severity="information")

    def finish(self, session: Session, status: str, frame: Frame | None) -> str:
        """``session``'s run ended with ``status`` (``frame``: its last picture): say what went
        wrong, keep a complete run in the results, and go on with the sequence of "a".

        Returns:
            One line on how the run compares with the others of its settings, when there is
            one to give ("" while "a" goes on).
        """
        stopped = frame.stats["stopped"] if frame else 0
        failed = frame.stats["failed"] - stopped if frame else 0
        if status not in ("ok", "cancelled") or failed:
            detail = frame.end_message if frame and frame.end_message else ""
            unstarted = frame.stats["not_started"] if frame else 0
            more = f", {unstarted} not started" if unstarted else ""
            self.host.notify(f"run ended: {status}; {failed} failed{more} {detail}".strip(), severity="warning")
        elif stopped:
            self.host.notify(f"run stopped: {stopped} task{'s' if stopped != 1 else ''} cut short")
        if session.ranked and frame is not None and status == "ok":
            self.results.add(session.spec, frame.stats)
        if self.queue:
            if status == "cancelled":
                self.queue = []
            else:
                self.host.call_later(self.run_next)
            return ""
        return self.results.verdict(session.spec) if session.ranked else ""

    def remember(self, session: Session, frame: Frame) -> bool:
        """``session``'s run is over and ``frame`` is its last picture: keep it among the last
        runs (only its picture and settings; the session and its events can go). Returns
        False when it was already kept."""
        if session in self._remembered or not session.stackable:
            return False
        self._remembered.add(session)
        self.last_runs = [*self.last_runs, StackedRun(session.spec.model, session.spec, frame)][-MAX_STACK:]
        return True

    def shutdown(self, wait_s: float = 1.0) -> None:
        """Stop every run still going and wait (bounded) for its processes to be gone."""
        sessions = [s for s in (self.session, *self._retired) if s is not None]
        for s in sessions:  # all of them at once, then wait for each
            s.close(0.0)
        deadline = time.monotonic() + wait_s
        for s in sessions:
            s.close(max(0.0, deadline - time.monotonic()))
