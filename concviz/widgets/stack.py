"""The stacked view: runs one above the other on one time axis, and the screen that shows the
last runs of this session that way (the v key, ``concviz stack``).

concviz.stack decides each run's window and rows; the drawing is the main screen's own panes: a
run's task lanes are TaskLanes, its "in parallel" row is CoreLanes' own, each given the window
the stack chose instead of the zoom's.
"""

from __future__ import annotations

from typing import Sequence

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.screen import Screen

from concviz.engine.models import MODELS
from concviz.engine.timeline import RUNNING
from concviz.stack import (
    MAX_STACK,
    BlockRows,
    StackedRun,
    allot,
    memory_scale,
    settings_text,
    shared_span,
    shows_memory,
    status_text,
    sweep_span,
    sweep_window,
    switch_ms,
    whole_window,
)
from concviz.view import Window, format_time
from concviz.widgets.bars import Bar, KeyFooter, legend_markup
from concviz.widgets.core_lanes import CoreLanes
from concviz.widgets.resource_lanes import MEMORY, ResourceLanes
from concviz.widgets.task_lanes import TaskLanes

LABEL_ROWS = 2  # a run's label and its "in parallel" row (and its memory row: see shows_memory)


class _Blankable:
    """A lane pane that can also show nothing (a run not started yet)."""

    def blank(self) -> None:
        """Forget the frame shown and draw blank rows."""
        self.frame = None
        self.window = None
        self._base = self.rich_style  # blank rows on the pane's own background
        self._geometry = None  # the rows on screen are no longer the frame's
        self.virtual_size = Size(self.size.width, 0)
        self.refresh()


class StackedLanes(_Blankable, TaskLanes):
    """A run's task lanes in a stack: TaskLanes without a title, with its time axis only where
    the stack asks for one (``axis``)."""

    title = ""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.header_rows = 1

    @property
    def axis(self) -> bool:
        """Whether the lanes draw their time axis above them."""
        return self.header_rows == 1

    @axis.setter
    def axis(self, value: bool) -> None:
        self.header_rows = int(value)


class ParallelRow(_Blankable, CoreLanes):
    """CoreLanes' "in parallel" row alone: how many cores' worth of task work ran at once."""

    header_rows = 0

    def lane_count(self) -> int:
        return 1 if self.frame else 0

    def render_lane(self, index: int, width: int, level: int = 0, levels: int = 1):
        return self.render_total(width)


class MemoryRow(_Blankable, ResourceLanes):
    """A run's memory over time, drawn against ``scale`` (the lowest and highest reading of the
    stack's runs, concviz.stack.memory_scale) so that runs compare by height; its note is the
    run's peak (``mem_peak_mb``)."""

    scale: tuple[int, int] | None = None

    def kinds(self) -> list[str]:
        res = self.frame.resources if self.frame else None
        return [MEMORY] if res is not None and res.n_memory else []

    def memory_scale(self, readings) -> tuple[int, int]:
        return self.scale or super().memory_scale(readings)

    def memory_shown(self, readings) -> int:
        peak = self.frame.stats["mem_peak_mb"]  # the run's own figure, as a takeaway gives it
        return max(readings) if peak is None else int(peak * 2**20)


class RunBlock(Vertical):
    """One run of a stack: its label (name, settings, wall time), lanes, "in parallel" row and,
    for a net workload, its memory row."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._shown: tuple | None = None

    def compose(self) -> ComposeResult:
        yield Bar(classes="run-label")
        yield StackedLanes(classes="run-lanes")
        yield ParallelRow(classes="run-parallel")
        yield MemoryRow(classes="run-memory")

    def on_mount(self) -> None:
        self.label = self.query_one(Bar)
        self.lanes = self.query_one(StackedLanes)
        self.parallel = self.query_one(ParallelRow)
        self.memory = self.query_one(MemoryRow)

    def show(self, run: StackedRun, window: Window | None, note: str = "",
             scale: tuple[int, int] | None = None) -> None:
        """Draw ``run`` in ``window`` (None: it has not started), its memory against ``scale``
        (the stack's); nothing is redone when neither the run's picture, the window, the scale
        nor the size changed."""
        key = (run.name, id(run.frame), run.frame.version if run.frame else None, window, note,
               scale, self.lanes.axis, self.size)
        if key == self._shown:
            return
        self._shown = key
        if run.frame is None or window is None:
            self.lanes.blank()
            self.parallel.blank()
            self.memory.blank()
            self.label.set_markup(label_markup(run, self.label.size.width))
            return
        info = MODELS.get(run.frame.model)
        self.lanes.show(run.frame, window, note, info)
        self.parallel.show(run.frame, window, info=info)
        if self.memory.display:
            self.memory.scale = scale
            self.memory.show(run.frame, window, info=info)
        lanes = self.lanes.lane_count()
        room = max(0, self.lanes.size.height - self.lanes.header_rows) // self.lanes.rows_per_lane
        # short of rows, a sweeping run shows the lanes of the tasks that run now, not the
        # first ones (which may be long over); once over, the first ones again
        first = first_running(run.frame) if run.sweeping and room < lanes else 0
        top = min(first, lanes - room) * self.lanes.rows_per_lane if room else 0
        if int(self.lanes.scroll_offset.y) != top:  # (its overflow is hidden: no scroll_to)
            self.lanes.set_scroll(None, top)
            self.lanes.show(run.frame, window, note, info)
        self.label.set_markup(label_markup(run, self.label.size.width, min(room, lanes)))


def first_running(frame) -> int:
    """The first task of ``frame`` that runs now (0 if none does)."""
    return next((i for i, t in enumerate(frame.tasks) if t.status == RUNNING), 0)


def label_markup(run: StackedRun, width: int, shown: int | None = None) -> str:
    """The run's name and settings on the left, how it stands (its wall time) on the right;
    ``shown``: how many of its lanes there was room for, said when not all."""
    name = run.name.replace("[", "\\[")
    settings = settings_text(run.name, run.measured_spec)
    if shown is not None and shown < run.lanes:
        settings += f" · {shown} of {run.lanes} lanes shown"
    status = status_text(run)
    room = width - cell_len(name) - cell_len(status) - 4
    if cell_len(settings) > room:
        settings = settings[: max(0, room - 1)] + "…" if room > 1 else ""
    gap = max(1, width - 1 - cell_len(name) - 2 - cell_len(settings) - cell_len(status))
    return f" [b $accent]{name}[/]  [$text-muted]{settings}[/]{' ' * gap}[b]{status}[/]"


class StackView(Vertical):
    """Up to MAX_STACK runs, one above the other, on one time axis: each from its own start over
    the longest run's span; a live run sweeps (concviz.stack)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.runs: list[StackedRun] = []
        self.blocks: list[RunBlock] = []

    def compose(self) -> ComposeResult:
        for _ in range(MAX_STACK):
            yield RunBlock(classes="run-block")

    def on_mount(self) -> None:
        self.blocks = list(self.query(RunBlock))
        for block in self.blocks:
            block.display = False

    def on_resize(self) -> None:
        if self.runs:
            self.call_after_refresh(self._arrange)

    def show(self, runs: Sequence[StackedRun]) -> None:
        """Draw ``runs`` (at most MAX_STACK), laying the blocks out again where their rows
        change."""
        self.runs = list(runs)[:MAX_STACK]
        if self.blocks:
            self._arrange()

    def _arrange(self) -> None:
        runs = self.runs
        needs, own_axes = [], []
        for i, run in enumerate(runs):
            # an axis of its own where the window differs from the one drawn above it
            own_axis = i == 0 or run.sweeping or runs[i - 1].sweeping
            own_axes.append(own_axis)
            needs.append(BlockRows(LABEL_ROWS + own_axis + shows_memory(run), int(not own_axis), run.lanes))
        moved = False
        rows = allot(self.size.height, needs, TaskLanes.max_rows_per_lane)
        for i, block in enumerate(self.blocks):
            if i >= len(runs):
                block.display = False
                continue
            block.display = True
            axis = own_axes[i] or rows[i].optional
            if block.memory.display != shows_memory(runs[i]):
                block.memory.display = shows_memory(runs[i])
                moved = True
            if block.lanes.axis != axis:
                block.lanes.axis = axis
                moved = True
            if block.styles.height is None or block.styles.height.value != rows[i].height:
                block.styles.height = rows[i].height
                moved = True
        if moved:  # the panes must have their new sizes before they draw
            self.call_after_refresh(self._draw)
        else:
            self._draw()

    def _draw(self) -> None:
        span = shared_span(self.runs)
        scale = memory_scale(self.runs)
        with self.app.batch_update():
            for run, block in zip(self.runs, self.blocks):
                if run.frame is None:
                    block.show(run, None)
                elif run.sweeping:
                    cells = block.lanes.columns(block.lanes.draw_width)[1]
                    sweep = sweep_span(switch_ms(run.frame, run.spec), cells)
                    block.show(run, sweep_window(run.frame, sweep), f"▶ {format_time(sweep)}", scale)
                else:
                    block.show(run, whole_window(run.frame, span), scale=scale)


class StackScreen(Screen):
    """The last runs of this session (or recorded traces), stacked on one time axis.

    Args:
        runs: the runs, oldest first (at most MAX_STACK).
    """

    BINDINGS = [
        Binding("escape,v", "back", "Back"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, runs: Sequence[StackedRun]) -> None:
        super().__init__()
        self.runs = list(runs)[-MAX_STACK:]

    def compose(self) -> ComposeResult:
        yield Bar(id="stack-title")
        yield StackView(id="stack")
        yield Bar(id="stack-legend")
        yield KeyFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        n = len(self.runs)
        self.query_one("#stack-title", Bar).set_markup(
            f"[b]concviz[/]  [b $accent]{n} run{'s' * (n != 1)}[/] on one time axis, each from its own start"
            + ("" if n > 1 else "  [dim](r on the main screen runs another to compare)[/]"))
        self.call_after_refresh(self.query_one(StackView).show, self.runs)

    def on_resize(self) -> None:
        self.query_one("#stack-legend", Bar).set_markup(legend_markup(self.size.width))

    def action_back(self) -> None:
        self.dismiss()
