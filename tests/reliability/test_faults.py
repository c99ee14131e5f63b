"""Faults as a feature (issue 5): what each model does when a task raises, its worker process is
SIGKILLed, or it never finishes, shown truthfully and never hanging the run.

* a raising task is FAILED with its exception text, the others finish (every model; the engine
  side is in tests/unit/test_failures.py, here through ``concviz run``);
* a killed ``processes`` worker shows the signal that killed it;
* ``process-pool`` shows the BrokenProcessPool the executor raises for every lost future;
* ``pool`` (the stdlib waits forever for a task whose worker died) is detected: the lost task is
  marked and the run ends within 5 s of the kill, with every start method;
* a hanging task is ended by the run's time limit and marked;
* ``--kill-task`` is refused for models without worker processes.
"""

from __future__ import annotations

import json
import multiprocessing
import time

import pytest

from concviz.engine.experiment import run_to_frame
from concviz.engine.spec import RunSpec, SpecError

from .procs import ALL_MODELS, IN_PROCESS_MODELS, assert_nothing_left, concviz, model_flags, python_of

DETECT_WITHIN_S = 5.0


def run(**spec):
    began = time.monotonic()
    frame = run_to_frame(RunSpec(python=python_of(spec["model"]), **spec).validate())
    took = time.monotonic() - began
    assert_nothing_left(frame)
    return frame, took


def why(frame) -> str:
    return f"ended={frame.ended} {frame.end_message} | " + "; ".join(
        f"{t.id}:{t.status} {t.error or ''}" for t in frame.tasks)


def last_seen_ns(task) -> int:
    """The last moment the task was seen alive (its last RUN or SLEEP interval, or its start):
    the kill came after this, so ``end - last_seen`` bounds the detection time from above."""
    ends = [task.start_ns or 0]
    ends += [task.runs[i][1] for i in range(task.n_runs)]
    ends += [task.sleeps[i][1] for i in range(task.n_sleeps)]
    return max(ends)


# --- kill ------------------------------------------------------------------------------------
def test_killed_process_shows_its_signal():
    frame, _ = run(model="processes", workload="cpu", tasks=4, scale=0.3, kill_task=1)
    w = why(frame)
    assert frame.ended == "ok", w
    killed = frame.tasks[1]
    assert killed.status == "failed", w
    assert killed.error == f"process {killed.pid} was killed by SIGKILL", w
    assert [t.status for t in frame.tasks if t.id != 1] == ["done"] * 3, w


def test_process_pool_shows_broken_process_pool():
    # 2 workers, 5 tasks: the kill breaks the executor, and every future not yet done fails
    frame, _ = run(model="process-pool", workload="cpu", tasks=5, workers=2, scale=0.3, kill_task=1)
    w = why(frame)
    assert frame.ended == "ok", w
    assert frame.tasks[1].status == "failed", w
    failed = [t for t in frame.tasks if t.status == "failed"]
    assert all(t.error.startswith("BrokenProcessPool: ") for t in failed), w
    # and concviz names the worker that died, which the executor does not
    assert f"(worker pid {frame.tasks[1].pid} was killed by SIGKILL)" in frame.tasks[1].error, w
    # the tasks queued behind the kill never ran: the executor failed them, it did not run them
    assert frame.tasks[4].status == "failed" and frame.tasks[4].run_ns == 0, w
    assert all(t.status == "done" for t in frame.tasks if t not in failed), w


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_pool_lost_task_is_detected(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    # 2 workers, 5 tasks: the pool replaces the dead worker and the queued tasks still run
    frame, took = run(model="pool", workload="cpu", tasks=5, workers=2, scale=0.3, kill_task=1,
                      start_method=method, timeout_s=30)
    w = why(frame)
    assert frame.ended == "ok", w  # ended by the watcher, not by the time limit
    lost = frame.tasks[1]
    assert lost.status == "failed", w
    assert lost.error.startswith(f"worker pid {lost.pid} was killed by SIGKILL"), w
    assert "multiprocessing.Pool would wait for it forever" in lost.error, w
    assert [t.status for t in frame.tasks if t.id != 1] == ["done"] * 4, w
    detect_s = (lost.end_ns - last_seen_ns(lost)) / 1e9
    assert detect_s < DETECT_WITHIN_S, f"lost task marked {detect_s:.2f} s after it was last seen"
    assert took < 15, f"the run took {took:.1f} s"
    print(f"\n[pool kill, {method}] lost task marked {detect_s * 1000:.0f} ms after its last event; "
          f"run {took:.2f} s")


def test_pool_lost_last_task_ends_the_run_at_once():
    # the killed task is the last one: nothing else to wait for once the death is seen
    frame, took = run(model="pool", workload="io", tasks=3, workers=2, scale=0.2, kill_task=2,
                      timeout_s=30)
    w = why(frame)
    assert frame.ended == "ok", w
    assert frame.tasks[2].status == "failed" and "SIGKILL" in frame.tasks[2].error, w
    assert [t.status for t in frame.tasks[:2]] == ["done", "done"], w
    assert took < 10, w


@pytest.mark.parametrize("model", IN_PROCESS_MODELS)
def test_kill_task_is_refused_without_worker_processes(model):
    with pytest.raises(SpecError, match="--kill-task needs a process model"):
        RunSpec(model=model, tasks=4, kill_task=1).validate()


# --- hang --------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ALL_MODELS)
def test_hanging_task_is_ended_by_the_time_limit(model):
    # (a dask task reaches its worker through the scheduler, and the worker loads the probe:
    # on a loaded machine that alone can take more than a second)
    limit = 6.0 if model == "dask" else 1.5
    frame, took = run(model=model, workload="io", tasks=3, scale=0.2, hang_task=1, timeout_s=limit)
    w = why(frame)
    assert frame.ended == "timeout", w
    assert frame.tasks[1].status == "failed" and "time limit" in frame.tasks[1].error, w
    if model != "sequential":  # sequential never gets past the hanging task
        assert [frame.tasks[0].status, frame.tasks[2].status] == ["done", "done"], w
    else:  # task 2 never began: the time limit ended the run first
        assert frame.tasks[0].status == "done" and frame.tasks[2].status == "not started", w
    # (the time limit counts from when a dask run's cluster is up, not its start-up)
    cluster = frame.stats.get("cluster") or {"start_s": 0.0}
    assert took < limit + 3 + cluster["start_s"], f"the run took {took:.1f} s for a {limit} s limit"
    # the stopped task ends when the run was stopped, not at the last event before it
    assert frame.stats["wall_s"] > limit * 0.5, w


# --- through the command line ------------------------------------------------------------------
@pytest.mark.parametrize("model", ALL_MODELS)
def test_cli_failing_task(model):
    out = concviz("run", *model_flags(model), "-w", "cpu", "-n", "3", "--scale", "0.05", "--fail-task", "2", "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["failed"] == 1
    rows = {t["id"]: t for t in summary["per_task"]}
    assert rows[2]["status"] == "failed"
    assert "InjectedFault: task 2 failed on purpose" in rows[2]["error"]
    assert [rows[0]["status"], rows[1]["status"]] == ["done", "done"]


def test_cli_pool_kill_says_so_in_the_summary():
    out = concviz("run", "-m", "pool", "-w", "io", "-n", "3", "--scale", "0.2", "--kill-task", "1")
    assert out.returncode == 0, out.stderr  # the run completed; a task of it failed
    assert "2 done, 1 failed (the run itself completed" in out.stdout, out.stdout
    assert "killed by SIGKILL; multiprocessing.Pool would wait for it forever" in out.stdout
    assert "run ended" not in out.stdout, out.stdout


def test_cli_hang_says_the_time_limit_stopped_it():
    out = concviz("run", "-m", "threads", "-w", "io", "-n", "2", "--scale", "0.2", "--hang-task", "0",
                  "--timeout", "1")
    assert out.returncode == 0, out.stderr
    assert "run ended:    timeout: stopped at its time limit (1 s, --timeout)" in out.stdout, out.stdout
    assert "failed: timed out" in out.stdout


def test_cli_kill_task_refused_for_threads():
    out = concviz("run", "-m", "asyncio", "--kill-task", "0")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "--kill-task needs a process model" in out.stderr
