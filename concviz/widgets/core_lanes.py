"""The core lanes: one lane per logical CPU, how busy it was with task work and with which
task, and a row of how many cores' worth ran at once."""

from __future__ import annotations

from math import ceil

from rich.segment import Segment
from textual.strip import Strip

from concviz.widgets.lane_cache import CoreCellsCache
from concviz.view import BLOCKS, axis_ticks, format_time
from concviz.widgets.lane_pane import TASK_COLOURS, LanePane, code_segments

# the "in parallel" row's column: 0 nothing ran, else eighths of all cores busy (1-8), plus 9
# where more than one core's worth ran
TOTAL_GLYPHS = {c: BLOCKS[c % 9] for c in range(18)}
TOTAL_STYLE_KEY = {c: chr(0 if c == 0 else 1 if c < 9 else 2) for c in range(18)}

# a core lane's column: 0 idle, else 1 + 9 x (task colour) + eighths busy (0-8)
CORE_GLYPHS = {c: " " if c == 0 else BLOCKS[(c - 1) % 9] for c in range(1 + 9 * TASK_COLOURS)}
CORE_STYLE_KEY = {c: chr(0 if c == 0 else 1 + (c - 1) // 9) for c in range(1 + 9 * TASK_COLOURS)}


class CoreLanes(LanePane):
    """One lane per logical CPU: how busy it was with task work (block height) and with which
    task (colour), as recorded by the probe; the label shows the OS's live utilisation."""

    title = "Cores"
    exact_width = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.os_percent: tuple[float, ...] = ()
        self._cells = CoreCellsCache()  # core columns kept across frames, redone where changed

    def lane_count(self) -> int:
        # one lane per CPU, plus "all": how many cores' worth of task work ran in each slice
        return self.frame.cpu_count + 1 if self.frame else 0

    def header_key(self) -> tuple:
        return self.window, bool(self.os_percent)

    def render_header(self, y: int, width: int) -> Strip:
        label_w, cells_w, note_w = self.columns(width)
        marks = [" "] * cells_w
        for col, _ in axis_ticks(self.window, cells_w):
            if col < cells_w:
                marks[col] = "╷"
        title = " Cores" + ("  OS%" if self.os_percent else "")
        return Strip([
            Segment(title.ljust(label_w)[:label_w], self.style("lane--title")),
            Segment("".join(marks) + " ", self.style("lane--axis")),
            Segment("busy".rjust(note_w - 1)[: note_w - 1] if note_w else "", self.style("lane--axis")),
        ])

    def _core(self, cpu: int, cells_w: int):
        """This frame's cells of ``cpu`` (the cache answers a repeat request in one frame)."""
        win = self.window
        return self._cells.cells(self.frame, cpu, win.t0, win.t1, cells_w)

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        frame = self.frame
        label_w, cells_w, note_w = self.columns(width)
        n = frame.cpu_count
        if index == n:
            return self.render_total(width)
        cc = self._core(index, cells_w)
        codes = [0 if who < 0 else 1 + 9 * (who % TASK_COLOURS) + (min(8, ceil(busy * 8 - 1e-9)) if busy > 0.001 else 0)
                 for busy, who in zip(cc.busy, cc.task)]
        pct = f"{self.os_percent[index]:3.0f}%" if index < len(self.os_percent) else ""
        label = f" cpu{index}".ljust(label_w - 5) + pct.rjust(4) + " "
        busy_ns = sum(row["busy_s"] for row in frame.stats["per_core"] if row["cpu"] == index) * 1e9
        note = format_time(busy_ns) if busy_ns else "idle"
        return ([Segment(label[:label_w], self.style("lane--label"))]
                + code_segments(codes, CORE_GLYPHS, CORE_STYLE_KEY, self.palette("core"))
                + [Segment(" " + note.rjust(note_w - 2)[: note_w - 2] + "  " if note_w else " ", self.style("lane--note"))])

    def render_total(self, width: int) -> list[Segment]:
        """Cores busy at once in each slice: the block's height is the share of all cores, the
        colour says whether more than one core's worth ran (true parallelism)."""
        frame = self.frame
        label_w, cells_w, note_w = self.columns(width)
        n = frame.cpu_count
        total = [sum(col) for col in zip(*(self._core(cpu, cells_w).busy for cpu in range(n)))] if n else [0.0] * cells_w
        codes = [(min(8, ceil(v / n * 8 - 1e-9)) + (9 if v > 1.05 else 0)) if v > 0.001 else 0 for v in total]
        p = frame.stats["parallelism"]
        return ([Segment(" in parallel".ljust(label_w)[:label_w], self.style("lane--title"))]
                + code_segments(codes, TOTAL_GLYPHS, TOTAL_STYLE_KEY, self.palette("total"))
                + [Segment(" " + f"×{p:.2f}".rjust(note_w - 2)[: note_w - 2] + "  " if note_w else " ",
                           self.style("lane--note"))])
