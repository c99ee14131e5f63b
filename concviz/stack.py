"""Runs stacked on one time axis: what each run is called, its time window, and its rows.

No widgets here (concviz.widgets.stack draws a stack). Each run's time counts from its own
start, and every run of a stack is drawn over the same span, the longest run's, so a run that
took half as long ends half-way across: the difference is seen as length. A run measured now
sweeps instead, like an oscilloscope's trace: its lanes show a window short enough that one GIL
turn (a switch interval) spans TURN_COLUMNS columns, and the window jumps on by its own width
when the live edge reaches its right end. Once the run is over it is drawn whole.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Sequence

from concviz.engine.frame import Frame
from concviz.engine.spec import RunSpec, SpecError
from concviz.engine.workloads import NetPreset
from concviz.talk.figures import format_number
from concviz.view import FIT_MIN_SPAN_NS, MIN_SPAN_NS, Window, nice_floor

MAX_STACK = 4  # runs on one time axis: more would leave each too few rows
TURN_COLUMNS = 3  # columns one switch interval spans while a live run sweeps


@dataclass(frozen=True)
class StackedRun:
    """One run of a stack.

    Attributes:
        name: what the run is called (its model, or the name a talk deck gave it).
        spec: its settings.
        frame: its picture; None while it has not started.
        live: measured now: while it runs, its lanes sweep.
    """

    name: str
    spec: RunSpec
    frame: Frame | None = None
    live: bool = False

    @property
    def lanes(self) -> int:
        """How many task lanes the run has (or will have)."""
        return len(self.frame.tasks) if self.frame is not None and self.frame.tasks else self.spec.tasks

    @property
    def measured_spec(self) -> RunSpec:
        """The settings the run's recording says it had (a recorded run shown for a deck's),
        else the settings asked for."""
        recorded = self.frame.header.get("spec") if self.frame is not None else None
        if not recorded:
            return self.spec
        spec = RunSpec.from_dict(recorded)
        try:
            return spec.validate()  # (which also reads its faults)
        except SpecError:  # recorded where other settings were possible (another machine)
            return spec

    @property
    def sweeping(self) -> bool:
        """Measured now and not over: its lanes sweep."""
        return self.live and self.frame is not None and self.frame.running


@dataclass(frozen=True)
class BlockRows:
    """The rows a run of a stack asks for: ``fixed`` rows always (its label, the "in parallel"
    row, an axis nobody else draws for it), ``optional`` rows it can do without (an axis the
    same as the one above it), and ``lanes`` task lanes of one to ``max_rows`` rows each."""

    fixed: int
    optional: int
    lanes: int


@dataclass(frozen=True)
class Allotted:
    """The rows a run of a stack gets: its height, and whether its optional rows are in it."""

    height: int
    optional: bool


def settings_text(name: str, spec: RunSpec) -> str:
    """The run's settings in a few words ('cpu · 4 tasks · scale 0.5', 'net-slow · 1,000
    connections x 1 request, 1000 ms replies'); the model too when the run's name is not the
    model's."""
    parts = [] if name == spec.model else [spec.model]
    if spec.is_net and spec.requests is not None and spec.latency_ms is not None:
        # a net run's size is its connections, requests and latency; its scale means nothing
        parts += [spec.workload, NetPreset(spec.tasks, spec.requests, spec.latency_ms).words()]
    else:
        parts += [spec.workload, f"{spec.tasks} task{'s' * (spec.tasks != 1)}"]
    if spec.has_pool:
        parts.append(f"{spec.pool_size} workers")
    if not spec.is_net:
        parts.append(f"scale {spec.scale:g}")
    if spec.switch_interval_ms:
        parts.append(f"switch {spec.switch_interval_ms:g} ms")
    parts += [f"{kind} T{task}" for task, kind in sorted(spec.faults.items())]
    return " · ".join(parts)


def shows_memory(run: StackedRun) -> bool:
    """Whether the run gets a memory row in a stack: a run of a net workload, where the memory
    each connection holds is what runs are compared for (elsewhere the row would take a lane's
    room to show memory that barely moves)."""
    return run.spec.is_net


def memory_scale(runs: Sequence[StackedRun]) -> tuple[int, int] | None:
    """The lowest and the highest memory reading (bytes) among the runs': every memory row of
    a stack is drawn against them, so that the run that held more rises higher. None: no run's
    memory was read."""
    lows, highs = [], []
    for run in runs:
        res = run.frame.resources if run.frame is not None else None
        if res is not None and res.n_memory:
            readings = res.memory.bytes[:res.n_memory]
            lows.append(min(readings))
            highs.append(max(readings))
    return (min(lows), max(highs)) if lows else None


def status_text(run: StackedRun) -> str:
    """How the run stands, for its label: its wall time once over (as a talk's figures write
    it), how long it has run so far, or that it has not started."""
    frame = run.frame
    if frame is None or frame.first_ns is None:
        return "waiting" if frame is None else "starting"
    if frame.running:
        return f"▶ {format_number((frame.now_ns - frame.first_ns) / 1e9, 's')}"
    wall = format_number(frame.stats["wall_s"], "s")
    failed = frame.stats["failed"] - frame.stats["stopped"]
    if frame.ended != "ok":
        return f"{wall} ({frame.ended})"
    return f"{wall} ({failed} failed)" if failed else wall


def run_span(frame: Frame | None) -> int:
    """How long a run took, or has taken so far: its first instant to its right edge."""
    if frame is None or frame.first_ns is None:
        return 0
    return max(0, frame.t_end - frame.first_ns)


def shared_span(runs: Sequence[StackedRun]) -> int:
    """The span every run of the stack that does not sweep is drawn over: the longest one's."""
    spans = [run_span(r.frame) for r in runs if r.frame is not None and not r.sweeping]
    return max(MIN_SPAN_NS, *spans) if spans else FIT_MIN_SPAN_NS


def whole_window(frame: Frame, span: int) -> Window:
    """The run from its own start, over ``span``."""
    origin = frame.first_ns if frame.first_ns is not None else frame.now_ns
    return Window(origin, origin + span, origin)


def switch_ms(frame: Frame, spec: RunSpec) -> float:
    """The switch interval the run had (as recorded, else as asked for, else this
    interpreter's), in ms."""
    recorded = frame.machine.get("switch_interval_ms")
    return float(recorded or spec.switch_interval_ms or sys.getswitchinterval() * 1000)


def sweep_span(switch_interval_ms: float, cells: int) -> int:
    """A round span in which one switch interval covers at least TURN_COLUMNS of ``cells``."""
    return max(MIN_SPAN_NS, nice_floor(int(switch_interval_ms * 1e6 * cells / TURN_COLUMNS)))


def sweep_window(frame: Frame, span: int) -> Window:
    """The page of ``span`` the live edge is in: the sweep starts again at the left each time
    the edge reaches the right."""
    origin = frame.first_ns if frame.first_ns is not None else frame.now_ns
    page = max(0, frame.now_ns - origin) // span
    t0 = origin + page * span
    return Window(t0, t0 + span, origin)


def allot(height: int, blocks: Sequence[BlockRows], max_rows: int) -> list[Allotted]:
    """Share ``height`` rows among a stack's runs.

    Every run's lanes are drawn equally tall (the tallest, up to ``max_rows`` rows a lane, that
    fits them all), so a lane means the same everywhere; taller lanes come before optional rows,
    which are kept from the top while they fit. Short of room for one row a lane, each run
    keeps one row of lanes at least and shares the rest in proportion to its lanes (a run's
    other lanes are then cut off at the bottom of its rows).
    """
    for rows in range(max_rows, 0, -1):
        spare = height - sum(b.fixed + b.lanes * rows for b in blocks)
        if spare < 0:
            continue
        out = []
        for b in blocks:
            keep = b.optional <= spare
            spare -= b.optional if keep else 0
            out.append(Allotted(b.fixed + b.lanes * rows + (b.optional if keep else 0), keep))
        return out
    room = height - sum(b.fixed + min(1, b.lanes) for b in blocks)
    extra = [max(0, b.lanes - 1) for b in blocks]
    total = sum(extra)
    shares = [room * e / total if total and room > 0 else 0.0 for e in extra]
    given = [int(s) for s in shares]
    # the rows rounding left over go to the runs that lost most to it
    for i in sorted(range(len(blocks)), key=lambda i: given[i] - shares[i])[: max(0, room - sum(given))]:
        given[i] += 1
    return [Allotted(b.fixed + min(1, b.lanes) + min(g, e), False) for b, g, e in zip(blocks, given, extra)]
