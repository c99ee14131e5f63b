"""Timeline and Frame on synthetic events: the arithmetic behind every figure, no processes.

Times are written in milliseconds from an arbitrary origin and converted to nanoseconds, the
unit of ``perf_counter_ns``. Events are the wire tuples ``(kind, task, pid, tid, t0, t1, cpu,
info)``.
"""

from __future__ import annotations

import pytest

from concviz.engine.events import ERROR, FINISH, RUN, SLEEP, SPAWN, START
from concviz.engine.timeline import DONE, FAILED, NOT_STARTED, PENDING, QUEUED, RUNNING, Timeline

ORIGIN = 5_000_000_000  # any clock value: perf_counter_ns has an arbitrary origin
MS = 1_000_000


def t(ms: float) -> int:
    return ORIGIN + round(ms * MS)


def spawn(task, ms, pid=10):
    return (SPAWN, task, pid, 1, t(ms), t(ms), -1, None)


def start(task, ms, pid, tid, label=None):
    return (START, task, pid, tid, t(ms), t(ms), 0, label)


def run(task, a, b, pid, tid, cpu=0):
    return (RUN, task, pid, tid, t(a), t(b), cpu, None)


def sleep(task, a, b, pid, tid):
    return (SLEEP, task, pid, tid, t(a), t(b), -1, None)


def finish(task, ms, pid, tid):
    return (FINISH, task, pid, tid, t(ms), t(ms), -1, None)


def error(task, ms, pid, tid, text):
    return (ERROR, task, pid, tid, t(ms), t(ms), -1, text)


def header(tasks: int, gil: bool = True, model: str = "synthetic") -> dict:
    return {"model": model, "workload": "cpu", "spec": {"tasks": tasks},
            "machine": {"cpus": 2, "gil": gil, "switch_interval_ms": 5.0}}


def frame_of(events, tasks: int, gil: bool = True):
    tl = Timeline(header(tasks, gil))
    tl.feed(events)
    tl.end("ok")
    return tl.snapshot()


# --- scenarios ---------------------------------------------------------------------------------
def two_processes():
    """Two tasks in two processes, both running 0-10 ms on two cores: perfect parallelism."""
    return [spawn(0, 0), spawn(1, 0),
            start(0, 0, 100, 1), run(0, 0, 10, 100, 1, cpu=0), finish(0, 10, 100, 1),
            start(1, 0, 200, 2), run(1, 0, 10, 200, 2, cpu=1), finish(1, 10, 200, 2)]


def two_threads_taking_turns():
    """Two threads of one process hand the GIL back and forth every 5 ms."""
    return [spawn(0, 0), spawn(1, 0),
            start(0, 0, 100, 1), start(1, 0, 100, 2),
            run(0, 0, 5, 100, 1), run(1, 5, 10, 100, 2),
            run(0, 10, 15, 100, 1), finish(0, 15, 100, 1),
            run(1, 15, 20, 100, 2), finish(1, 20, 100, 2)]


# --- wall, busy, parallelism ----------------------------------------------------------------------
def test_parallel_processes_figures():
    s = frame_of(two_processes(), 2).stats
    assert s["wall_s"] == pytest.approx(0.010)
    assert s["busy_s"] == pytest.approx(0.020)
    assert s["parallelism"] == pytest.approx(2.0)
    assert s["concurrency_max"] == 2
    assert s["concurrency_mean"] == pytest.approx(2.0)
    assert s["gil_switches"] == 0
    assert s["done"] == 2 and s["failed"] == 0
    assert s["per_core"] == [{"cpu": 0, "busy_s": pytest.approx(0.010)},
                             {"cpu": 1, "busy_s": pytest.approx(0.010)}]


def test_wall_counts_from_first_spawn_to_last_end():
    # start-up cost counts: spawned at 0, started at 4, ran 4-10
    events = [spawn(0, 0), start(0, 4, 100, 1), run(0, 4, 10, 100, 1), finish(0, 10, 100, 1)]
    s = frame_of(events, 1).stats
    assert s["wall_s"] == pytest.approx(0.010)
    assert s["busy_s"] == pytest.approx(0.006)
    assert s["parallelism"] == pytest.approx(0.6)
    assert s["spawn_ms_median"] == pytest.approx(4.0)


def test_threads_taking_turns_figures():
    frame = frame_of(two_threads_taking_turns(), 2)
    s = frame.stats
    assert s["wall_s"] == pytest.approx(0.020)
    assert s["busy_s"] == pytest.approx(0.020)
    assert s["parallelism"] == pytest.approx(1.0)
    # RUN intervals by start time: tid 1, 2, 1, 2 -> three hand-offs
    assert s["gil_switches"] == 3
    assert s["run_interval_ms_median"] == pytest.approx(5.0)
    assert frame.thread_pids == {100}


def test_concurrency_max_and_time_weighted_mean():
    # task 0 in flight 0-10, task 1 0-20: two tasks for 10 ms, one for 10 ms -> mean 1.5
    events = [spawn(0, 0), spawn(1, 0),
              start(0, 0, 100, 1), sleep(0, 0, 10, 100, 1), finish(0, 10, 100, 1),
              start(1, 0, 200, 2), sleep(1, 0, 20, 200, 2), finish(1, 20, 200, 2)]
    s = frame_of(events, 2).stats
    assert s["concurrency_max"] == 2
    assert s["concurrency_mean"] == pytest.approx(1.5)
    assert s["busy_s"] == 0 and s["parallelism"] == 0


def test_back_to_back_tasks_never_count_as_concurrent():
    # sequential: task 1 starts at the instant task 0 ends; that is one task in flight, not two
    events = [spawn(0, 0), start(0, 0, 100, 1), run(0, 0, 5, 100, 1), finish(0, 5, 100, 1),
              spawn(1, 5), start(1, 5, 100, 1), run(1, 5, 10, 100, 1), finish(1, 10, 100, 1)]
    s = frame_of(events, 2).stats
    assert s["concurrency_max"] == 1
    assert s["concurrency_mean"] == pytest.approx(1.0)
    assert s["gil_switches"] == 0  # one thread: nothing to hand off


# --- GIL switches ----------------------------------------------------------------------------------
def test_gil_switches_do_not_depend_on_batch_arrival_order():
    # each thread flushes its own batch; the later thread's batch may arrive first
    events = two_threads_taking_turns()
    thread2 = [e for e in events if e[3] == 2]
    rest = [e for e in events if e[3] != 2]
    tl = Timeline(header(2))
    tl.feed(thread2)
    tl.feed(rest)
    tl.end("ok")
    assert tl.snapshot().stats["gil_switches"] == 3


def test_runs_of_one_thread_are_not_switches():
    # the same thread's RUN intervals split by a CPU change or a pause are no hand-off
    events = [spawn(0, 0), spawn(1, 0), start(0, 0, 100, 1), start(1, 0, 100, 2),
              run(0, 0, 3, 100, 1, cpu=0), run(0, 3, 6, 100, 1, cpu=1), run(0, 7, 9, 100, 1),
              finish(0, 9, 100, 1),
              run(1, 9, 12, 100, 2), run(1, 12, 15, 100, 2), finish(1, 15, 100, 2)]
    assert frame_of(events, 2).stats["gil_switches"] == 1


def test_no_gil_switches_between_processes_or_without_a_gil():
    # interleaved runs, but in two processes: each has its own GIL
    events = [spawn(0, 0), spawn(1, 0), start(0, 0, 100, 1), start(1, 0, 200, 1),
              run(0, 0, 5, 100, 1), run(1, 5, 10, 200, 1), run(0, 10, 15, 100, 1),
              finish(0, 15, 100, 1), finish(1, 15, 200, 1)]
    assert frame_of(events, 2).stats["gil_switches"] == 0
    # a free-threaded interpreter running without the GIL has no hand-offs to count
    assert frame_of(two_threads_taking_turns(), 2, gil=False).stats["gil_switches"] == 0


# --- waiting: GIL or CPU -----------------------------------------------------------------------------
def test_waiting_while_a_sibling_thread_runs_is_gil_wait():
    frame = frame_of(two_threads_taking_turns(), 2)
    rows = {r["id"]: r for r in frame.per_task()}
    # task 0: in flight 0-15, ran 10 ms, waited 5-10 while task 1 ran
    assert rows[0]["wait_s"] == pytest.approx(0.005)
    assert rows[0]["gil_wait_s"] == pytest.approx(0.005)
    assert rows[0]["cpu_wait_s"] == pytest.approx(0.0)
    # task 1: in flight 0-20, ran 10 ms, waited 0-5 and 10-15 while task 0 ran
    assert rows[1]["gil_wait_s"] == pytest.approx(0.010)
    assert rows[1]["cpu_wait_s"] == pytest.approx(0.0)


def test_waiting_while_no_sibling_runs_is_cpu_wait():
    # one thread per process; the task is off-CPU 5-15 (the OS ran something else)
    events = [spawn(0, 0), start(0, 0, 100, 1), run(0, 0, 5, 100, 1), run(0, 15, 20, 100, 1),
              finish(0, 20, 100, 1)]
    row = frame_of(events, 1).per_task()[0]
    assert row["wait_s"] == pytest.approx(0.010)
    assert row["gil_wait_s"] == 0
    assert row["cpu_wait_s"] == pytest.approx(0.010)


def test_wait_split_between_gil_and_cpu():
    # task 1 waits 0-10 while task 0 runs (GIL), then 15-20 while nobody runs (CPU)
    events = [spawn(0, 0), spawn(1, 0), start(0, 0, 100, 1), start(1, 0, 100, 2),
              run(0, 0, 10, 100, 1), finish(0, 10, 100, 1),
              run(1, 10, 15, 100, 2), run(1, 20, 25, 100, 2), finish(1, 25, 100, 2)]
    row = frame_of(events, 2).per_task()[1]
    assert row["wait_s"] == pytest.approx(0.015)
    assert row["gil_wait_s"] == pytest.approx(0.010)
    assert row["cpu_wait_s"] == pytest.approx(0.005)


def test_a_sibling_running_while_a_task_sleeps_is_not_a_wait():
    # task 0 sleeps 0-10 (sibling runs, irrelevant), waits 10-14 for the GIL, runs 14-16
    events = [spawn(0, 0), spawn(1, 0), start(0, 0, 100, 1), start(1, 0, 100, 2),
              sleep(0, 0, 10, 100, 1), run(1, 0, 14, 100, 2), finish(1, 14, 100, 2),
              run(0, 14, 16, 100, 1), finish(0, 16, 100, 1)]
    row = frame_of(events, 2).per_task()[0]
    assert row["sleep_s"] == pytest.approx(0.010)
    assert row["run_s"] == pytest.approx(0.002)
    assert row["gil_wait_s"] == pytest.approx(0.004)
    assert row["cpu_wait_s"] == pytest.approx(0.0)


def test_without_a_gil_every_wait_is_cpu_wait():
    row = frame_of(two_threads_taking_turns(), 2, gil=False).per_task()[1]
    assert row["gil_wait_s"] == 0
    assert row["cpu_wait_s"] == pytest.approx(0.010)


@pytest.mark.parametrize("seed", range(6))
def test_gil_wait_agrees_with_a_count_millisecond_by_millisecond(seed):
    """Random threads of one process taking turns, sleeping and waiting: each task's GIL wait is
    the time it was in flight, neither running nor sleeping, while a sibling ran; counted here
    one millisecond at a time (every interval is whole milliseconds), the obvious way."""
    import random

    rng = random.Random(seed)
    events, owner, state = [], {}, {}  # owner[ms]: the task that ran; state[(task, ms)]: what it did
    tasks = 12
    for task in range(tasks):
        ms = rng.randrange(0, 40)
        events += [spawn(task, ms), start(task, ms, 100, task + 1)]
        for _ in range(rng.randrange(1, 8)):
            ms += rng.randrange(0, 6)  # waited (or not)
            length = rng.randrange(1, 5)
            if rng.random() < 0.3:
                events.append(sleep(task, ms, ms + length, 100, task + 1))
                state.update({(task, m): "sleep" for m in range(ms, ms + length)})
            elif all(m not in owner for m in range(ms, ms + length)):  # one GIL: no overlap
                events.append(run(task, ms, ms + length, 100, task + 1))
                owner.update({m: task for m in range(ms, ms + length)})
                state.update({(task, m): "run" for m in range(ms, ms + length)})
            ms += length
        events.append(finish(task, ms, 100, task + 1))
        state[(task, "span")] = (events[-1][4] - ORIGIN) // MS
    events.sort(key=lambda e: e[4])
    rows = {r["id"]: r for r in frame_of(events, tasks).per_task()}
    for task in range(tasks):
        first = next(e[4] for e in events if e[0] == START and e[1] == task)
        begin, end = (first - ORIGIN) // MS, state[(task, "span")]
        gil = sum(1 for m in range(begin, end) if (task, m) not in state and m in owner)
        assert rows[task]["gil_wait_s"] == pytest.approx(gil / 1000), task


# --- lane cells -------------------------------------------------------------------------------------
def test_task_cells_show_fractions_not_winners():
    # one task runs 0-5 and sleeps 5-10 of a 20 ms window drawn in 2 columns
    events = [spawn(0, 0), start(0, 0, 100, 1), run(0, 0, 5, 100, 1), sleep(0, 5, 10, 100, 1),
              finish(0, 10, 100, 1)]
    frame = frame_of(events, 1)
    cells = frame.task_cells(0, t(0), t(20), 2)
    assert cells.run == pytest.approx([0.5, 0.0])
    assert cells.sleep == pytest.approx([0.5, 0.0])
    assert cells.alive == pytest.approx([1.0, 0.0])
    # a run straddling a column boundary is split between the two columns
    cells = frame.task_cells(0, t(-2.5), t(7.5), 2)
    assert cells.run == pytest.approx([0.5, 0.5])
    assert cells.sleep == pytest.approx([0.0, 0.5])
    assert cells.alive == pytest.approx([0.5, 1.0])


def test_task_cells_wait_kinds():
    frame = frame_of(two_threads_taking_turns(), 2)
    cells = frame.task_cells(1, t(0), t(20), 4)  # 5 ms columns
    assert cells.run == pytest.approx([0, 1, 0, 1])
    assert cells.gil == pytest.approx([1, 0, 1, 0])
    assert cells.cpu == pytest.approx([0, 0, 0, 0])
    # each column adds up to the time the task was alive in it
    for c in range(4):
        total = cells.run[c] + cells.sleep[c] + cells.gil[c] + cells.cpu[c]
        assert total == pytest.approx(cells.alive[c])


def test_queued_time_of_a_pool_like_task():
    # a pool of 2 worker processes, 3 tasks submitted at once: task 2 waits for a free worker
    events = [spawn(0, 0), spawn(1, 0), spawn(2, 0),
              start(0, 0, 100, 1), run(0, 0, 10, 100, 1, cpu=0), finish(0, 10, 100, 1),
              start(1, 0, 200, 1), run(1, 0, 12, 200, 1, cpu=1), finish(1, 12, 200, 1),
              start(2, 10, 100, 1), run(2, 10, 20, 100, 1, cpu=0), finish(2, 20, 100, 1)]
    tl = Timeline(header(3))
    tl.feed(events[:9])  # up to task 1's finish: task 2 is still in the queue
    live = tl.snapshot(now_ns=t(9))
    assert live.tasks[2].status == QUEUED
    assert live.stats["queued"] == 1
    tl.feed(events[9:])
    tl.end("ok")
    frame = tl.snapshot()
    cells = frame.task_cells(2, t(0), t(20), 4)
    assert cells.queued == pytest.approx([1, 1, 0, 0])
    assert cells.run == pytest.approx([0, 0, 1, 1])
    assert cells.gil == pytest.approx([0, 0, 0, 0])  # one task thread per process: no GIL
    s = frame.stats
    assert s["spawn_ms_max"] == pytest.approx(10.0)
    assert s["spawn_ms_median"] == pytest.approx(0.0)
    assert s["concurrency_max"] == 2  # queued is not in flight
    assert frame.per_task()[2]["spawn_ms"] == pytest.approx(10.0)


def test_core_cells_busy_fraction_and_main_task():
    events = [spawn(0, 0), spawn(1, 0),
              start(0, 0, 100, 1), run(0, 0, 10, 100, 1, cpu=0), run(0, 10, 12, 100, 1, cpu=1),
              finish(0, 12, 100, 1),
              start(1, 0, 200, 1), run(1, 10, 14, 200, 1, cpu=0), finish(1, 14, 200, 1)]
    frame = frame_of(events, 2)
    core0 = frame.core_cells(0, t(0), t(20), 2)
    assert core0.busy == pytest.approx([1.0, 0.4])
    assert core0.task == [0, 1]
    core1 = frame.core_cells(1, t(0), t(20), 2)
    assert core1.busy == pytest.approx([0.0, 0.2])
    assert core1.task == [-1, 0]
    assert frame.core_cells(7, t(0), t(20), 2).task == [-1, -1]  # a core nobody ran on


def test_gil_cells_show_the_holder():
    frame = frame_of(two_threads_taking_turns(), 2)
    gil = frame.gil_cells(100, t(0), t(20), 4)
    assert gil.busy == pytest.approx([1, 1, 1, 1])
    assert gil.task == [0, 1, 0, 1]


# --- live snapshots and the end of a run -------------------------------------------------------------
def test_snapshot_while_running_and_frames_are_frozen():
    tl = Timeline(header(2))
    tl.feed([spawn(0, 0), spawn(1, 0), start(0, 0, 100, 1), run(0, 0, 5, 100, 1)])
    frame = tl.snapshot(now_ns=t(8))
    assert frame.running
    assert [x.status for x in frame.tasks] == [RUNNING, QUEUED]
    assert frame.stats["wall_s"] == pytest.approx(0.008)  # to the live edge
    assert frame.stats["concurrency_now"] == 1
    # 5-8: the task has not reported since 5 ms; until it does, that stretch is not drawn as
    # waiting (it may be running; see test_live_edge)
    assert frame.task_cells(0, t(0), t(10), 2).cpu == pytest.approx([0.0, 0.0])
    tl.feed([run(0, 5, 10, 100, 1), finish(0, 10, 100, 1)])
    # an older frame does not see what arrived after it was taken
    assert frame.tasks[0].n_runs == 1 and frame.tasks[0].status == RUNNING
    assert tl.snapshot().version > frame.version


def test_end_ends_unfinished_tasks():
    tl = Timeline(header(3))
    tl.feed([spawn(0, 0), spawn(1, 0), start(0, 0, 100, 1), run(0, 0, 5, 100, 1),
             finish(0, 5, 100, 1), start(1, 0, 200, 1), run(1, 0, 9, 200, 1)])
    assert tl.snapshot().tasks[2].status == PENDING
    synthesized = tl.end("cancelled", "")
    assert sorted(e[1] for e in synthesized) == [1, 2]
    assert all(e[0] == ERROR for e in synthesized)
    frame = tl.snapshot()
    assert frame.ended == "cancelled" and not frame.running
    # task 1 ran and was cut short; task 2 never started: the stop ended it, it did not fail
    assert [x.status for x in frame.tasks] == [DONE, FAILED, NOT_STARTED]
    assert "cancelled" in frame.tasks[1].error
    assert frame.stats["failed"] == 1 and frame.stats["done"] == 1 and frame.stats["not_started"] == 1
    assert frame.stats["stopped"] == 1  # cut short by the stop, not by a fault
    # the figures stop at the last event, not at whenever the frame is looked at
    assert frame.stats["wall_s"] == pytest.approx(0.009)
    # a second end adds nothing
    assert tl.end("cancelled") == []


def test_end_reasons_say_what_happened():
    for status, words in (("timeout", "time limit"), ("crashed", "died"), ("ok", "never reported"),
                          ("error", "model failed")):
        tl = Timeline(header(1))
        tl.feed([spawn(0, 0), start(0, 0, 100, 1)])
        tl.end(status, "boom" if status == "error" else "")
        err = tl.snapshot().tasks[0].error
        assert words in err, (status, err)
        assert tl.snapshot().stats["stopped"] == 0  # only a stop the user asked for is "stopped"


def test_error_event_marks_a_task_failed_with_its_message():
    events = [spawn(0, 0), spawn(1, 0),
              start(0, 0, 100, 1), error(0, 3, 100, 1, "InjectedFault: task 0 failed on purpose"),
              start(1, 0, 200, 1), finish(1, 4, 200, 1),
              # the parent's "lost" report after the worker's own: the first end wins
              error(1, 6, 10, 1, "process 200 exited with code 1")]
    frame = frame_of(events, 2)
    assert frame.tasks[0].status == FAILED
    assert frame.tasks[0].error.startswith("InjectedFault")
    assert frame.tasks[1].status == DONE and frame.tasks[1].end_ns == t(4)
    assert frame.stats["failed"] == 1
    assert any("FAILED" in text for _, _, text in frame.log)


def test_task_killed_before_it_started_still_gets_an_end():
    # the parent reports a worker that died before it could record START
    events = [spawn(0, 0), error(0, 5, 10, 1, "process 300 was killed by SIGKILL")]
    frame = frame_of(events, 1)
    task = frame.tasks[0]
    assert task.status == FAILED and task.start_ns == task.end_ns == t(5)
    assert frame.stats["spawn_ms_median"] == 0  # no START of its own: no spawn latency


def test_live_edge_open_intervals():
    """A live lane shows what the task reported, and no guesses: an open RUN (PROGRESS) counts as
    running up to its report, an open sleep (SLEEP_OPEN) as sleeping up to now, and an unreported
    stretch stays blank until the next report shows whether it was a wait."""
    from concviz.engine.events import PROGRESS, SLEEP_OPEN

    tl = Timeline(header(3))
    tl.feed([spawn(0, 0), spawn(1, 0), spawn(2, 0),
             start(0, 0, 100, 1), (PROGRESS, 0, 100, 1, t(0), t(6), 0, None),
             start(1, 0, 200, 2), (SLEEP_OPEN, 1, 200, 2, t(1), t(1), -1, None),
             start(2, 0, 300, 3), run(2, 0, 2, 300, 3, cpu=1)])
    frame = tl.snapshot(now_ns=t(10))
    busy = frame.task_cells(0, t(0), t(10), 10)
    assert busy.run == pytest.approx([1.0] * 6 + [0.0] * 4)  # open interval drawn as running
    assert busy.cpu == pytest.approx([0.0] * 10)  # 6-10 not reported yet: no made-up wait
    assert frame.stats["busy_s"] == pytest.approx(0.006 + 0.002)  # open time counts while live
    assert frame.core_cells(0, t(0), t(10), 10).busy[:6] == pytest.approx([1.0] * 6)
    asleep = frame.task_cells(1, t(0), t(10), 10)
    assert asleep.sleep == pytest.approx([0.0] + [1.0] * 9)  # asleep from 1 ms to the live edge
    quiet = frame.task_cells(2, t(0), t(10), 10)
    assert quiet.run[:2] == pytest.approx([1.0, 1.0]) and sum(quiet.cpu) == pytest.approx(0.0)
    # the reports arrive: task 0's interval closes at 7, task 2 ran again at 8-9 (so 2-8 was a wait)
    tl.feed([run(0, 0, 7, 100, 1), run(2, 8, 9, 300, 3, cpu=1), (SLEEP, 1, 200, 2, t(1), t(9), -1, None)])
    frame = tl.snapshot(now_ns=t(10))
    assert frame.tasks[0].open_run is None and frame.tasks[1].open_sleep is None
    assert frame.stats["busy_s"] == pytest.approx(0.007 + 0.003)  # counted once, not twice
    assert frame.task_cells(2, t(0), t(10), 10).cpu == pytest.approx([0, 0, 1, 1, 1, 1, 1, 1, 0, 0])


def test_an_end_the_task_did_not_report_leaves_the_unknown_blank_and_keeps_its_open_run():
    """A worker killed mid-run (its parent reports it), or a run stopped: the RUN interval that
    PROGRESS last reported open counts as run up to its last report, and the lane ends where
    the task's own reports end, not with a stretch of "waiting" up to the end nobody measured.
    A task that reports its own failure ends where it said."""
    from concviz.engine.events import PROGRESS

    tl = Timeline(header(3, gil=False))
    tl.feed([spawn(0, 0), spawn(1, 0), spawn(2, 0),
             start(0, 0, 100, 1), start(1, 0, 200, 2), start(2, 0, 300, 3),
             run(0, 0, 4, 100, 1), (PROGRESS, 0, 100, 1, t(5), t(9), 1, None),  # running 5-9 ms
             run(1, 0, 4, 200, 2), (PROGRESS, 1, 200, 2, t(5), t(8), 0, None),
             run(2, 0, 4, 300, 3), error(2, 6, 300, 3, "ValueError: boom")])  # its own report
    tl.feed([error(0, 20, 10, 1, "process 100 was killed by SIGKILL")])  # the parent's word, at 20 ms
    tl.end("cancelled", t_ns=t(30))  # task 1: stopped at 30 ms
    frame = tl.snapshot()
    t0, t1, t2 = frame.tasks
    assert [x.status for x in frame.tasks] == [FAILED] * 3 and frame.stats["stopped"] == 1
    assert t0.runs[-1][:2] == (t(5), t(9)) and t1.runs[-1][:2] == (t(5), t(8))
    assert frame.stats["busy_s"] == pytest.approx((4 + 4 + 4 + 3 + 4) / 1000)
    assert 1 in frame.cores and any(run.t0 == t(5) for run in frame.cores[1][0])  # the core saw it too
    # 40 columns of 1 ms: task 0 known to 9 ms, task 1 to 8 ms, task 2 ended itself at 6 ms
    for task, known in ((0, 9), (1, 8), (2, 6)):
        cells = frame.task_cells(task, t(0), t(40), 40)
        assert sum(cells.alive[known:]) == 0, (task, cells.alive)  # after: blank, not waiting
        assert sum(cells.cpu) + sum(cells.gil) == pytest.approx(1 if task < 2 else 2), (task, cells.cpu)
    assert frame.task_wait(t0) == (0, 1 * MS)  # 4-5 ms; the unknown 9-20 ms is not a wait
