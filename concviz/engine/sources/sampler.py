"""The sampling loop: sweeps ``/proc`` at a steady rate from outside the traced program.

It runs on a thread of the UI (or CLI) process. It only reads ``/proc``: it never stops,
signals or attaches to what it watches, so ``attach`` leaves a program exactly as it was.

The rate starts at :data:`DEFAULT_HZ` and adapts so that the sampler's own CPU time (its thread's,
kernel time for the reads included) stays under ``budget`` of one core: over each window it
compares that time with the wall time, lowers the rate in proportion when over, and raises it
back towards the asked rate when well under. The rate in use is :attr:`ProcSampler.rate_hz`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from concviz.engine.sources.procfs import ProcReader, Sweep
from concviz.engine.sources.tracer import TraceBatch, Tracker

DEFAULT_HZ = 200.0
MIN_HZ = 10.0
BUDGET = 0.03  # of one core
WINDOW_S = 0.5  # how often the rate is reconsidered


class ProcSampler:
    """Sweeps a process tree on a background thread and hands each batch to ``on_batch``.

    Args:
        reader: the tree to read.
        tracker: folds sweeps into events.
        on_batch: called on the sampler's thread with each :class:`TraceBatch`, then once more
            with the batch that finishes every thread when the tree is gone or :meth:`stop`
            was called.
        rate_hz: the rate asked for.
        budget: the share of one core the sampler may use; None: a fixed rate.
        sweep: what one step does (default: read, then fold); tests pass their own.
    """

    def __init__(self, reader: ProcReader, tracker: Tracker,
                 on_batch: Callable[[TraceBatch], None], *, rate_hz: float = DEFAULT_HZ,
                 budget: float | None = BUDGET, min_hz: float = MIN_HZ,
                 sweep: Callable[[], Sweep] | None = None) -> None:
        self.reader = reader
        self.tracker = tracker
        self.on_batch = on_batch
        self.target_hz = rate_hz
        self.rate_hz = rate_hz
        self.budget = budget
        self.min_hz = min_hz
        self._sweep = sweep or reader.sweep
        self.sweeps = 0
        self.cpu_ns = 0  # the sampler thread's CPU time, all windows
        self.wall_ns = 0
        self.cost = 0.0  # share of one core in the last window
        self.rates: list[float] = []  # the rate after each window (what was used, for reports)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def mean_cost(self) -> float:
        """Share of one core used over the whole run."""
        return self.cpu_ns / self.wall_ns if self.wall_ns else 0.0

    def start(self) -> "ProcSampler":
        self._thread = threading.Thread(target=self._run, name="concviz-procfs", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the loop to end (it finishes every thread still open and returns)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end; True if it has."""
        return self._done.wait(timeout)

    def run(self) -> None:
        """Sample on the calling thread until the tree is gone or :meth:`stop` is called."""
        self._run()

    def step(self) -> bool:
        """One sweep, folded and handed on; False once the tree is gone."""
        self.on_batch(self.tracker.feed(self._sweep()))
        self.sweeps += 1
        return self.reader.alive

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # noqa: BLE001 - kept for the owner to report
            self.error = exc
        finally:
            try:
                self.on_batch(self.tracker.close())
            finally:
                self._done.set()

    def _loop(self) -> None:
        clock = time.perf_counter_ns
        cpu = time.thread_time_ns
        win_wall, win_cpu = clock(), cpu()
        due = win_wall
        while not self._stop.is_set():
            if not self.step():
                break
            now = clock()
            if now - win_wall >= WINDOW_S * 1e9:
                c = cpu()
                self._adapt(c - win_cpu, now - win_wall)
                win_wall, win_cpu = now, c
            period = int(1e9 / self.rate_hz)
            due += period
            if due < now:  # late (a loaded machine): skip the missed beats, keep the rate
                due = now
            # a plain sleep costs half an Event.wait with a timeout; stop() is seen within one
            # period (at most 1 / min_hz)
            time.sleep((due - now) / 1e9)
        now, c = clock(), cpu()
        self.cpu_ns += c - win_cpu
        self.wall_ns += now - win_wall

    def _adapt(self, cpu_ns: int, wall_ns: int) -> None:
        self.cpu_ns += cpu_ns
        self.wall_ns += wall_ns
        self.cost = cpu_ns / wall_ns
        if self.budget is not None:
            if self.cost > self.budget:
                self.rate_hz = max(self.min_hz, self.rate_hz * self.budget / self.cost * 0.9)
            elif self.cost < self.budget * 0.5 and self.rate_hz < self.target_hz:
                self.rate_hz = min(self.target_hz, self.rate_hz * 1.25)
        self.rates.append(self.rate_hz)


@dataclass
class Traced:
    """A command traced to its end: every batch, how it ended, and the sampler's figures."""

    argv: list[str]
    pid: int
    spawn_ns: int
    returncode: int | None = None
    timed_out: bool = False
    batches: list[TraceBatch] = field(default_factory=list)
    sampler: ProcSampler | None = None

    @property
    def events(self) -> list[tuple]:
        return [e for b in self.batches for e in b.events]

    @property
    def spans(self) -> list:
        return [s for b in self.batches for s in b.spans]


def trace_command(argv: Sequence[str], *, rate_hz: float = DEFAULT_HZ,
                  budget: float | None = BUDGET, timeout_s: float | None = None,
                  **popen: Any) -> Traced:
    """Run ``argv`` as a child in a process group of its own and sample its tree to the end.

    The child is not reaped until the sampler has seen it exit (its final counters), and on a
    timeout the whole group is ended (TERM, then KILL), so nothing is left behind.
    """
    spawn_ns = time.perf_counter_ns()
    proc = subprocess.Popen(list(argv), start_new_session=True, **popen)
    traced = Traced(list(argv), proc.pid, spawn_ns)
    try:
        reader = ProcReader(proc.pid, group=True)
        tracker = Tracker(since_ns=spawn_ns, maps=reader.maps)
        sampler = traced.sampler = ProcSampler(reader, tracker, traced.batches.append,
                                               rate_hz=rate_hz, budget=budget)
        sampler.start()
        if not sampler.join(timeout_s):
            traced.timed_out = True
            sampler.stop()
            sampler.join()
    finally:
        _end_group(proc)
        traced.returncode = proc.returncode
    if sampler.error is not None:
        raise sampler.error
    return traced


def _end_group(proc: subprocess.Popen, grace_s: float = 2.0) -> None:
    """Reap the child; end whatever of its process group remains."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(grace_s)
            break
        except subprocess.TimeoutExpired:
            continue
    proc.wait()
