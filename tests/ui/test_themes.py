"""Themes (issue 14 s.3): in every theme concviz offers, high-contrast included, running, waiting
for the GIL, waiting for a CPU and sleeping are four different colours; without colour they are
four different glyphs; the lanes' filter shortcut holds in the high-contrast theme too."""

from __future__ import annotations

from textual.filter import ANSIToTruecolor

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace
from concviz.themes import HIGH_CONTRAST, THEMES
from concviz.widgets.lane_pane import STATE_GLYPHS, LanePane
from concviz.widgets.task_lanes import TaskLanes

from .helpers import FIXTURES

STATES = ("run", "gil", "cpu", "sleep")


def replay(name: str, theme: str | None = None) -> ConcvizApp:
    return ConcvizApp(replay=read_trace(FIXTURES / f"{name}.jsonl"), instant=True, live_ticks=False, theme=theme)


async def test_the_four_states_have_four_colours_in_every_theme():
    app = replay("threads-cpu")
    async with app.run_test(size=(120, 36)) as pilot:
        assert "high-contrast" in app.available_themes
        lanes = app.query_one(TaskLanes)
        for theme in THEMES:
            app.theme = theme
            await pilot.pause()
            app.main.redraw()
            colours = {state: lanes.style(f"lane--{state}").color for state in STATES}
            assert None not in colours.values(), theme
            assert len(set(colours.values())) == 4, (theme, colours)


async def test_the_theme_asked_for_is_the_theme_shown():
    app = replay("threads-cpu", theme="high-contrast")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "high-contrast"
        background = app.screen.styles.background
        assert (background.r, background.g, background.b) == (0, 0, 0)
        # the lanes skip ANSIToTruecolor only while it would change nothing: true here too
        (truecolor,) = [f for f in app.get_line_filters() if isinstance(f, ANSIToTruecolor)]
        for pane in app.query(LanePane):
            width, top = pane.draw_width, int(pane.scroll_offset.y)
            for y in range(pane.size.height):
                segments = list(pane._line(y, width, top))
                assert truecolor.apply(segments, pane.background_colors[1]) == segments


async def test_without_colour_the_states_keep_their_glyphs(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    seen = {}
    for trace, state in (("threads-cpu", "gil"), ("processes-cpu", "cpu"), ("asyncio-io", "sleep")):
        app = replay(trace, theme=HIGH_CONTRAST.name)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            lanes = app.query_one(TaskLanes)
            text = "".join(strip.text for strip in lanes.render_lines(lanes.region.reset_offset))
        seen[state] = STATE_GLYPHS[state] in text
        assert "█" in text or state == "sleep"  # running: blocks
    assert seen == {"gil": True, "cpu": True, "sleep": True}
    assert len({"█", *(STATE_GLYPHS[s] for s in STATES[1:])}) == 4
