"""What varies per model comes from the registry (ModelInfo): how a lane names a task's worker,
what the GIL lane says when no GIL is shared, what the caption calls the tasks. The panes and
the report hard-code no model name: change the registry entry and they follow it."""

from __future__ import annotations

import dataclasses

from concviz import report
from concviz.engine.models import MODELS
from concviz.view import Window
from concviz.widgets.gil_lane import GilLane
from concviz.widgets.task_lanes import TaskLanes

from .helpers import PaneApp, Recorded


async def lines_of(pane_type, pane_id, frame, info) -> list[str]:
    app = PaneApp(pane_type, pane_id)
    async with app.run_test(size=(120, 36)) as pilot:
        pane = app.query_one(pane_type)
        pane.show(frame, Window(frame.first_ns, frame.t_end, frame.first_ns), info=info)
        await pilot.pause()
        rows = pane.header_rows + pane.lane_count() * pane.rows_per_lane
        return [pane._line(y, pane.draw_width, 0).text for y in range(rows)]


async def test_task_lanes_name_workers_as_the_registry_says():
    run = Recorded("pool-cpu")
    frame = run.frame_at(run.last)
    pids = sorted({t.pid for t in frame.tasks})
    as_registered = await lines_of(TaskLanes, "tasks", frame, MODELS["pool"])
    assert any(" w1 " in line for line in as_registered)
    renamed = dataclasses.replace(MODELS["pool"], worker_label="P{pid}")
    lines = await lines_of(TaskLanes, "tasks", frame, renamed)
    assert any(f"P{pids[0]}" in line for line in lines) and not any(" w1 " in line for line in lines)


async def test_gil_lane_says_what_the_registry_says():
    run = Recorded("processes-cpu")
    frame = run.frame_at(run.last)
    (line,) = await lines_of(GilLane, "gil", frame, MODELS["processes"])
    assert line.rstrip().endswith(MODELS["processes"].gil_note[0])
    reworded = dataclasses.replace(MODELS["processes"], gil_note=("one GIL each",))
    (line,) = await lines_of(GilLane, "gil", frame, reworded)
    assert line.rstrip().endswith("one GIL each")


def test_the_caption_calls_tasks_what_the_registry_does(monkeypatch):
    run = Recorded("threads-cpu")
    frame = run.frame_at(run.last)
    assert report.caption(frame).startswith(f"4 {MODELS['threads'].noun}, CPU-bound")
    monkeypatch.setitem(MODELS, "threads", dataclasses.replace(MODELS["threads"], noun="OS threads"))
    assert report.caption(frame).startswith("4 OS threads, CPU-bound")
