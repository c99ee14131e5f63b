"""Task bodies: I/O-bound (sleep), CPU-bound (pure-Python arithmetic), mixed, and net.

A task is a list of steps, ``("cpu", units)`` or ``("sleep", seconds)``, derived from the
workload, the scale and the seed alone, so the same inputs give the same work in every model.
CPU work is a fixed *amount* (units of arithmetic), not a duration: contention shows up as a
longer wall time instead of being hidden.

A net task (the net workloads) is one connection to the run's loopback server instead, with
its requests one after another (:mod:`concviz.engine.netload`); the experiment starts the
server and puts its address in :attr:`WorkParams.net`.
"""

from __future__ import annotations

import os
import random
import signal
import time
from dataclasses import dataclass, field

from concviz.engine.events import PROGRESS, RUN, SLEEP, SLEEP_OPEN
from concviz.engine.netload import NetParams, run_net_async, run_net_sync
from concviz.engine.probe import CPU_CHECK_NS, Recorder, current_cpu, gap_ns

NET_WORKLOADS = ("net", "net-fast", "net-slow")
WORKLOADS = ("io", "cpu", "mixed", *NET_WORKLOADS)


@dataclass(frozen=True)
class NetPreset:
    """The size of a net workload unless the user gives another: connections (tasks), requests
    per connection, and the server's delay before each reply."""

    tasks: int
    requests: int
    latency_ms: float

    def words(self) -> str:
        return (f"{self.tasks:,} connections x {self.requests} request{'s' if self.requests != 1 else ''}, "
                f"{self.latency_ms:g} ms replies")


# The rule of thumb's two I/O cases, sized to run in seconds here with a real contrast:
# net-fast is 200 replies of 2 ms on each of 8 connections (about 0.5 s, long enough to watch,
# short enough for several rounds); net-slow holds 2,000 connections open at once for a second
# each (memory per task is then per connection held).
NET_PRESETS = {
    "net": NetPreset(16, 10, 50.0),
    "net-fast": NetPreset(8, 200, 2.0),
    "net-slow": NetPreset(2000, 1, 1000.0),
}
WORKLOAD_TITLES = {
    "io": "I/O-bound: each task waits on a slow call (sleep)",
    "cpu": "CPU-bound: each task does pure-Python arithmetic",
    "mixed": "Mixed: CPU bursts between waits, like a request handler",
    "net": "Network: each task opens a TCP connection to a loopback server and sends requests "
           f"(by default {NET_PRESETS['net'].words()})",
    "net-fast": f"Network, fast I/O and few connections: {NET_PRESETS['net-fast'].words()}",
    "net-slow": f"Network, slow I/O and many connections: {NET_PRESETS['net-slow'].words()}",
}

# The probe reads the clock once per unit: a unit long enough that the read is a small part of
# the work (the probe's overhead has a target, tests/bench), short enough that the probe still
# finds every pause longer than its gap (probe.GAP_MIN_NS..GAP_MAX_NS) and places a RUN interval's
# ends to within a unit.
ITERATIONS_PER_UNIT = 256  # about 20 us of arithmetic on a 2020s laptop core
CPU_UNITS = 25_000  # about 0.5 s of work for one task running alone (calibrated here)
IO_MIN_S, IO_MAX_S = 0.1, 0.9
MIXED_ROUNDS = 5
MIXED_BURST_UNITS = 2_000  # about 40 ms
MIXED_SLEEP_S = (0.02, 0.08)
PROGRESS_NS = 50_000_000  # report an interval still open after 50 ms (see burn)
PROGRESS_EVERY_NS = 50_000_000  # and again every 50 ms: twice a frame of the UI's 10 Hz

_perf = time.perf_counter_ns


@dataclass(frozen=True)
class WorkParams:
    """What every worker needs to rebuild its task's plan; small and picklable."""

    workload: str
    tasks: int
    scale: float = 1.0
    seed: int = 0
    faults: dict = field(default_factory=dict)  # task id -> "fail" | "hang" | "kill"
    net: NetParams | None = None  # the server to talk to (net workloads)

    def plan(self, task: int) -> list[tuple[str, float]]:
        """The steps of one task, reproducible from (workload, scale, seed, task)."""
        rnd = random.Random(self.seed * 1_000_003 + task)
        if self.workload == "io":
            return [("sleep", rnd.uniform(IO_MIN_S, IO_MAX_S) * self.scale)]
        if self.workload == "cpu":
            return [("cpu", max(1, int(CPU_UNITS * self.scale)))]
        steps: list[tuple[str, float]] = []
        for _ in range(MIXED_ROUNDS):
            steps.append(("cpu", max(1, int(MIXED_BURST_UNITS * self.scale))))
            steps.append(("sleep", rnd.uniform(*MIXED_SLEEP_S) * self.scale))
        return steps


def burn(rec: Recorder | None, task: int, units: int) -> int:
    """Do ``units`` of arithmetic, recording RUN intervals on ``rec``.

    After every unit the loop reads the clock. A gap between two reads longer than the probe's
    ``gap_ns()`` means the thread did not run (it waited for the GIL or for a CPU): the RUN
    interval ends at the last read and a new one starts now. The CPU is looked up at each new
    interval and about once a millisecond; a change of CPU also splits the interval.
    """
    if rec is None:
        return burn_plain(task, units)
    perf = _perf  # locals, not globals, in the hot loop
    getcpu = current_cpu
    gap = gap_ns()
    check_ns = CPU_CHECK_NS
    progress_ns = PROGRESS_NS
    progress_every_ns = PROGRESS_EVERY_NS
    x = task + 1
    start = last = perf()
    cpu = getcpu()
    next_check = last + check_ns
    for _ in range(units):
        for _ in range(ITERATIONS_PER_UNIT):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        now = perf()
        if now - last > gap:
            rec.add(RUN, task, start, last, cpu)
            cpu = getcpu()
            # rec.add may have flushed a batch: tens of microseconds of this thread running,
            # which belong to the new interval rather than make a false gap. A flush that took
            # longer (a full pipe) was waiting, so the interval starts after it.
            after = perf()
            start = now if after - now <= gap else after
            now = after
            next_check = now + check_ns
        elif now > next_check:
            c = getcpu()
            if c != cpu:
                rec.add(RUN, task, start, now, cpu)
                cpu = c
                after = perf()
                start = now if after - now <= gap else after
                now = after
            elif now - start > progress_ns and now - rec.last_flush > progress_every_ns:
                # a long open interval: report it so far (add() flushes it). Only past
                # PROGRESS_NS: a GIL turn (switch interval <= 50 ms) closes before that, so the
                # report never lands inside the turns the GIL figures are measured from.
                rec.add(PROGRESS, task, start, now, cpu)
                after = perf()
                if after - now > gap:
                    # the flush waited (the shared lock, a full pipe, or the OS preempted us on
                    # the way out of the write): that was not running, so the interval ends here
                    rec.add(RUN, task, start, now, cpu)
                    start = after
                now = after
            next_check = now + check_ns
        last = now
    rec.add(RUN, task, start, last, cpu)
    return x


def burn_plain(task: int, units: int) -> int:
    """The same arithmetic as :func:`burn` with the probe off (for overhead benchmarks)."""
    x = task + 1
    for _ in range(units):
        for _ in range(ITERATIONS_PER_UNIT):
            x = (x * 1103515245 + 12345) & 0xFFFFFFFF
    return x


class InjectedFault(RuntimeError):
    """Raised by a task that ``--fail-task`` told to fail."""


def _fault_point(params: WorkParams, task: int) -> None:
    fault = params.faults.get(task)
    if fault == "fail":
        raise InjectedFault(f"task {task} failed on purpose (--fail-task {task})")
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if fault == "hang":
        while True:
            time.sleep(3600)


def _with_midpoint(steps: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """Split a one-step plan in two, so that an injected fault strikes half-way through."""
    if len(steps) == 1:
        kind, amount = steps[0]
        half = amount // 2 if kind == "cpu" else amount / 2
        return [(kind, half), (kind, amount - half)]
    return steps


def run_sync(rec: Recorder, task: int, params: WorkParams) -> None:
    """Run one task's plan in a blocking way (threads, processes, sequential)."""
    if params.net is not None:  # a fault strikes half-way through the requests
        run_net_sync(rec, task, params.net, lambda: _fault_point(params, task))
        return
    steps = _with_midpoint(params.plan(task))
    for i, (kind, amount) in enumerate(steps):
        if i == len(steps) // 2:
            _fault_point(params, task)
        if kind == "cpu":
            burn(rec, task, int(amount))
        else:
            rec.sleep(task, amount)


async def run_async(rec: Recorder, task: int, params: WorkParams) -> None:
    """Run one task's plan on the event loop: sleeps are awaited, CPU work blocks the loop."""
    # imported here, not at the top: the interpreters model imports this module in
    # subinterpreters, where 3.12.1's _asyncio breaks the process's finalization
    import asyncio

    async def midpoint() -> None:
        if params.faults.get(task) == "hang":
            await asyncio.Event().wait()
        _fault_point(params, task)

    if params.net is not None:
        await run_net_async(rec, task, params.net, midpoint)
        return
    steps = _with_midpoint(params.plan(task))
    for i, (kind, amount) in enumerate(steps):
        if i == len(steps) // 2:
            await midpoint()
        if kind == "cpu":
            burn(rec, task, int(amount))
        else:
            t0 = _perf()
            rec.add(SLEEP_OPEN, task, t0, t0)  # the loop's recorder is flushed while idle
            await asyncio.sleep(amount)
            rec.add(SLEEP, task, t0, _perf())
