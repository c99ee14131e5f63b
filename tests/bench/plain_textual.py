"""The reference the UI figures are judged against: a plain Textual screen of lanes.

``python plain_textual.py [rows] [segments]`` runs an app whose one widget draws ``rows`` lanes of
120 columns with the Line API, each lane a fresh strip of ``segments`` coloured runs of block
glyphs on every 10 Hz tick (nothing computed: the cheapest a screen of lanes can be redrawn in
Textual). bench_ui measures its CPU next to concviz's, in the same terminal and under the same
load, and builds one of its frames the way it builds concviz's.
"""

from __future__ import annotations

import sys

from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer

COLUMNS = 120
COLOURS = ("#e06c75", "#98c379", "#61afef", "#e5c07b", "#c678dd", "#56b6c2", "#abb2bf", "#d19a66")
GLYPHS = " ▁▂▃▄▅▆▇█▒░"


class PlainLanes(Widget):
    """``rows`` lanes of COLUMNS cells; ``advance()`` makes every lane a new strip."""

    DEFAULT_CSS = "PlainLanes { height: 1fr; }"

    def __init__(self, rows: int = 64, segments: int = 24) -> None:
        super().__init__()
        self.rows, self.segments, self.tick = rows, segments, 0
        self.styles_ = [Style(color=c, bgcolor="#282c34") for c in COLOURS]

    def advance(self) -> None:
        self.tick += 1
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y >= self.rows:
            return Strip.blank(self.size.width)
        n = self.segments
        k = self.tick * 7919 + y * 104729  # a different, deterministic picture every tick
        cuts = sorted({(k * (i + 1) * 2654435761) % COLUMNS for i in range(n - 1)} | {0, COLUMNS})
        segs = [Segment(GLYPHS[(k + i) % len(GLYPHS)] * (b - a), self.styles_[(k + i) % len(COLOURS)])
                for i, (a, b) in enumerate(zip(cuts, cuts[1:]))]
        return Strip(segs, COLUMNS)


class PlainApp(App):
    def __init__(self, rows: int = 64, segments: int = 24, hz: float = 10.0) -> None:
        super().__init__()
        self.lanes = PlainLanes(rows, segments)
        self.hz = hz

    def compose(self) -> ComposeResult:
        yield self.lanes
        yield Footer()

    def on_mount(self) -> None:
        if self.hz:
            self.set_interval(1 / self.hz, self.lanes.advance)


if __name__ == "__main__":
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    segments = int(sys.argv[2]) if len(sys.argv) > 2 else 24
    PlainApp(rows, segments).run()
