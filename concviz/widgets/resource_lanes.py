"""The resource lanes, under the cores: the run's memory over time (read from outside), and the
connections its loopback server had open (net workloads), on the same time axis as the lanes
above, so that memory growing with the connections held is seen as it happens."""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment

from concviz.view import BLOCKS
from concviz.widgets.lane_pane import LanePane

MEMORY, CONNECTIONS = "memory", "connections"


def block_codes(values: list[int | None], lo: int, hi: int) -> str:
    """One block per column, its height from ``lo`` (the lowest, ▁) to ``hi`` (the highest,
    █; all at the lowest when they are equal); blank where there is no value."""
    span = max(0, hi - lo)
    return "".join(" " if v is None else BLOCKS[1 + (7 * (v - lo) // span if span else 0)] for v in values)


class ResourceLanes(LanePane):
    """A lane for the run's memory (when it was measured) and one for the server's open
    connections (when the run had a server); nothing at all for a run that has neither, such as
    a trace recorded before concviz measured them."""

    COMPONENT_CLASSES: ClassVar[set[str]] = LanePane.COMPONENT_CLASSES | {"lane--memory", "lane--connections"}
    header_rows = 0
    exact_width = False

    def kinds(self) -> list[str]:
        res = self.frame.resources if self.frame else None
        if res is None:
            return []
        return ([MEMORY] if res.n_memory else []) + ([CONNECTIONS] if res.n_server else [])

    def lane_count(self) -> int:
        return len(self.kinds())

    def memory_scale(self, readings) -> tuple[int, int]:
        """The readings drawn lowest (▁) and highest (█): from the run's lowest reading to its
        highest, since the growth is what there is to see."""
        return min(readings), max(readings)

    def memory_shown(self, readings) -> int:
        """The reading the note gives: the latest (the memory now, while the run goes on)."""
        return readings[-1]

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1) -> list[Segment]:
        label_w, cells_w, note_w = self.columns(width)
        res, win = self.frame.resources, self.window
        kind = self.kinds()[index]
        if kind == MEMORY:
            readings = res.memory.bytes[:res.n_memory]
            values = res.memory_columns(win.t0, win.t1, cells_w)
            cells = block_codes(values, *self.memory_scale(readings))
            mb = self.memory_shown(readings) / 2**20
            note, label = (f"{mb:.1f} MB" if mb < 100 else f"{mb:.0f} MB"), " memory"
        else:
            n = res.n_server
            values = res.server_columns(win.t0, win.t1, cells_w)
            cells = block_codes(values, 0, max(res.server_open[:n]))
            note, label = f"{res.server_open[n - 1]} open", " connections"
            if len(note) > note_w - 2:  # (10,000 open: the number alone)
                note = str(res.server_open[n - 1])
        return [Segment(label.ljust(label_w)[:label_w], self.style("lane--label")),
                Segment(cells, self.style(f"lane--{kind}")),
                Segment(" " + note.rjust(note_w - 2)[: note_w - 2] + "  " if note_w else " ", self.style("lane--note"))]
