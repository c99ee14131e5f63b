"""The layout containers (Band, Row) and the footer tell Textual they are BLANK: no border and
no content of their own, so Textual paints them as blank lines of their background instead of
running them through its styles cache on every tick. That is only right while it changes
nothing: their lines as Textual would render them are blank lines of that same background."""

from __future__ import annotations

import pytest
from textual.geometry import Region

from concviz.app import ConcvizApp
from concviz.main_screen import Band, MainScreen, Row
from concviz.engine.events import read_trace
from concviz.widgets.bars import KeyFooter

from .helpers import FIXTURES


def cells(strips) -> list[list[tuple]]:
    """Each line as (character, style) per cell, however it is cut into segments."""
    return [[(ch, seg.style) for seg in strip for ch in seg.text] for strip in strips]


@pytest.mark.parametrize("size", [(80, 24), (120, 36)])
@pytest.mark.parametrize("keys", [[], ["c"], ["t"]])
async def test_blank_containers_render_as_textual_would(size, keys):
    app = ConcvizApp(replay=read_trace(FIXTURES / "threads-cpu.jsonl"), instant=True, live_ticks=False)
    async with app.run_test(size=size) as pilot:
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        blanks = [app.screen] + [w for w in app.screen.walk_children()
                                 if isinstance(w, (Band, Row, KeyFooter)) and w.display]
        assert len(blanks) >= 6
        for widget in blanks:
            assert widget.BLANK
            width, height = widget.size
            if not width or not height:
                continue
            crop = Region(0, 0, width, height)
            as_blank = widget.render_lines(crop)
            as_textual = widget._styles_cache.render_widget(widget, crop)  # what BLANK skips
            assert cells(as_blank) == cells(as_textual), widget
