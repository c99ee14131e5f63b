"""Lane columns kept from frame to frame, redone only where the data changed.

A live run changes near its right edge, so a lane pane that kept last frame's columns needs to
work out only the columns from the earliest change on: a few per lane instead of the whole width.
A zoom or a pan (a new window) computes every column. The engine says where a lane changed
(concviz.engine.changes, Frame.lane_changed_from) and computes columns from a given one on
(Frame.task_codes_from, Frame.core_columns); what is kept, and for which pane, is decided here.
The caches give the same columns as a computation afresh (tests/unit/test_codes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from concviz.engine.core_cells import CoreCells, CoreColumns
from concviz.engine.changes import INF, changed_from, first_changed_column
from concviz.engine.frame import Frame
from concviz.engine.task import TaskView
from concviz.engine.worker_cores import (UNKNOWN_CPU, WorkerGroup, WorkerLanes, worker_core_closed,
                                         worker_with_open_runs)


@dataclass
class _LaneMemo:
    """One task lane's rows as last drawn."""

    gen: int  # the LaneCodes generation (frame) they were last checked in
    view: TaskView  # the task as it was then
    now_ns: int  # that frame's live edge
    key: tuple  # (timeline, t0, t1, width, levels): the window they were drawn over
    rows: list[list[int]]
    dense: bool  # read from running sums (see Frame.task_codes_from)
    sibling: bool  # the task shared a GIL with other threads (their changes count too)


class LaneCodes:
    """Task lane codes kept across frames. A lane's columns before the earliest instant its
    data changed (for a thread sharing a GIL: its own data or a sibling thread's) are taken
    from the last frame, and only the rest are worked out. Same codes as Frame.task_codes."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._prev: Frame | None = None
        self._gen = 0
        self._pid_from: dict[int, float] | None = None  # pid -> where its threads changed
        self._memo: dict[int, _LaneMemo] = {}  # task id -> its rows as last drawn

    def begin(self, frame: Frame) -> None:
        """Take a new frame (where its GILs' threads changed is worked out when first asked)."""
        if frame is self._frame:
            return
        self._prev, self._frame = self._frame, frame
        self._gen += 1
        self._pid_from = None
        if len(self._memo) > 4 * len(frame.tasks) + 1000:
            self._memo.clear()

    def _sibling_change(self, pid: int) -> float:
        """Where the task threads of ``pid`` changed since the last frame (-inf: anywhere)."""
        if self._prev is None:
            return -INF
        if self._pid_from is None:
            frame, prev = self._frame, self._prev
            pids = frame.thread_pids
            olds, news = prev.tasks, frame.tasks
            old_now, new_now = prev.now_ns, frame.now_ns
            if len(olds) > len(news) or (olds and (olds[0].id != news[0].id
                                                   or olds[-1].id != news[len(olds) - 1].id)):
                self._pid_from = dict.fromkeys(pids, -INF)  # not the same tasks in order: redo all
                return self._pid_from.get(pid, INF)
            self._pid_from = out = {}
            for old, t in zip(olds, news):  # (in id order: a task with no event since keeps its view)
                if old is t and t.end_ns is not None:
                    continue  # ended, and nothing new: its lane cannot have changed
                if old.pid != t.pid and old.pid in pids:
                    out[old.pid] = -INF  # a thread left its process
                if t.pid in pids:
                    at = changed_from(old, t, old_now, new_now)
                    if at < out.get(t.pid, INF):
                        out[t.pid] = at
            for t in news[len(olds):]:  # new threads
                if t.pid in pids:
                    out[t.pid] = -INF
        return self._pid_from.get(pid, INF)

    def rows(self, frame: Frame, index: int, t0: int, t1: int, width: int, levels: int = 1) -> list[list[int]]:
        """Frame.task_codes(index, t0, t1, width, levels), from the last frame's where it holds."""
        self.begin(frame)
        t = frame.tasks[index]
        key = (frame.source, t0, t1, width, levels)  # another run: start afresh
        sibling = frame.gil and t.pid in frame.thread_pids
        m = self._memo.get(t.id)
        if m is not None and m.key == key and m.sibling == sibling:
            if m.gen == self._gen:
                return m.rows
            at = changed_from(m.view, t, m.now_ns, frame.now_ns)
            if sibling:
                at = min(at, self._sibling_change(t.pid)) if m.gen == self._gen - 1 else -INF
            if at == INF:
                m.gen, m.view, m.now_ns = self._gen, t, frame.now_ns
                return m.rows
            from_col = first_changed_column(at, t0, t1, width)
            if from_col > 0:
                codes = frame.task_codes_from(index, t0, t1, width, levels, from_col, m.rows)
                if codes.dense == m.dense:  # else the columns kept were computed another way: redo all
                    self._memo[t.id] = _LaneMemo(self._gen, t, frame.now_ns, key, codes.rows, codes.dense, sibling)
                    return codes.rows
        codes = frame.task_codes_from(index, t0, t1, width, levels, 0, [])
        self._memo[t.id] = _LaneMemo(self._gen, t, frame.now_ns, key, codes.rows, codes.dense, sibling)
        return codes.rows


@dataclass
class _ColumnsMemo:
    """One core or process lane's closed columns as last computed."""

    serial: int  # the snapshot they were computed in
    key: tuple  # (timeline, t0, t1, width): the window
    closed: CoreColumns


class _ClosedColumnsCache:
    """Columns of core or process lanes kept across frames: the columns before the earliest
    start among the RUN intervals that reached the lane since the last frame are reused (the
    Timeline logs that instant per lane, under ``LANE``), the rest worked out again. Asked twice
    in one frame, the same answer."""

    LANE = ""  # the Timeline's name for this kind of lane ("c": core, "p": process)

    def __init__(self) -> None:
        self._memo: dict[object, _ColumnsMemo] = {}  # lane -> its closed columns as last computed
        self._frame: Frame | None = None
        self._shown: dict[tuple, CoreCells] = {}  # (lane, window) -> this frame's answer

    def cells(self, frame: Frame, lane, t0: int, t1: int, width: int) -> CoreCells:
        """The lane's cells over [t0, t1), from the last frame's columns where they hold."""
        if frame is not self._frame:
            self._frame, self._shown = frame, {}
        shown = self._shown.get((lane, t0, t1, width))
        if shown is not None:
            return shown
        serial = frame.serial
        key = (frame.source, t0, t1, width, self._same(frame, lane))  # serials count within one Timeline
        m = self._memo.get(lane)
        first, prev = 0, None
        logged = self._logged_lane(lane)
        if serial is not None and m is not None and m.key == key and logged is not None:
            first = first_changed_column(frame.lane_changed_from(logged, m.serial), t0, t1, width)
            if first:
                prev = m.closed
        if first == width:
            closed = m.closed
        else:
            closed = self._columns(frame, lane, t0, t1, width, first, prev)
            if prev is not None and closed.dense != prev.dense:  # columns kept were computed another way
                closed = self._columns(frame, lane, t0, t1, width, 0, None)
        if serial is not None:
            self._memo[lane] = _ColumnsMemo(serial, key, closed)
        out = self._shown[(lane, t0, t1, width)] = self._cells(frame, lane, t0, t1, width, closed)
        return out

    def _logged_lane(self, lane) -> tuple | None:
        """The Timeline's lane whose changes bound this lane's (None: not logged, redo all)."""
        return (self.LANE, lane)

    def _same(self, frame: Frame, lane) -> tuple:
        """What else must be as it was for the columns kept to hold."""
        return ()

    def _columns(self, frame: Frame, lane, t0: int, t1: int, width: int, first: int,
                 prev: CoreColumns | None) -> CoreColumns:
        """The lane's closed columns, those before ``first`` taken from ``prev``."""
        raise NotImplementedError

    def _cells(self, frame: Frame, lane, t0: int, t1: int, width: int, closed: CoreColumns) -> CoreCells:
        """What the pane draws of the closed columns."""
        return CoreCells(closed.busy, closed.who)


class CoreCellsCache(_ClosedColumnsCache):
    """Core lane cells kept across frames (see _ClosedColumnsCache); RUN intervals still open
    are laid on top each frame. Same cells as Frame.core_cells."""

    LANE = "c"

    def _columns(self, frame: Frame, lane: int, t0: int, t1: int, width: int, first: int,
                 prev: CoreColumns | None) -> CoreColumns:
        return frame.core_columns(lane, t0, t1, width, first, prev)

    def _cells(self, frame: Frame, lane: int, t0: int, t1: int, width: int, closed: CoreColumns) -> CoreCells:
        return frame.with_open_runs(lane, t0, t1, width, closed)


class GilCellsCache(_ClosedColumnsCache):
    """GIL lane cells (a GIL-sharing process's lane: which thread held it) kept across frames
    (see _ClosedColumnsCache). Same cells as Frame.gil_cells."""

    LANE = "p"

    def _columns(self, frame: Frame, lane: int, t0: int, t1: int, width: int, first: int,
                 prev: CoreColumns | None) -> CoreColumns:
        return frame.gil_columns(lane, t0, t1, width, first, prev)


class WorkerCoreCellsCache(_ClosedColumnsCache):
    """A cluster's worker lanes (lane ``(worker pid, cpu)``) kept across frames (see
    _ClosedColumnsCache), over the packed lanes it keeps (:attr:`index`, a WorkerLanes). A
    worker's lane on a CPU is a part of that CPU's core lane, whose changes bound its own; a
    worker elsewhere (no CPU number) is redone each frame. Same cells as
    worker_cores.worker_core_cells."""

    LANE = "c"

    def __init__(self) -> None:
        super().__init__()
        self.index = WorkerLanes()

    def groups(self, frame: Frame) -> list[WorkerGroup] | None:
        """The run's workers (None: not a cluster run), the lanes brought up to ``frame``."""
        return self.index.groups(frame, frame.header)

    def cells(self, frame: Frame, lane: tuple[int, int], t0: int, t1: int, width: int) -> CoreCells:
        self.index.groups(frame, frame.header)  # (first: a rebuild of the lanes changes what is kept)
        return super().cells(frame, lane, t0, t1, width)

    def _logged_lane(self, lane: tuple[int, int]) -> tuple | None:
        cpu = lane[1]
        return None if cpu == UNKNOWN_CPU else (self.LANE, cpu)

    def _same(self, frame: Frame, lane: tuple[int, int]) -> tuple:
        return (self.index.generation,)  # (the lanes built again: nothing kept holds)

    def _columns(self, frame: Frame, lane: tuple[int, int], t0: int, t1: int, width: int, first: int,
                 prev: CoreColumns | None) -> CoreColumns:
        pid, cpu = lane
        return worker_core_closed(frame, self.index, pid, cpu, t0, t1, width, first, prev)

    def _cells(self, frame: Frame, lane: tuple[int, int], t0: int, t1: int, width: int,
               closed: CoreColumns) -> CoreCells:
        pid, cpu = lane
        return worker_with_open_runs(frame, pid, cpu, t0, t1, width, closed)
