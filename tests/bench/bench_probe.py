"""Probe overhead: CPU workload throughput with the probe on / with it off.

Same worker code both ways: ``workloads.burn`` with a real Recorder writing through a real
Sink (a pipe drained by a child process), and ``workloads.burn_plain`` (the same arithmetic,
probe off). Pairs are interleaved (order alternating) so drift and neighbours hit both sides
alike; the figure is the median of the per-pair ratios of thread CPU time (immune to
preemption by other processes), the wall-clock ratio is reported next to it.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import common  # noqa: F401  (puts the repo on sys.path)
from common import median

from concviz.engine import workloads
from concviz.engine.probe import Recorder, Sink


def _drain(read_fd: int, write_fd: int) -> None:
    from multiprocessing.connection import Connection

    os.close(write_fd)  # else the pipe never reaches end-of-file
    conn = Connection(read_fd, writable=False)
    while True:
        try:
            conn.recv_bytes()
        except (EOFError, OSError):
            os._exit(0)


def probe_overhead(quick: bool = False) -> dict:
    from multiprocessing.connection import Connection

    units = 1_500  # ~30 ms a side: short pairs are less often hit by other processes
    pairs = 9 if quick else 41
    r, w = os.pipe()
    ctx = multiprocessing.get_context("fork")
    drain = ctx.Process(target=_drain, args=(r, w), daemon=True)
    drain.start()
    os.close(r)
    sink = Sink(Connection(w, readable=False), ctx.Lock())

    def pair(i: int) -> tuple[float, float]:
        workloads.burn_plain(i, 500)  # after the quiet wait the core is cold: warm it for both sides
        sides = {}
        for side in (("plain", "probe") if i % 2 == 0 else ("probe", "plain")):
            rec = Recorder(sink) if side == "probe" else None
            c0, t0 = time.thread_time(), time.perf_counter()
            if rec is None:
                workloads.burn_plain(i, units)
            else:
                workloads.burn(rec, i, units)
                rec.flush()
            sides[side] = (time.thread_time() - c0, time.perf_counter() - t0)
        return sides["plain"][0] / sides["probe"][0], sides["plain"][1] / sides["probe"][1]

    cpu_ratios, wall_ratios, background = [], [], []
    try:
        workloads.burn_plain(0, units // 5)  # warm up both paths
        workloads.burn(Recorder(sink), 0, units // 5)
        for i in range(pairs):
            (c, wr), bg = common.quiet(lambda: pair(i), tries=3 if not quick else 1,
                                       max_wait_s=5.0 if not quick else 0.5)
            cpu_ratios.append(c)
            wall_ratios.append(wr)
            background.append(round(bg, 3))
    finally:
        sink.conn.close()
        drain.join(5)
        if drain.is_alive():
            drain.kill()
            drain.join()
    return {
        "figures": {"probe_overhead_ratio": median(cpu_ratios)},
        "notes": {"probe_overhead_ratio": (f"median of {pairs} interleaved pairs of {units:,} units, thread CPU "
                                           f"time, each pair when the machine was quiet; wall-clock ratio "
                                           f"{median(wall_ratios):.3f}")},
        "details": {"probe": {"units_per_side": units, "pairs": pairs,
                              "cpu_ratios": [round(x, 4) for x in cpu_ratios],
                              "wall_ratio_median": median(wall_ratios), "background_cores": background}},
    }


BENCHMARKS = {"probe": probe_overhead}
