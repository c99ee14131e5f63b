"""The lane panes hand Textual their rows without its styles cache (which would draw a border,
padding, outline, hatch, tint and opacity around each row, ~15 us a row even with none of
them). That is only right while the rows come out as Textual would have drawn them: checked
here against Textual's own Widget.render_lines, whole and cropped, scrolled, with a scrollbar,
with the filters NO_COLOR adds, and with styles that make the pane fall back to Textual."""

from __future__ import annotations

import pytest
from textual.geometry import Region
from textual.widget import Widget

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.gil_lane import GilLane
from concviz.widgets.lane_pane import LanePane
from concviz.widgets.task_lanes import TaskLanes

from .helpers import FIXTURES

TRACES = {name: FIXTURES / f"{name}.jsonl" for name in ("threads-cpu", "processes-stopped", "thread-pool-mixed")}
TRACES["threads-64"] = FIXTURES.parent / "bench" / "traces" / "threads-64-cpu.jsonl"  # more lanes than rows


def textual_lines(pane: LanePane, crop: Region) -> list:
    pane._styles_cache.clear()
    return Widget.render_lines(pane, crop)


def crops(pane: LanePane) -> list[Region]:
    w, h = pane.region.size
    return [Region(0, 0, w, h), Region(0, h // 2, w, h - h // 2), Region(3, 0, w - 10, h), Region(w - 4, h - 1, 4, 1)]


def assert_as_textual(pane: LanePane, where: str) -> int:
    """Every crop of the pane's rows equals Textual's; returns how many rows were compared."""
    rows = 0
    for crop in crops(pane):
        if crop.width <= 0 or crop.height <= 0:
            continue
        ours = pane.render_lines(crop)
        assert ours == textual_lines(pane, crop), (where, type(pane).__name__, crop)
        assert all(strip.cell_length == crop.width for strip in ours)
        rows += len(ours)
    return rows


@pytest.mark.parametrize("size", [(80, 24), (120, 36), (147, 80)])
@pytest.mark.parametrize("trace", sorted(TRACES))
async def test_rows_are_what_textual_would_draw(trace, size):
    app = ConcvizApp(replay=read_trace(TRACES[trace]), instant=True, live_ticks=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        tasks = app.query_one(TaskLanes)
        assert tasks.plain_box() and app.query_one(GilLane).plain_box()
        compared = sum(assert_as_textual(pane, "top") for pane in app.query(LanePane))
        assert compared > 10
        if trace == "threads-64" and size != (147, 80):  # 64 lanes fit only there
            assert tasks.max_scroll_y > 0 and tasks.draw_width < tasks.region.width  # a scrollbar
        if tasks.max_scroll_y:  # rows scrolled into view
            tasks.scroll_to(y=tasks.max_scroll_y, animate=False)
            await pilot.pause()
            app.main.redraw()
            assert assert_as_textual(tasks, "scrolled")


async def test_rows_are_what_textual_would_draw_under_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = ConcvizApp(replay=read_trace(FIXTURES / "threads-failed.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        tasks = app.query_one(TaskLanes)
        assert tasks.get_line_filters()  # Monochrome
        assert assert_as_textual(tasks, "no color")


@pytest.mark.parametrize("css", ["padding: 0 1", "border: round red", "outline: solid red",
                                 "tint: red 40%", "opacity: 50%", "text-opacity: 50%", "hatch: cross red"])
async def test_a_pane_styled_around_its_rows_is_drawn_by_textual(css):
    app = ConcvizApp(replay=read_trace(FIXTURES / "threads-cpu.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        tasks = app.query_one(TaskLanes)
        rule, value = css.split(": ")
        tasks.set_styles(f"{rule}: {value};")
        await pilot.pause()
        app.main.redraw()
        assert not tasks.plain_box()
        assert assert_as_textual(tasks, css)
        # and the fall-back matters: the rows as they are would not be what Textual draws
        crop = Region(0, 0, *tasks.region.size)
        width, top = tasks.draw_width, int(tasks.scroll_offset.y)
        bare = [tasks._line(y, width, top) for y in crop.line_range]
        assert bare != textual_lines(tasks, crop)


async def test_the_core_pane_keeps_textual_for_its_border():
    app = ConcvizApp(replay=read_trace(FIXTURES / "processes-cpu.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        cores = app.query_one(CoreLanes)
        assert not cores.plain_box()  # border-top: the separator above the cores
        assert assert_as_textual(cores, "cores")
