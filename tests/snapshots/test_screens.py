"""The main screen, replaying real recorded runs, at 80x24 and 120x36.

Each docstring says what a reviewer should see in the SVG.
"""

from __future__ import annotations

import pytest

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 36), id="120x36")]


@pytest.mark.parametrize("size", SIZES)
def test_threads_cpu(snap_compare, replay, size):
    """4 CPU-bound threads: lanes mostly ▒ (waiting for the GIL) with running blocks that take
    turns; the GIL holder lane changes task every few ms; the "in parallel" row stays at half
    height (one of two cores) and the caption says only one thread ran at a time."""
    assert snap_compare(replay("threads-cpu"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_processes_cpu(snap_compare, replay, size):
    """4 CPU-bound processes on 2 cores: two lanes run at any instant, the others wait for a
    CPU (░); both core rows are full at once; parallelism near 2; no GIL hand-offs."""
    assert snap_compare(replay("processes-cpu"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_interpreters_cpu(snap_compare, replay, size):
    """4 CPU-bound tasks in subinterpreters of ONE process (recorded under Python 3.13): every
    lane names its interpreter (interp 1..4), and begins after its start cost (SPAWN -> START,
    tens of ms, as a spawned process's); two lanes run at any instant, the others wait for a
    CPU (░, never ▒: no GIL is shared); both core rows are full at once; the GIL lane says each
    interpreter has its own GIL; the title says Python 3.13.0."""
    assert snap_compare(replay("interpreters-cpu"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_dask_cpu(snap_compare, replay, size):
    """6 CPU-bound Dask tasks on a LocalCluster of 2 single-threaded worker processes: each lane
    names its worker (w0@host / w1@host and its pid); the later tasks show their queued time (-,
    submit to start) before they begin; the cores pane is grouped by worker: a heading per
    worker ("worker 0 (pid ...) on vm: 1 thread, 3 tasks", its busy time), under it the CPUs its
    tasks ran on, each coloured by that worker's tasks; both workers are busy at once and "in
    parallel" is above one core's worth; the GIL lane says each worker has its own GIL; the
    stats bar says 2 workers on 1 host (and, at 120 columns, the cluster's start-up)."""
    assert snap_compare(replay("dask-cpu"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_dask_threads_cpu(snap_compare, replay, size):
    """4 CPU-bound Dask tasks on ONE worker process with 2 threads: the cores pane has one
    worker heading ("2 threads, 4 tasks") and its CPU lanes, where two tasks' colours take
    turns rather than run side by side; "in parallel" stays near one core's worth; the task
    lanes show GIL waits (▒) and the GIL lane hands off between the two threads."""
    assert snap_compare(replay("dask-threads-cpu"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_pool_cpu(snap_compare, replay, size):
    """multiprocessing.Pool with 2 workers and 6 tasks: labels show which worker (w0 / w1 and
    its pid) picked each task up; later tasks show their queued time (-) before they start."""
    assert snap_compare(replay("pool-cpu"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_asyncio_io(snap_compare, replay, size):
    """12 asyncio tasks sleeping on I/O: every lane is sleep dots (·) from the start, all on
    one thread; concurrency 12, cores idle, parallelism ~0."""
    assert snap_compare(replay("asyncio-io"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_sequential_io(snap_compare, replay, size):
    """Sequential I/O: each task sleeps only after the previous one finished (a staircase);
    concurrency 1."""
    assert snap_compare(replay("sequential-io"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_net_fast(snap_compare, replay, size):
    """net-fast under threads (8 connections x 200 requests, 2 ms replies): every lane a dense
    run of short waits (·) between instants of work, GIL hand-offs between them; the memory
    row under the cores, and the connections row (8 open, then 0); the stats bar gives the
    memory and its cost per task, and the server's connections (8 at most)."""
    assert snap_compare(replay("threads-net-fast"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_net_slow(snap_compare, replay, size):
    """net-slow under asyncio (2,000 connections x 1 request, 1 s replies): the first lanes of
    2,000, each one long wait; the memory row climbing as the connections open, the
    connections row full at 2,000 while they wait; concurrency 2,000 and memory per task in
    the stats bar."""
    assert snap_compare(replay("asyncio-net-slow"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_traced_threads(snap_compare, replay, size):
    """concviz trace of examples/cpu_threads.py (recorded): the title names the command and the
    sampler; T0 is the process (its main thread, blocked in join: ▓ on a lock), T1-T4 its
    threads (└TID) mostly ▒ waiting for the GIL with running blocks taking turns; the GIL lane
    says "inferred" and hands over among 1-4; the legend marks GIL, lock and I/O as inferred;
    the footer has no keys of concviz's own runs."""
    assert snap_compare(replay("trace-cpu-threads"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_traced_process_pool(snap_compare, replay, size):
    """concviz trace of examples/process_pool.py (recorded on a crowded machine): the parent
    (▓ waiting on its pool's lock, a helper thread sleeping ·), two worker processes running
    on both cores with waits for a CPU (░); "3 processes" in the title; no GIL lane holder (no
    thread waited for a GIL: each process has its own)."""
    assert snap_compare(replay("trace-process-pool"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_failed_task(snap_compare, replay, size):
    """A mixed run where task 2 raises: its lane stops half-way with ✗ failed, the others
    finish with ✓, and the stats count 1 failed."""
    assert snap_compare(replay("threads-failed"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_stopped_run(snap_compare, replay, size):
    """A mixed run of 4 processes stopped after 0.6 s (the s key): every lane ends there with
    ■ stopped in the note, not ✗ failed; the stats say stopped 4 and the caption "4 stopped"."""
    assert snap_compare(replay("processes-stopped"), terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_code_pane(snap_compare, replay, size):
    """The code pane (c): the threads snippet, highlighted, beside the lanes (120 wide) or in
    place of the cores pane (80 wide)."""
    assert snap_compare(replay("threads-cpu"), press=["c"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_event_log(snap_compare, replay, size):
    """The event log (l): one line per start / finish / failure, with times from the run's
    start, including task 2's failure message."""
    assert snap_compare(replay("threads-failed"), press=["l"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_results_pane(snap_compare, replay, size):
    """The results pane (t) after two rounds of every model (recorded, cpu, 4 tasks, scale 0.3):
    the three process models share rank 1= at about 2x sequential; the four single-GIL models
    share the next rank, near 1.00x; each row says 2 runs and the spread of its wall time."""
    from tests.fixtures.record import load_results

    app = replay("sequential-cpu")
    load_results(app.runs.results, "results-cpu")
    assert snap_compare(app, press=["t"], terminal_size=size)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, replay, size):
    """The help screen (?): what each pane means, the legend and the keys."""
    assert snap_compare(replay("threads-cpu"), press=["question_mark"], terminal_size=size)


def test_too_small(snap_compare, replay):
    """A 40x12 terminal: one clear line asking for a larger terminal, nothing broken."""
    assert snap_compare(replay("threads-cpu"), terminal_size=(40, 12))


@pytest.mark.parametrize("size", SIZES)
def test_start_screen(snap_compare, size):
    """Before any run: the chosen model's explanation, the workload, what to press and the rule
    of thumb, with this machine's facts replaced by fixed ones so the picture is stable."""
    from concviz.app import ConcvizApp
    from concviz.engine.spec import RunSpec

    app = ConcvizApp(RunSpec(model="threads", workload="cpu", tasks=4).validate(), live_ticks=False)
    app.main.machine = {"python": "3.11.7", "gil": True, "switch_interval_ms": 5.0, "cpus": 2,
                   "start_method": "fork"}
    assert snap_compare(app, terminal_size=size)
