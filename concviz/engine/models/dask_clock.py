"""Time across a Dask cluster: which workers share the experiment's clock, and how the others'
times are brought onto it.

``perf_counter_ns`` is CLOCK_MONOTONIC: the experiment's time axis, and one clock for every
process of one boot of one machine (the kernel's boot id names it) - unless a time namespace
shifts it (a container may), which keeps the boot id. So a worker shares the experiment's clock
when it has the same boot id and the same wall-clock-minus-monotonic difference (both clocks are
slewed alike by NTP: the difference moves only when the wall clock is stepped). A worker on
another machine, or in a time namespace of its own, has another: its probe's times go out as
the scheduler's wall clock instead, using the offset Dask itself keeps between the worker's
clock and the scheduler's (``Worker.scheduler_delay``, renewed at each heartbeat), and the
experiment maps the scheduler's wall clock onto its own axis by the offset it measured in round
trips (:func:`measure_offset`), whose uncertainty (half the best round trip) the figures show.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

from concviz.engine.events import EV_CPU, EV_T0, EV_T1

OFFSET_SAMPLES = 7


def boot_id() -> str:
    """This machine's boot id ("" where there is none): processes with the same one read the
    same CLOCK_MONOTONIC."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return ""


# how far apart two processes' wall-minus-monotonic differences may be on one clock: the two
# readings of each are a microsecond apart; a step of the wall clock in between moves them more
SAME_CLOCK_NS = 50_000_000


class ClockId(NamedTuple):
    """Which monotonic clock a process reads: its machine's boot id, and its wall clock minus
    its ``perf_counter_ns`` (a time namespace shifts the second, not the first)."""

    boot: str
    wall_minus_perf_ns: int


def clock_id() -> ClockId:
    """This process's :class:`ClockId`."""
    return ClockId(boot_id(), time.time_ns() - time.perf_counter_ns())


def shares_clock(worker: ClockId, experiment: ClockId) -> bool:
    """A worker with this clock id reads the experiment's monotonic clock (an unknown boot id
    on either side: assume not)."""
    return (bool(worker.boot) and worker.boot == experiment.boot
            and abs(worker.wall_minus_perf_ns - experiment.wall_minus_perf_ns) < SAME_CLOCK_NS)


def to_scheduler_ns(t_perf_ns: int, wall_minus_perf_ns: int, scheduler_delay_s: float) -> int:
    """A worker's ``perf_counter_ns`` reading as the scheduler's wall clock, in ns: its own wall
    clock at that instant, plus the offset Dask measured (scheduler time = worker time + delay)."""
    return t_perf_ns + wall_minus_perf_ns + int(scheduler_delay_s * 1e9)


def events_to_scheduler(events: list, scheduler_delay_s: float) -> list:
    """A worker's events with their times on the scheduler's wall clock, and no CPU: the core
    lanes are this machine's cores, and another machine's CPU 0 is not this one's."""
    wall_minus_perf = time.time_ns() - time.perf_counter_ns()
    return [(*e[:EV_T0], to_scheduler_ns(e[EV_T0], wall_minus_perf, scheduler_delay_s),
             to_scheduler_ns(e[EV_T1], wall_minus_perf, scheduler_delay_s), -1, *e[EV_CPU + 1:]) for e in events]


def shift(events: list, by_ns: int) -> list:
    """``events`` with both times moved by ``by_ns``."""
    return [(*e[:EV_T0], e[EV_T0] + by_ns, e[EV_T1] + by_ns, *e[EV_T1 + 1:]) for e in events]


class Offset(NamedTuple):
    """The scheduler's wall clock minus the experiment's perf_counter, in ns, and how far off
    that may be (half the round trip of the best sample)."""

    ns: int
    uncertainty_ns: int


def measure_offset(ask_scheduler_time: Any, samples: int = OFFSET_SAMPLES) -> Offset:
    """Ask the scheduler its ``time.time()`` a few times; keep the sample with the shortest
    round trip, taken as read at its midpoint."""
    best: Offset | None = None
    for _ in range(samples):
        t0 = time.perf_counter_ns()
        scheduler_s = ask_scheduler_time()
        t1 = time.perf_counter_ns()
        sample = Offset(int(scheduler_s * 1e9) - (t0 + t1) // 2, (t1 - t0) // 2)
        if best is None or sample.uncertainty_ns < best.uncertainty_ns:
            best = sample
    assert best is not None
    return best
