"""Dask workers whose clock is not the experiment's (issue 17): their times are brought onto the
experiment's axis through the scheduler's wall clock.

A real second machine is not at hand. What is: a Linux time namespace (``unshare --time``, no
privilege needed inside a user namespace), whose CLOCK_MONOTONIC - ``perf_counter_ns`` - is
really shifted, while the boot id and the wall clock stay this machine's. A worker started in
one is a worker with another monotonic clock, connected through the network like any other.
What it does not exercise: a wall clock that differs (another machine's, NTP apart), which is
what Dask's own offset (``Worker.scheduler_delay``) corrects.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from concviz.engine.experiment import run_to_frame
from concviz.engine.models.dask_clock import ClockId, clock_id, shares_clock, shift, to_scheduler_ns
from concviz.engine.spec import RunSpec, unavailable

from .helpers import failure_report

SHIFT_S = 1000  # how far the namespace's monotonic clock is ahead of this one's
needs_dask = pytest.mark.skipif(bool(unavailable("dask")), reason=unavailable("dask") or "-")


def time_namespace_works() -> bool:
    """Whether this machine lets an unprivileged process start one with a shifted clock."""
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    probe = [*unshare(), sys.executable, "-c", "import time; print(time.monotonic())"]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and float(out.stdout) - time.monotonic() > SHIFT_S / 2


def unshare() -> list[str]:
    return ["unshare", "--user", "--map-root-user", "--time", f"--monotonic={SHIFT_S}"]


def test_worker_times_on_the_scheduler_clock_and_back():
    # a worker whose wall clock is perf + 1000 s, 2 ms behind the scheduler's
    t = to_scheduler_ns(5_000, 1_000 * 10**9, 0.002)
    assert t == 5_000 + 1_000 * 10**9 + 2_000_000
    # the experiment, whose perf clock is the scheduler's wall clock - 1000 s, gets 5 us + 2 ms
    assert shift([(2, 0, 1, 1, t, t, 0, None)], -1_000 * 10**9) == [(2, 0, 1, 1, 5_000 + 2_000_000,
                                                                       5_000 + 2_000_000, 0, None)]


def test_clocks_are_shared_only_on_one_boot_with_the_same_monotonic_clock():
    here = clock_id()
    assert shares_clock(here, clock_id())  # another reading in this process: the same clock
    assert not shares_clock(ClockId("another-boot", here.wall_minus_perf_ns), here)
    assert not shares_clock(ClockId("", here.wall_minus_perf_ns), ClockId("", here.wall_minus_perf_ns))
    # the same boot, the monotonic clock shifted (a time namespace): not the same clock
    assert not shares_clock(ClockId(here.boot, here.wall_minus_perf_ns - SHIFT_S * 10**9), here)


@needs_dask
@pytest.mark.slow
@pytest.mark.skipif(not time_namespace_works(), reason="no unprivileged time namespace here (unshare --time)")
def test_a_worker_with_a_shifted_monotonic_clock_is_mapped_onto_the_experiment_s(tmp_path: Path):
    """A cluster whose only worker runs in a time namespace (its perf_counter 1000 s ahead, its
    boot id the same): concviz --scheduler sees that its clock is another one, says so in the
    header with the offset's uncertainty, and the tasks' times fall where the experiment saw them
    submitted and their results come back, not 1000 s off; their CPUs are not this machine's
    core lanes."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=0, processes=True, dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        worker = subprocess.Popen(
            [*unshare(), sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
             "--nthreads", "1", "--no-nanny", "--no-dashboard", "--local-directory", str(tmp_path), "--name", "far"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            client.wait_for_workers(1, timeout=60)
            before = time.perf_counter_ns()
            frame = run_to_frame(RunSpec(model="dask", workload="cpu", tasks=2, scale=0.2,
                                         scheduler=cluster.scheduler_address).validate())
            after = time.perf_counter_ns()
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    why = failure_report(frame)
    assert frame.ended == "ok" and frame.stats["done"] == 2, why
    clock = frame.header["cluster"]["clock"]
    assert clock["workers_elsewhere"] == 1, clock
    uncertainty = clock["uncertainty_ns"]
    assert 0 < uncertainty < 1e9, clock
    # ours to the scheduler, and the worker's own to it (half its heartbeats' round trip)
    assert clock["scheduler_ns"] > 0 and clock["worker_ns"] > 0, clock
    assert uncertainty == clock["scheduler_ns"] + clock["worker_ns"], clock
    assert frame.stats["cluster"]["clock_uncertainty_ms"] == uncertainty / 1e6
    # within the offset's uncertainty, and the worker's own offset's error (its heartbeats)
    slack = uncertainty + 50_000_000
    for t in frame.tasks:
        assert before - slack <= t.spawn_ns - slack <= t.start_ns < t.end_ns <= after + slack, why
        assert 0.02e9 < t.end_ns - t.start_ns < after - before, why
        # another clock, another machine as far as CPUs go: none of this machine's core lanes
        assert t.n_runs and {cpu for _, _, cpu in t.runs.tagged(0, t.n_runs)} == {-1}, why
    assert [row["cpu"] for row in frame.stats["per_core"]] == [-1], why
