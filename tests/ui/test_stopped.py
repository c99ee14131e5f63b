"""A run the user stopped: the tasks it cut short say "stopped", not "failed" (nothing went
wrong with them), while a task that failed on its own before the stop still says "failed"."""

from __future__ import annotations

from concviz.engine.events import ERROR
from concviz.report import caption
from concviz.view import Window
from concviz.widgets.bars import stats_markup
from concviz.widgets.task_lanes import TaskLanes

from .helpers import PaneApp, Recorded


def stopped_half_way():
    """threads-cpu as it stood half-way, with task 0 failed on its own, then stopped."""
    run = Recorded("threads-cpu")
    first, mid = run.first, run.at(0.5)
    timeline = run.timeline_at(mid, keep=lambda e: not (e[1] == 0 and e[4] > first))
    timeline.feed([(ERROR, 0, 0, 0, first + 1, first + 1, -1, "InjectedFault: task 0 failed on purpose")])
    timeline.end("cancelled", t_ns=mid)
    return timeline.snapshot(), Window(first, mid, first)


async def test_tasks_cut_short_by_a_stop_say_stopped():
    frame, window = stopped_half_way()
    s = frame.stats
    assert s["failed"] == 4 and s["stopped"] == 3 and s["done"] == 0
    bar = stats_markup(frame, None)
    assert "failed [b $error]1[/]" in bar and "stopped [b]3[/]" in bar
    assert ", 1 failed, 3 stopped" in caption(frame)
    texts = [text for _, _, text in frame.log]
    assert "task 1 stopped: the run was cancelled" in texts and "task 0 FAILED: InjectedFault: task 0 failed on purpose" in texts
    app = PaneApp(TaskLanes, "tasks")
    async with app.run_test(size=(120, 20)) as pilot:
        lanes = app.query_one(TaskLanes)
        lanes.show(frame, window)
        await pilot.pause()
        lanes.show(frame, window)
        notes = [strip.text.rstrip()[-12:] for strip in lanes._shown.values() if " T" in strip.text[:5]]
        assert sum("✗ failed" in n for n in notes) == 1 and sum("■ stopped" in n for n in notes) == 3, notes
