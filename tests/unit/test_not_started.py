"""A task the run ended (or its pool lost) before it ever started is "not started", not "failed":
in the figures, the lanes' notes, --json and compare's table. "failed" stays for tasks that
started and raised, died or were cut short."""

from __future__ import annotations

import json

from concviz.cli import main
from concviz.engine.experiment import run_to_frame
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import FAILED, NOT_STARTED, Timeline
from concviz.report import format_run

from tests.unit.test_timeline import error, finish, header, run, spawn, start, t


def test_the_run_ending_before_a_task_began_is_not_a_failure():
    tl = Timeline(header(3))
    tl.feed([spawn(0, 0), spawn(1, 0), spawn(2, 0), start(0, 1, 10, 100), run(0, 1, 5, 10, 100),
             finish(0, 5, 10, 100), start(1, 5, 10, 100), run(1, 5, 9, 10, 100)])
    tl.end("timeout", t_ns=t(10))
    frame = tl.snapshot()
    status = {task.id: task.status for task in frame.tasks}
    assert status == {0: "done", 1: FAILED, 2: NOT_STARTED}  # 1 ran and was cut short; 2 never ran
    s = frame.stats
    assert (s["done"], s["failed"], s["not_started"]) == (1, 1, 1)
    assert "1 not started" in format_run(frame) and "1 failed" in format_run(frame)
    assert [p["status"] for p in frame.summary()["per_task"]] == ["done", "failed", "not started"]


def test_a_stop_cuts_short_the_running_task_and_leaves_the_queued_one_not_started():
    tl = Timeline(header(2))
    tl.feed([spawn(0, 0), spawn(1, 0), start(0, 1, 10, 100), run(0, 1, 4, 10, 100)])
    tl.end("cancelled", t_ns=t(5))
    a, b = tl.snapshot().tasks
    assert a.stopped and a.status == FAILED
    assert not b.stopped and b.status == NOT_STARTED


def test_a_task_that_started_and_raised_is_failed_whoever_reported_it():
    tl = Timeline(header(2))
    tl.feed([spawn(0, 0), spawn(1, 0), start(0, 1, 10, 100), error(0, 2, 10, 100, "ValueError: boom"),
             start(1, 1, 11, 111), error(1, 3, 10, 0, "worker pid 11 was killed by SIGKILL")])
    assert [task.status for task in tl.snapshot().tasks] == [FAILED, FAILED]


def test_a_live_run_cut_by_its_time_limit_reports_tasks_never_started(capsys):
    # one pool worker, four 0.5 s sleeps, a 0.7 s limit: one done, one cut short, two never started
    spec = RunSpec(model="thread-pool", workload="io", tasks=4, workers=1, timeout_s=0.9,
                   scale=1.0, seed=3).validate()
    frame = run_to_frame(spec)
    s = frame.stats
    assert frame.ended == "timeout"
    assert s["not_started"] >= 1 and s["failed"] <= 2
    assert s["done"] + s["failed"] + s["not_started"] == 4
    assert main(["run", "-m", "thread-pool", "-w", "io", "-n", "4", "--workers", "1", "--seed", "3",
                 "--timeout", "0.9", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["not_started"] >= 1
    assert "not started" in {p["status"] for p in out["per_task"]}
