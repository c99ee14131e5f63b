"""The core lanes: one lane per logical CPU, how busy it was with task work and with which
task, and a row of how many cores' worth ran at once.

A cluster run (Dask) groups them by worker: a heading row per worker process (its name, pid,
host, threads), then a lane per CPU its tasks ran on (engine/worker_cores.py); the pane
scrolls where the workers do not fit.
"""

from __future__ import annotations

from math import ceil
from typing import NamedTuple

from rich.segment import Segment
from textual.strip import Strip

from concviz.engine.worker_cores import UNKNOWN_CPU, WorkerGroup
from concviz.widgets.lane_cache import CoreCellsCache, WorkerCoreCellsCache
from concviz.view import BLOCKS, axis_ticks, format_time
from concviz.widgets.lane_pane import TASK_COLOURS, LanePane, code_segments

# the "in parallel" row's column: 0 nothing ran, else eighths of all cores busy (1-8), plus 9
# where more than one core's worth ran
TOTAL_GLYPHS = {c: BLOCKS[c % 9] for c in range(18)}
TOTAL_STYLE_KEY = {c: chr(0 if c == 0 else 1 if c < 9 else 2) for c in range(18)}

# a core lane's column: 0 idle, else 1 + 9 x (task colour) + eighths busy (0-8)
CORE_GLYPHS = {c: " " if c == 0 else BLOCKS[(c - 1) % 9] for c in range(1 + 9 * TASK_COLOURS)}
CORE_STYLE_KEY = {c: chr(0 if c == 0 else 1 + (c - 1) // 9) for c in range(1 + 9 * TASK_COLOURS)}


class CoreRow(NamedTuple):
    """One row of the pane: a CPU's lane (of a worker, in a cluster run), a worker's heading
    (``cpu`` None), or the "in parallel" row (both None)."""

    group: WorkerGroup | None
    cpu: int | None


TOTAL_ROW = CoreRow(None, None)


class CoreLanes(LanePane):
    """One lane per logical CPU: how busy it was with task work (block height) and with which
    task (colour), as recorded by the probe; the label shows the OS's live utilisation. In a
    cluster run, the lanes are grouped by worker process."""

    title = "Cores"
    exact_width = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.os_percent: tuple[float, ...] = ()
        self._cells = CoreCellsCache()  # core columns kept across frames, redone where changed
        self._worker_cells = WorkerCoreCellsCache()  # the same for a cluster's worker lanes

    def rows(self) -> list[CoreRow]:
        """This frame's rows, top to bottom (the lanes' order)."""
        rows = self._memo.get("rows")
        if rows is None:
            frame = self.frame
            groups = self._worker_cells.groups(frame)
            if groups is None:
                rows = [CoreRow(None, cpu) for cpu in range(frame.cpu_count)]
            else:
                rows = [row for g in groups for row in (CoreRow(g, None), *(CoreRow(g, cpu) for cpu in g.cpus))]
            rows = self._memo["rows"] = [*rows, TOTAL_ROW]
        return rows

    def lane_count(self) -> int:
        # the lanes, plus "all": how many cores' worth of task work ran in each slice
        return len(self.rows()) if self.frame else 0

    def local_cpus(self) -> bool:
        """Whether the CPUs drawn are this machine's (the OS% column is about them)."""
        cluster = self.frame.header.get("cluster")
        return not isinstance(cluster, dict) or bool(cluster.get("local"))

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

    def _core(self, row: CoreRow, cells_w: int):
        """This frame's cells of a lane (the caches answer a repeat request in one frame)."""
        win = self.window
        if row.group is None:
            return self._cells.cells(self.frame, row.cpu, win.t0, win.t1, cells_w)
        return self._worker_cells.cells(self.frame, (row.group.pid, row.cpu), win.t0, win.t1, cells_w)

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        frame = self.frame
        label_w, cells_w, note_w = self.columns(width)
        row = self.rows()[index]
        if row is TOTAL_ROW:
            return self.render_total(width)
        if row.cpu is None:
            return self.render_worker(row.group, width)
        cc = self._core(row, cells_w)
        codes = [0 if who < 0 else 1 + 9 * (who % TASK_COLOURS) + (min(8, ceil(busy * 8 - 1e-9)) if busy > 0.001 else 0)
                 for busy, who in zip(cc.busy, cc.task)]
        show_pct = row.cpu < len(self.os_percent) and row.cpu >= 0 and self.local_cpus()
        pct = f"{self.os_percent[row.cpu]:3.0f}%" if show_pct else ""
        if row.group is None:
            name = f" cpu{row.cpu}"
            busy_ns = sum(r["busy_s"] for r in frame.stats["per_core"] if r["cpu"] == row.cpu) * 1e9
        else:
            name = "   cpu ?" if row.cpu == UNKNOWN_CPU else f"   cpu{row.cpu}"
            busy_ns = dict(row.group.cpu_busy).get(row.cpu, 0)
        label = name.ljust(label_w - 5) + pct.rjust(4) + " "
        note = format_time(busy_ns) if busy_ns else "idle"
        return ([Segment(label[:label_w], self.style("lane--label"))]
                + code_segments(codes, CORE_GLYPHS, CORE_STYLE_KEY, self.palette("core"))
                + [self.note_segment(note, note_w)])

    def note_segment(self, note: str, note_w: int) -> Segment:
        """The note column of a row (a space where there is none)."""
        return Segment(" " + note.rjust(note_w - 2)[: note_w - 2] + "  " if note_w else " ", self.style("lane--note"))

    def render_worker(self, group: WorkerGroup, width: int) -> list[Segment]:
        """A worker's heading: who it is, over its label and cells columns; its busy time."""
        label_w, cells_w, note_w = self.columns(width)
        text = " " + group.heading()
        return [Segment(text.ljust(label_w + cells_w)[: label_w + cells_w], self.style("lane--title")),
                self.note_segment(format_time(group.busy_ns) if group.busy_ns else "idle", note_w)]

    def render_total(self, width: int) -> list[Segment]:
        """Cores busy at once in each slice: the block's height is the share of all cores, the
        colour says whether more than one core's worth ran (true parallelism)."""
        frame = self.frame
        label_w, cells_w, note_w = self.columns(width)
        lanes = [row for row in self.rows() if row.cpu is not None]
        # the share is of this machine's cores, or of a cluster's threads elsewhere
        groups = {row.group for row in lanes if row.group is not None}
        n = frame.cpu_count if self.local_cpus() else max(1, sum(g.threads for g in groups))
        total = ([sum(col) for col in zip(*(self._core(row, cells_w).busy for row in lanes))] if lanes
                 else [0.0] * cells_w)
        codes = [(min(8, ceil(v / n * 8 - 1e-9)) + (9 if v > 1.05 else 0)) if v > 0.001 else 0 for v in total]
        p = frame.stats["parallelism"]
        return ([Segment(" in parallel".ljust(label_w)[:label_w], self.style("lane--title"))]
                + code_segments(codes, TOTAL_GLYPHS, TOTAL_STYLE_KEY, self.palette("total"))
                + [self.note_segment(f"×{p:.2f}", note_w)])
