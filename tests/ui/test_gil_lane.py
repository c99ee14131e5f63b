"""The GIL lane draws what was recorded, and nothing past it (a live run's future is blank)."""

from __future__ import annotations

from concviz.engine.models import MODELS
from concviz.view import Window
from concviz.widgets.gil_lane import GilLane, fit_words, gil_columns_seen

from .helpers import PaneApp, Recorded


def test_columns_seen():
    assert gil_columns_seen(None, 0, 100, 10) == 10
    assert gil_columns_seen(150, 0, 100, 10) == 10
    assert gil_columns_seen(0, 0, 100, 10) == 0
    assert gil_columns_seen(31, 0, 100, 10) == 4  # column 3 ([30, 40)) has begun
    assert gil_columns_seen(30, 0, 100, 10) == 3


async def test_gil_lane_is_blank_past_now():
    run = Recorded("threads-cpu")
    first, last, mid = run.first, run.last, run.at(0.5)
    frame = run.frame_at(mid)  # the run as a live view saw it half-way
    window = Window(first, last, first)
    app = PaneApp(GilLane, "gil")
    async with app.run_test(size=(120, 4)) as pilot:
        lane = app.query_one(GilLane)
        lane.show(frame, window)
        await pilot.pause()
        label_w, cells_w, _ = lane.columns(lane.draw_width)
        cells = lane._line(0, lane.draw_width, 0).text[label_w:label_w + cells_w]
        seen = gil_columns_seen(mid, first, last, cells_w)
        assert 0 < seen < cells_w
        assert cells[seen:].strip() == ""  # the future: blank, not "nobody held the GIL"
        holders = set(cells[:seen]) - {" ", "·"}
        assert len(holders) >= 2, cells  # threads took turns, and the lane shows it


def test_fit_words_never_cuts_a_word():
    texts = ("each process has its own GIL: nothing is shared", "each process: no GIL shared")
    assert fit_words(texts, 60) == texts[0]
    assert fit_words(texts, 40) == texts[1]  # the longest that fits
    assert fit_words(texts, 20) == "each process: no…"  # none fits: the last, at a word boundary
    assert fit_words(("abcdefgh",), 5) == "abcd…"  # one long word: cut, but marked as cut


async def test_gil_lane_message_fits_an_80_column_screen():
    run = Recorded("processes-cpu")
    frame = run.frame_at(run.last)
    app = PaneApp(GilLane, "gil")
    async with app.run_test(size=(80, 4)) as pilot:
        lane = app.query_one(GilLane)
        lane.show(frame, Window(run.first, run.last, run.first), info=MODELS["processes"])
        await pilot.pause()
        text = lane._line(0, lane.draw_width, 0).text.rstrip()
        assert text.endswith("nothing to hand off"), text
        assert len(text) <= lane.draw_width
