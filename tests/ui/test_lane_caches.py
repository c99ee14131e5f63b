"""A Frame is a frozen snapshot that every pane reads: what a pane works out from it and keeps
(the pool workers' order, a core's columns) stays in the pane, never in the Frame."""

from __future__ import annotations

import sys

from concviz.engine.models import MODELS
from concviz.view import Window
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.gil_lane import GilLane
from concviz.widgets.task_lanes import TaskLanes

from .helpers import PaneApp, Recorded


class WatchedCache(dict):
    """A Frame's cache that remembers which modules wrote into it."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[str] = set()

    def __setitem__(self, key, value) -> None:
        self.writers.add(sys._getframe(1).f_globals["__name__"])
        super().__setitem__(key, value)

    def setdefault(self, key, default=None):
        self.writers.add(sys._getframe(1).f_globals["__name__"])
        return super().setdefault(key, default)


async def test_panes_keep_what_they_work_out_out_of_the_frame():
    run = Recorded("pool-cpu")
    frame = run.frame_at(run.last)
    object.__setattr__(frame, "_cache", WatchedCache())  # (Frame is frozen)
    window = Window(frame.first_ns, frame.t_end, frame.first_ns)
    drawn = []
    for pane_type, pane_id in ((TaskLanes, "tasks"), (CoreLanes, "cores"), (GilLane, "gil")):
        app = PaneApp(pane_type, pane_id)
        async with app.run_test(size=(120, 36)) as pilot:
            pane = app.query_one(pane_type)
            pane.show(frame, window, info=MODELS[frame.model])
            await pilot.pause()
            rows = pane.header_rows + pane.lane_count() * pane.rows_per_lane
            drawn += [pane._line(y, pane.draw_width, 0).text for y in range(rows)]
    assert any(" w1 " in line for line in drawn)  # the pool workers were told apart
    assert not [w for w in frame._cache.writers if w.startswith("concviz.widgets")]


async def test_what_a_pane_keeps_across_frames_does_not_grow_with_a_live_run():
    """A live run's task lanes change their note (how long each task has run) on every frame: the
    segments a pane keeps across frames (labels, notes of finished tasks) must not take one more
    entry a frame for them, or a talk-long run grows the UI's memory by them."""
    run = Recorded("threads-cpu")
    window = Window(run.first, run.last, run.first)
    app = PaneApp(TaskLanes, "tasks")
    async with app.run_test(size=(120, 30)) as pilot:
        lanes = app.query_one(TaskLanes)
        sizes = []
        for k in range(40):
            frame = run.frame_at(run.at(0.3 + k / 100))
            assert any(t.status == "running" for t in frame.tasks)
            lanes.show(frame, window)
            await pilot.pause()
            sizes.append(len(lanes._labels))
        assert sizes[-1] - sizes[9] < 5, sizes
