"""Every model, run for real on 4 tasks: it completes, and it measures what the model is known
to do (issue 2, acceptance 1 to 3).

Each (model, workload) pair runs once per session (``cached_run``) and several tests read the
same Frame. Margins are wide on purpose: the CI machine has 2 cores and other jobs run on it.
"""

from __future__ import annotations

import pytest

from concviz.engine.workloads import WorkParams

from .helpers import (ALL_MODELS, CPU_SCALE, CPUS, IO_SCALE, OTHER_LOAD, PROCESS_MODELS, THREAD_MODELS,
                      cached_run, failure_report, run)

TASKS = 4


def cpu_run(model: str):
    return cached_run(model=model, workload="cpu", tasks=TASKS, scale=CPU_SCALE)


def io_run(model: str):
    return cached_run(model=model, workload="io", tasks=TASKS, scale=IO_SCALE)


def io_sleeps() -> list[float]:
    params = WorkParams("io", TASKS, IO_SCALE, 0)
    return [sum(v for k, v in params.plan(t) if k == "sleep") for t in range(TASKS)]


@pytest.mark.parametrize("workload", ["io", "cpu"])
@pytest.mark.parametrize("model", ALL_MODELS)
def test_model_completes(model, workload):
    frame = cpu_run(model) if workload == "cpu" else io_run(model)
    s = frame.stats
    why = failure_report(frame)
    assert frame.ended == "ok", why
    assert s["tasks"] == TASKS and s["done"] == TASKS and s["failed"] == 0, why
    assert [t.status for t in frame.tasks] == ["done"] * TASKS, why
    for t in frame.tasks:
        assert t.spawn_ns is not None and t.spawn_ns <= t.start_ns <= t.end_ns, why
        assert t.pid and t.tid, why
    if workload == "cpu":
        # every task did its arithmetic, and it was measured as running time on a known core
        assert all(t.run_ns > 0 for t in frame.tasks), why
        assert s["busy_s"] > 0 and s["run_intervals"] >= TASKS, why
        assert all(t.cpus and min(t.cpus) >= 0 for t in frame.tasks), why
    else:
        slept = [t.sleep_ns / 1e9 for t in frame.tasks]
        for got, planned in zip(slept, io_sleeps()):
            # a sleep lasts at least what was asked; allow a lot for a loaded machine
            assert planned * 0.98 <= got <= planned + 0.25, why


@pytest.mark.parametrize("model", THREAD_MODELS)
def test_cpu_threads_share_one_gil(model):
    frame = cpu_run(model)
    s = frame.stats
    why = failure_report(frame)
    assert s["parallelism"] < 1.25, why
    assert s["gil_switches"] > 0, why
    # all the tasks ran in one process, on more than one thread
    assert len({t.pid for t in frame.tasks}) == 1, why
    assert len({t.tid for t in frame.tasks}) > 1, why
    # and the time they spent off the GIL is attributed to it
    gil_wait = sum(row["gil_wait_s"] for row in frame.per_task())
    assert gil_wait > 0.1 * s["busy_s"], why


# Parallelism needs free cores. This machine is shared: when other processes keep a core busy
# during the run, 4 processes get about one core between them, and that is what the probe
# measures (correctly). Such a run proves nothing either way, so it is run again; if every
# attempt was crowded out, the test is skipped with the figures rather than passed or failed.
CROWDED_CORES = 0.5  # other processes used more than half a core on average during the run
ATTEMPTS = 3


@pytest.mark.skipif(CPUS < 2, reason="parallelism needs at least 2 CPUs")
@pytest.mark.parametrize("model", PROCESS_MODELS)
def test_cpu_processes_run_in_parallel(model):
    # (a dask task reaches its worker through the scheduler after the one before it reported
    # back: tasks of a fraction of a second would measure that hand-off as much as the cores)
    scale = CPU_SCALE * (3 if model == "dask" else 1)
    frame = cpu_run(model) if model != "dask" else run(model=model, workload="cpu", tasks=TASKS, scale=scale)
    seen = []
    for attempt in range(ATTEMPTS):
        if attempt:
            frame = run(model=model, workload="cpu", tasks=TASKS, scale=scale)
        others = OTHER_LOAD[id(frame)]
        seen.append(f"parallelism {frame.stats['parallelism']:.2f} with other processes using "
                    f"{others:.2f} cores")
        if frame.stats["parallelism"] > 1.4 or others <= CROWDED_CORES:
            break
    else:
        pytest.skip(f"every run was crowded out by other work on this machine: {'; '.join(seen)}")
    s = frame.stats
    why = f"{'; '.join(seen)} | {failure_report(frame)}"
    assert s["parallelism"] > 1.4, why
    assert s["gil_switches"] == 0, why  # each process has its own GIL: nothing to hand off
    assert len({t.pid for t in frame.tasks}) >= 2, why
    assert len(s["per_core"]) >= 2, why


@pytest.mark.parametrize("model", ["sequential", "asyncio"])
def test_cpu_single_thread_models_do_not_overlap_cpu(model):
    frame = cpu_run(model)
    s = frame.stats
    why = failure_report(frame)
    assert s["parallelism"] < 1.1, why
    assert s["gil_switches"] == 0, why
    assert len({(t.pid, t.tid) for t in frame.tasks}) == 1, why


@pytest.mark.parametrize("model", ["asyncio", "threads"])
def test_io_waits_overlap(model):
    frame = io_run(model)
    s = frame.stats
    why = failure_report(frame)
    total, longest = sum(io_sleeps()), max(io_sleeps())
    assert s["concurrency_max"] == TASKS, why
    # overlapped, the run lasts about as long as its longest sleep; in sequence, their sum
    assert longest * 0.98 <= s["wall_s"] < 0.6 * total, f"sum of sleeps {total:.3f} s; {why}"
    assert s["busy_s"] < 0.1 * s["wall_s"], why  # sleeping is not running


def test_io_sequential_waits_add_up():
    frame = io_run("sequential")
    s = frame.stats
    why = failure_report(frame)
    total = sum(io_sleeps())
    assert s["concurrency_max"] == 1, why
    assert 0.9 * total <= s["wall_s"] <= 1.5 * total, f"sum of sleeps {total:.3f} s; {why}"
    assert s["concurrency_mean"] == pytest.approx(1.0, abs=0.1), why


@pytest.mark.parametrize("model", ["pool", "thread-pool", "process-pool"])
def test_io_pools_cap_concurrency_at_pool_size(model):
    frame = io_run(model)
    why = failure_report(frame)
    assert frame.stats["concurrency_max"] == min(TASKS, CPUS), why
    if CPUS < TASKS:
        # tasks beyond the pool size waited in the queue before a worker took them
        assert max(t.start_ns - t.spawn_ns for t in frame.tasks) > 0.02 * 1e9, why


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
@pytest.mark.parametrize("model", PROCESS_MODELS)
def test_process_models_work_with_each_start_method(model, method):
    import multiprocessing

    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    frame = run(model=model, workload="mixed", tasks=3, scale=0.1, start_method=method)
    why = failure_report(frame)
    assert frame.header["machine"]["start_method"] == method, why
    assert [t.status for t in frame.tasks] == ["done"] * 3, why
    # the tasks ran in worker processes, not in the experiment process itself
    assert frame.header["experiment_pid"] not in {t.pid for t in frame.tasks}, why
    assert all(t.run_ns > 0 and t.sleep_ns > 0 for t in frame.tasks), why


def test_a_long_running_interval_is_reported_while_it_is_open():
    """A CPU-bound worker that runs without a break reports its open interval (PROGRESS) before
    it ends, so a live view shows it running, not silent; and no more often than every
    PROGRESS_EVERY_NS, so the reports cost the worker and the UI little."""
    from concviz.engine.events import FINISH, PROGRESS, RUN
    from concviz.engine.experiment import Experiment
    from concviz.engine.spec import RunSpec
    from concviz.engine.workloads import PROGRESS_EVERY_NS, PROGRESS_NS

    exp = Experiment(RunSpec(model="processes", workload="cpu", tasks=1, scale=1.0).validate())
    exp.start()
    seen: list[tuple] = []
    status, _, _ = exp.pump_to_end(lambda tag, payload: seen.extend(payload) if tag == "E" else None)
    assert status == "ok"
    kinds = [e[0] for e in seen]
    assert FINISH in kinds
    # an interval is reported once it has been open PROGRESS_NS, then every PROGRESS_EVERY_NS;
    # on a crowded machine the OS preempts the worker, which splits its intervals before that
    long = [e for e in seen if e[0] == RUN and e[5] - e[4] > PROGRESS_NS + 2 * PROGRESS_EVERY_NS]
    if not long:
        longest = max((e[5] - e[4] for e in seen if e[0] == RUN), default=0)
        pytest.skip(f"crowded: the worker never ran {PROGRESS_NS + 2 * PROGRESS_EVERY_NS} ns "
                    f"without a break (longest {longest} ns)")
    reports = [e for e in seen[: kinds.index(FINISH)] if e[0] == PROGRESS]
    for r in long:  # each long interval was reported while it was open
        assert any(p[4] == r[4] and p[5] <= r[5] for p in reports), (r, reports)
    assert len(reports) >= 2, f"{len(reports)} PROGRESS before the task finished"
    # a report, then the next no sooner than PROGRESS_EVERY_NS later (it was 10 ms: 5x the
    # messages for the UI to read, and a flush of the worker's each time)
    gaps = [b[5] - a[5] for a, b in zip(reports, reports[1:])]
    assert min(gaps) >= PROGRESS_EVERY_NS, [g / 1e6 for g in gaps]
