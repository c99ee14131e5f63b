"""Helpers shared by the benchmarks: real runs with their OS accounting, medians, quiet timers.

Benchmarks print figures; they are not pass/fail tests (see run.py). Every helper that starts a
process waits for it and leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from concviz.engine.experiment import Experiment  # noqa: E402
from concviz.engine.frame import Frame  # noqa: E402
from concviz.engine.spec import PROCESS_MODELS, RunSpec  # noqa: E402
from concviz.engine.timeline import Timeline  # noqa: E402


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Run:
    """One real run: the final Frame, the experiment's closing summary and how it ended."""

    frame: Frame
    summary: dict[str, Any]
    status: str
    wall_s: float  # of the whole Experiment, as the caller saw it

    @property
    def stats(self) -> dict[str, Any]:
        return self.frame.stats

    def os_cpu_s(self, model: str) -> float | None:
        """CPU seconds the OS accounted to the run's workers: the experiment process itself for
        in-process models, its joined children for process models."""
        cpu = self.summary.get("os_cpu_s")
        if not cpu:
            return None
        return cpu["children"] if model in PROCESS_MODELS else cpu["self"]


def run(spec: RunSpec, on_event: Callable[[str, Any], None] | None = None) -> Run:
    """Run ``spec`` in a real experiment process (the same plumbing as ``run_to_frame``)."""
    spec.validate()
    timeline = Timeline(tasks=spec.tasks)
    exp = Experiment(spec)

    def on_message(tag: str, payload: Any) -> None:
        if tag == "E":
            timeline.feed(payload)
        elif tag == "H":
            timeline.set_header(payload)
        if on_event is not None:
            on_event(tag, payload)

    t0 = time.perf_counter()
    exp.start()
    try:
        status = exp.pump(on_message)
    finally:
        exp.close()
    wall = time.perf_counter() - t0
    timeline.end(status, (exp.summary or {}).get("message", ""))
    return Run(timeline.snapshot(), exp.summary or {}, status, wall)


def rel_error(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth if truth else float("inf")


def _busy_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return sum(getattr(t, k, 0.0) for k in ("user", "nice", "system", "irq", "softirq", "steal"))


def _own_s() -> float:
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class Background:
    """Cores' worth of CPU used by other processes (not this one, not its children) while the
    block ran: this machine is shared, and timing fidelity is judged when it is quiet."""

    def __enter__(self) -> "Background":
        self.t0, self.busy0, self.own0 = time.perf_counter(), _busy_s(), _own_s()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        others = (_busy_s() - self.busy0) - (_own_s() - self.own0)
        self.cores = max(0.0, others / wall) if wall > 0 else 0.0


def wait_quiet(threshold: float = 0.25, max_wait_s: float = 20.0, probe_s: float = 0.3) -> float:
    """Wait (up to ``max_wait_s``) until other processes use less than ``threshold`` cores;
    return what they used in the last probe."""
    deadline = time.perf_counter() + max_wait_s
    while True:
        with Background() as bg:
            time.sleep(probe_s)
        if bg.cores < threshold or time.perf_counter() > deadline:
            return bg.cores


def quiet(measure: Callable[[], Any], threshold: float = 0.25, tries: int = 3,
          max_wait_s: float = 10.0) -> tuple[Any, float]:
    """Run ``measure()`` when the machine is quiet; retry (up to ``tries``) while other
    processes used ``threshold`` cores or more meanwhile. Returns the value measured with the
    least background, and that background (cores)."""
    best: tuple[Any, float] | None = None
    for _ in range(tries):
        wait_quiet(threshold, max_wait_s)
        with Background() as bg:
            value = measure()
        if best is None or bg.cores < best[1]:
            best = (value, bg.cores)
        if bg.cores < threshold:
            break
    assert best is not None
    return best


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


# A CPU-bound loop that cannot outlive the benchmark that started it: the kernel kills it when
# its parent dies (PR_SET_PDEATHSIG, Linux), and elsewhere a thread of its own exits it once its
# parent is gone (the loop lets go of the GIL every switch interval, so the thread gets to look).
_BURNER = """
import os, sys, threading, time
parent = int(sys.argv[1])
try:
    import ctypes, signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)
threading.Thread(target=watch, daemon=True).start()
if os.getppid() != parent:
    os._exit(0)  # the parent died before the death signal was armed
while True:
    pass
"""


@contextlib.contextmanager
def burners(count: int) -> Iterator[list[subprocess.Popen]]:
    """``count`` CPU-bound loops (each a process in a session of its own) while the block runs:
    killed when it ends, however it ends, and by the kernel (or themselves) if this process
    dies first, so an interrupted benchmark cannot leave them loading the machine."""
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            procs.append(subprocess.Popen([sys.executable, "-c", _BURNER, str(os.getpid())],
                                          start_new_session=True, stdin=subprocess.DEVNULL))
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
