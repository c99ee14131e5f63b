"""The GIL lane draws what was recorded, and nothing past it (a live run's future is blank)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from concviz.engine.events import read_trace
from concviz.engine.timeline import Timeline
from concviz.view import Window
from concviz.widgets.lanes import GilLane, gil_columns_seen

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_columns_seen():
    assert gil_columns_seen(None, 0, 100, 10) == 10
    assert gil_columns_seen(150, 0, 100, 10) == 10
    assert gil_columns_seen(0, 0, 100, 10) == 0
    assert gil_columns_seen(31, 0, 100, 10) == 4  # column 3 ([30, 40)) has begun
    assert gil_columns_seen(30, 0, 100, 10) == 3


class OneLane(App):
    def compose(self) -> ComposeResult:
        yield GilLane(id="gil")


async def test_gil_lane_is_blank_past_now():
    header, events = read_trace(FIXTURES / "threads-cpu.jsonl")
    first = min(e[4] for e in events)
    last = max(e[5] for e in events)
    mid = first + (last - first) // 2
    # the run as a live view saw it half-way: the events that had ended by then
    timeline = Timeline(header)
    timeline.feed([e for e in events if e[5] <= mid])
    frame = timeline.snapshot(now_ns=mid)
    window = Window(first, last, first)
    app = OneLane()
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
