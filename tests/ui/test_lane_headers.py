"""What a new frame repaints: the header rows (time axis, zoom note, OS% title) are kept from
frame to frame and drawn again whenever what they show changes; of the lanes, only the rows
that changed are handed to Textual, a run of adjacent rows as one region."""

from __future__ import annotations

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace
from concviz.view import Window
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.task_lanes import TaskLanes

from .helpers import FIXTURES, PaneApp, Recorded


def header(pane) -> str:
    return pane._shown[0].text


async def test_headers_follow_the_window_the_note_and_the_os_column():
    app = ConcvizApp(replay=read_trace(FIXTURES / "threads-cpu.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tasks, cores = app.query_one(TaskLanes), app.query_one(CoreLanes)
        fitted, core_fitted = header(tasks), header(cores)
        assert fitted.rstrip().endswith("fit") and "OS%" not in core_fitted
        app.main.redraw()  # the same frame again: the same rows
        assert header(tasks) == fitted
        await pilot.press("full_stop")  # zoom in: a new window and a new note
        zoomed = header(tasks)
        assert zoomed != fitted and not zoomed.rstrip().endswith("fit")
        assert header(cores) != core_fitted  # the tick marks moved with the window
        await pilot.press("0")  # back to the whole run
        assert header(tasks) == fitted and header(cores) == core_fitted
        cores.os_percent = (50.0, 25.0)
        cores.show(app.main.frame, app.main.zoom.window(app.main.frame))
        assert "OS%" in header(cores) and "50%" in cores._shown[1].text


async def test_a_new_frame_repaints_only_the_rows_that_changed():
    run = Recorded("sequential-cpu")
    window = Window(run.first, run.last, run.first)
    app = PaneApp(TaskLanes, "tasks")
    async with app.run_test(size=(120, 20)) as pilot:
        lanes = app.query_one(TaskLanes)
        lanes.show(run.frame_at(run.at(1 / 3)), window)
        await pilot.pause()  # laid out: the pane has the height its lanes need
        lanes.show(lanes.frame, window)
        before = dict(lanes._shown)
        asked = []
        lanes.refresh = lambda *regions, **kw: asked.extend(regions)  # what a tick asks Textual to repaint
        lanes.show(run.frame_at(run.at(2 / 3)), window)
        changed = {y for y, strip in lanes._shown.items() if strip != before.get(y)}
        assert changed and len(changed) < len(before)  # the header and the finished lanes stay
        rows = [y for r in asked for y in range(r.y, r.y + r.height)]
        assert sorted(rows) == sorted(changed)  # each changed row once, and no other
        # a run of adjacent changed rows is one region (one repaint for Textual to cut and encode)
        assert len(asked) == len([y for y in changed if y - 1 not in changed])
