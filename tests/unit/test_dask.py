"""The dask model (issue 17): a LocalCluster per run, the probe's events through Dask's
structured events, its bad input refused in one line, and its refusal without the extra.

The runs are real (a LocalCluster of spawned worker processes, a second or two to start): they
are marked slow. Margins are wide: the machine has 2 cores and other work runs on it.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time

import pytest

from concviz.engine import pythons
from concviz.engine.spec import EXTRAS, NotApplicable, RunSpec, SpecError, Unavailable, models_for, unavailable

from concviz.engine.experiment import run_to_frame

from .helpers import CPUS, OTHER_LOAD, failure_report, in_group, run

HAS_DASK = not unavailable("dask")
needs_dask = pytest.mark.skipif(not HAS_DASK, reason=unavailable("dask") or "-")
CROWDED_CORES = 0.5  # as test_models: a run crowded out by other work proves nothing
ATTEMPTS = 3


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "concviz", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, -1, 1.5, 65])
def test_threads_per_worker_out_of_range_is_refused(n):
    with pytest.raises(SpecError, match="threads per worker must be"):
        RunSpec(model="dask", threads_per_worker=n).validate()


@pytest.mark.parametrize("flag,value", [("threads_per_worker", 2), ("scheduler", "tcp://127.0.0.1:8786")])
@pytest.mark.parametrize("model", ["threads", "process-pool"])
def test_dask_options_are_refused_for_other_models(model, flag, value):
    with pytest.raises(NotApplicable, match="only for the dask model"):
        RunSpec(model=model, **{flag: value}).validate()


@pytest.mark.parametrize("address", ["http://host:8786", "tcp://host:port", "tcp://:8786", "tcp://h:70000", "  "])
def test_a_scheduler_that_is_no_address_is_refused(address):
    with pytest.raises(SpecError, match="--scheduler"):
        RunSpec(model="dask", scheduler=address).validate()


def test_scheduler_addresses_accepted():
    from concviz.engine.spec import scheduler_host_port

    assert scheduler_host_port("tcp://10.0.0.5:8786") == ("10.0.0.5", 8786)
    assert scheduler_host_port("box") == ("box", 8786)
    assert scheduler_host_port("[::1]:9000") == ("::1", 9000)


def test_workers_with_an_existing_cluster_are_refused():
    with pytest.raises(NotApplicable, match="has its own workers"):
        RunSpec(model="dask", scheduler="tcp://127.0.0.1:8786", workers=2).validate()


def test_compare_keeps_dask_options_to_dask():
    spec = RunSpec(model="dask", threads_per_worker=2, workers=1).validate()
    assert spec.for_model("threads").threads_per_worker is None
    assert spec.for_model("process-pool").workers == 1
    assert spec.for_model("dask").threads_per_worker == 2


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: nothing listens there


@needs_dask
def test_unreachable_scheduler_is_one_line_within_seconds():
    t0 = time.monotonic()
    out = cli("run", "-m", "dask", "-n", "2", "--scheduler", f"tcp://127.0.0.1:{closed_port()}")
    took = time.monotonic() - t0
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0], out.stderr
    assert took < 10, took  # the address is given DASK_CONNECT_S, the rest is Python's start


def test_scheduler_with_a_non_dask_model_is_refused_on_the_command_line():
    out = cli("run", "-m", "process-pool", "--scheduler", "tcp://127.0.0.1:8786")
    assert out.returncode == 2 and "only for the dask model" in out.stderr and "Traceback" not in out.stderr


# --- without the extra -----------------------------------------------------------------------
@pytest.fixture
def no_dask(monkeypatch):
    """This Python as if Dask were not installed."""
    monkeypatch.setattr(pythons, "_THIS", dataclasses.replace(pythons.this_python(), dask=""))


def test_without_the_extra_dask_is_listed_and_refused_in_one_line(no_dask):
    from concviz.engine.models import MODELS

    assert "dask" in MODELS  # listed (the TUI's help, --help) ...
    assert "dask" not in models_for()  # ... but not offered to run
    with pytest.raises(Unavailable) as got:
        RunSpec(model="dask").validate().check_runnable()
    assert str(got.value) == EXTRAS["dask"] and "pip install 'concviz[dask]'" in str(got.value)
    assert "\n" not in str(got.value)


def test_a_python_without_dask_is_refused_on_the_command_line():
    """The real path: a Python here without Dask (--python), told in one line, exit 2."""
    from .helpers import pythons_here

    bare = next((p for p in pythons_here().values() if not pythons.describe(p).dask), None)
    if bare is None:
        pytest.skip("every Python here has Dask")
    out = cli("run", "-m", "dask", "--python", bare)
    assert out.returncode == 2, out
    assert out.stderr.strip() == f"concviz: error: {EXTRAS['dask']}", out.stderr


# --- real runs on a LocalCluster -------------------------------------------------------------
@needs_dask
@pytest.mark.slow
def test_local_cluster_run_spreads_tasks_over_its_workers():
    frame = run(model="dask", workload="cpu", tasks=4, scale=0.4, workers=2)
    why = failure_report(frame)
    s = frame.stats
    assert frame.ended == "ok" and s["done"] == 4, why
    # every task ran in a worker process, not in the experiment, and both workers took some
    assert frame.header["experiment_pid"] not in {t.pid for t in frame.tasks}, why
    assert len({t.pid for t in frame.tasks}) == 2, why
    assert all(t.label and t.label.startswith("w") and "@" in t.label for t in frame.tasks), why
    assert all(t.run_ns > 0 and t.cpus for t in frame.tasks), why
    # the cluster: its start-up measured, its workers and hosts told
    c = s["cluster"]
    assert c["local"] and c["workers"] == 2 and c["threads"] == 2 and len(c["hosts"]) == 1, c
    assert 0.05 < c["start_s"] < 60, c
    # the time each task queued (submit to start) is measured and never negative
    assert all(t.start_ns >= t.spawn_ns for t in frame.tasks), why


@needs_dask
@pytest.mark.slow
def test_events_arrive_live_in_batches():
    """The probe's batches cross the cluster while the tasks run, not in one piece at the end."""
    from concviz.engine.events import FINISH, PROGRESS, RUN, START
    from concviz.engine.experiment import Experiment

    exp = Experiment(RunSpec(model="dask", workload="cpu", tasks=2, scale=1.0, workers=2).validate())
    exp.start()
    batches = []
    try:
        status = exp.pump(lambda tag, payload: batches.append(payload) if tag == "E" else None)
    finally:
        exp.close()
    assert status == "ok"
    task_batches = [b for b in batches if any(e[0] in (START, RUN, PROGRESS, FINISH) for e in b)]
    assert len(task_batches) >= 10, len(task_batches)  # ~0.5 s per task, a batch every ~10 ms


@needs_dask
@pytest.mark.slow
def test_failing_task_fails_alone():
    frame = run(model="dask", workload="cpu", tasks=3, scale=0.2, workers=2, fail_task=1)
    why = failure_report(frame)
    assert [t.status for t in frame.tasks] == ["done", "failed", "done"], why
    assert "InjectedFault" in frame.tasks[1].error, why


def parallelism(workers: int, threads: int) -> tuple[float, float]:
    frame = run(model="dask", workload="cpu", tasks=4, scale=1.0, workers=workers, threads_per_worker=threads)
    assert frame.stats["done"] == 4, failure_report(frame)
    return frame.stats["parallelism"], OTHER_LOAD[id(frame)]


@needs_dask
@pytest.mark.slow
@pytest.mark.skipif(CPUS < 2, reason="parallelism needs at least 2 CPUs")
def test_two_single_threaded_workers_run_in_parallel_two_threads_of_one_take_turns():
    """2 worker processes x 1 thread fill both cores; 1 worker x 2 threads share its GIL."""
    seen = []
    for _ in range(ATTEMPTS):
        (apart, load_a), (shared, load_s) = parallelism(2, 1), parallelism(1, 2)
        seen.append(f"2x1 {apart:.2f} (others {load_a:.2f} cores), 1x2 {shared:.2f} (others {load_s:.2f})")
        if max(load_a, load_s) <= CROWDED_CORES or apart > 1.4:
            break
    else:
        pytest.skip(f"every run was crowded out by other work on this machine: {'; '.join(seen)}")
    assert apart > 1.4, seen
    assert shared <= 1.1, seen


@needs_dask
@pytest.mark.slow
def test_a_killed_worker_s_task_is_retried_and_its_lane_shows_both_attempts():
    """--kill-task 1: the worker running task 1 is SIGKILLed half-way; Dask runs it again (on a
    restarted or the other worker) and the run completes. The lane keeps the lost attempt's
    running time before the retry's start, and the retry is labelled as the second attempt."""
    frame = run(model="dask", workload="cpu", tasks=3, scale=0.4, workers=2, kill_task=1)
    why = failure_report(frame)
    assert frame.ended == "ok" and [t.status for t in frame.tasks] == ["done"] * 3, why
    t = frame.tasks[1]
    assert t.label.startswith("#2 w"), why
    lost = [(a, b) for a, b in t.runs.spans(0, t.n_runs) if b <= t.start_ns]
    # the first attempt ran before it died: what it reported of it (its last batch, up to 30 ms,
    # dies with its worker) stays in the lane, before the retry's start
    assert lost and sum(b - a for a, b in lost) > 0, why


@needs_dask
@pytest.mark.slow
def test_an_existing_cluster_is_left_running_and_concviz_s_tasks_are_gone_from_it():
    """--scheduler: the run uses the cluster's workers; at the end (here the time limit, a task
    hanging) the cluster still runs, with the same workers, and holds none of concviz's tasks."""
    import logging

    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        workers = set(client.scheduler_info()["workers"])
        pids = set(client.run(os.getpid).values())
        # (not helpers.run: the tasks' processes are the cluster's, and outlive the run on purpose)
        frame = run_to_frame(RunSpec(model="dask", workload="io", tasks=3, scale=0.2, hang_task=2, timeout_s=3,
                                     scheduler=cluster.scheduler_address).validate())
        why = failure_report(frame)
        assert frame.ended == "timeout", why
        assert [t.status for t in frame.tasks[:2]] == ["done", "done"], why
        assert not frame.stats["cluster"]["local"] and frame.stats["cluster"]["workers"] == 2, why
        assert {t.pid for t in frame.tasks} <= pids, why  # the cluster's own workers ran them
        assert not in_group(frame.header["experiment_pid"])  # the experiment's own processes are gone
        deadline = time.monotonic() + 10
        left = None
        while time.monotonic() < deadline:
            left = client.run_on_scheduler(lambda dask_scheduler: [k for k in dask_scheduler.tasks
                                                                   if str(k).startswith("concviz-")])
            if not left:
                break
            time.sleep(0.1)
        assert not left, left
        assert set(client.scheduler_info()["workers"]) == workers  # still running, the same workers


# --- clocks ----------------------------------------------------------------------------------
@needs_dask
@pytest.mark.slow
def test_a_worker_elsewhere_sends_scheduler_time_that_maps_onto_the_experiment_s_clock():
    """A worker that does not share the experiment's clock (here: told another boot id) sends its
    times on the scheduler's wall clock; mapped back with the measured offset they fall inside
    the experiment's own submit .. result window, within the offset's uncertainty."""
    import logging
    import threading

    from distributed import Client, LocalCluster

    from concviz.engine.events import FINISH, START
    from concviz.engine.models.dask_clock import ClockId, clock_id, measure_offset
    from concviz.engine.models.dask_model import TOPIC, dask_task
    from concviz.engine.workloads import WorkParams

    got, done = [], threading.Event()

    def on_event(event):
        got.append(event[1])
        if any(e[0] == FINISH for e in event[1]["events"]):
            done.set()

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.subscribe_topic(TOPIC, on_event)
        offset = measure_offset(lambda: client.run_on_scheduler(time.time))
        before = time.perf_counter_ns()
        assert client.submit(dask_task, 0, WorkParams("cpu", 1, 0.2, 0), None,
                             ClockId("another-machine", clock_id().wall_minus_perf_ns),
                             pure=False).result(timeout=30)
        after = time.perf_counter_ns()
        assert done.wait(10)
    assert all(b["clock"] == "scheduler" for b in got)
    events = [e for b in got for e in b["events"]]
    assert all(e[6] == -1 for e in events)  # another machine's CPUs are not this one's core lanes
    start = next(e[4] for e in events if e[0] == START) - offset.ns
    finish = next(e[4] for e in events if e[0] == FINISH) - offset.ns
    slack = offset.uncertainty_ns + 20_000_000  # + the worker's own offset's error (its heartbeats)
    assert before - slack <= start < finish <= after + slack, (before, start, finish, after, offset)
    assert 0.05e9 < finish - start < after - before + slack
