"""The lanes skip Textual's ANSIToTruecolor filter: that is only right while the filter would
change nothing in them. In every built-in theme but the ANSI ones (where Textual turns the
filter off itself), every segment of every lane row comes out of the filter unchanged."""

from __future__ import annotations

import pytest
from textual.filter import ANSIToTruecolor
from textual.theme import BUILTIN_THEMES

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.gil_lane import GilLane
from concviz.widgets.lane_pane import LanePane
from concviz.widgets.task_lanes import TaskLanes

from .helpers import FIXTURES

THEMES = [name for name, theme in BUILTIN_THEMES.items() if not theme.ansi]


@pytest.mark.parametrize("trace", ["threads-failed", "processes-stopped", "pool-cpu"])
async def test_the_filter_would_change_nothing_in_a_lane(trace):
    app = ConcvizApp(replay=read_trace(FIXTURES / f"{trace}.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        for theme in THEMES:
            app.theme = theme
            await pilot.pause()
            app.main.redraw()
            (truecolor,) = [f for f in app.get_line_filters() if isinstance(f, ANSIToTruecolor)]
            panes = list(app.query(LanePane))
            assert {type(p) for p in panes} >= {TaskLanes, CoreLanes}, panes
            rows = 0  # the rows checked: a pane of no height would check nothing
            for pane in panes:
                assert truecolor not in pane.get_line_filters()
                background = pane.background_colors[1]
                width, top = pane.draw_width, int(pane.scroll_offset.y)
                for y in range(pane.size.height):
                    segments = list(pane._line(y, width, top))
                    assert truecolor.apply(segments, background) == segments, (theme, type(pane).__name__, y)
                    rows += 1
            assert rows >= 10, (theme, rows)


async def test_filters_the_user_asks_for_still_apply(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = ConcvizApp(replay=read_trace(FIXTURES / "threads-cpu.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)):
        for pane in (app.query_one(TaskLanes), app.query_one(CoreLanes), app.query_one(GilLane)):
            kinds = {type(f).__name__ for f in pane.get_line_filters()}
            assert "Monochrome" in kinds and "ANSIToTruecolor" not in kinds
