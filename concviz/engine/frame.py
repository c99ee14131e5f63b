"""Frame: an immutable snapshot of a Timeline, with its figures and per-column lane cells.

Cell functions take a time window ``[t0, t1)`` split into ``width`` columns and return, per
column, the fraction of the column's time spent in each state, so a wide column that a task
ran half of shows "half", not a winner: the picture does not lie at coarse zoom. A lane with
at most ``width`` intervals in the window is computed interval by interval; a denser one from
the running sums the Timeline keeps (see prefix.py), so a lane costs O(width x log n) however
long the run: only visible lanes are asked for, and the per-tick cost does not grow with history.

What a task lane draws is one code per column (:meth:`Frame.task_codes`, the same
classification as :meth:`Frame.task_cells`, worked out only where an interval begins or ends);
LaneCodes and CoreCellsCache keep lanes' columns across frames up to where their data changed.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from functools import cached_property
from math import ceil
from operator import itemgetter
from typing import Any

from concviz.engine.prefix import column_owners, column_shares, count_in
from concviz.engine.timeline import (DONE, EVENT_T0, FAILED, QUEUED, RUNNING, _TaskView, median,
                                     start_index)


COL_GIL, COL_CPU, COL_SLEEP, COL_QUEUED = range(4)  # the "other" state of a column
_INF = float("inf")
_FIRST = itemgetter(0)

# What a task lane draws in one column, as one small int (Frame.task_codes):
#   COL_GIL .. COL_QUEUED (0-3)  not running; waiting for the GIL, for a CPU, asleep, queued
#   CODE_BLANK (4)               nothing worth a mark (outside the task's life)
#   5 * e + k                    running e eighths of the column (e = 1..8), over the state k
#                                (0-3) that took most of the rest, or k = 4: nothing else
#                                took more than a tenth of the column
CODE_BLANK = 4
CODE_FULL = 8 * 5 + CODE_BLANK  # ran the whole column
_ONES = [1.0] * 1024


@dataclass
class LaneCells:
    """Per-column fractions (0..1) of one task lane."""

    run: list[float]
    sleep: list[float]
    gil: list[float]  # waiting while a sibling thread ran (the GIL)
    cpu: list[float]  # waiting for a CPU (inside the task, nothing else of its process ran)
    queued: list[float]
    alive: list[float]  # fraction of the column inside [start, end]


@dataclass
class CoreCells:
    """Per-column busy fraction of one core and the task that ran most there."""

    busy: list[float]
    task: list[int]  # -1 where idle


def _span(a: int, b: int, t0: int, dt: float, width: int) -> tuple[float, float, int, int] | None:
    """[a, b) in columns of width ``dt`` from ``t0``, clipped to the ``width`` columns: (x0,
    x1, first column, last column it touches), or None if it misses them. (Frame._task_codes
    inlines this in its loop over RUN intervals, the hottest of a frame.)"""
    if b <= a:
        return None
    x0 = (a - t0) / dt
    x1 = (b - t0) / dt
    if x1 <= 0 or x0 >= width:
        return None
    if x0 < 0:
        x0 = 0.0
    if x1 > width:
        x1 = float(width)
    c1 = int(x1)
    return x0, x1, int(x0), width - 1 if c1 >= width else c1


def _spread(arr: list[float], a: int, b: int, t0: int, dt: float, width: int,
            best: list[float] | None = None, who: list[int] | None = None, tag: int = -1) -> None:
    """Add the overlap of [a, b) with each column to ``arr`` (in column fractions)."""
    span = _span(a, b, t0, dt, width)
    if span is None:
        return
    x0, x1, c0, c1 = span
    if c0 == c1:
        arr[c0] += x1 - x0
        if best is not None and x1 - x0 > best[c0]:
            best[c0], who[c0] = x1 - x0, tag
        return
    first = c0 + 1 - x0
    arr[c0] += first
    last = x1 - c1
    arr[c1] += last
    if c1 > c0 + 1:  # whole columns, by slices (a wide interval is a loop in C, not Python)
        arr[c0 + 1:c1] = [x + 1.0 for x in arr[c0 + 1:c1]]
        if best is not None:
            best[c0 + 1:c1] = [1.0] * (c1 - c0 - 1)
            who[c0 + 1:c1] = [tag] * (c1 - c0 - 1)
    if best is not None:
        if first > best[c0]:
            best[c0], who[c0] = first, tag
        if last > best[c1]:
            best[c1], who[c1] = last, tag


def _cover(arr: list[float], a: int, b: int, t0: int, dt: float, width: int, edges: set[int],
           codes: list[int] | None = None, code: int = 0) -> None:
    """Add [a, b) to ``arr`` (column fractions), for a lane whose intervals do not overlap:
    the columns it covers wholly are set to 1.0 (and to ``code`` in ``codes``), the one or two
    it covers partly are added to ``edges``."""
    span = _span(a, b, t0, dt, width)
    if span is None:
        return
    x0, x1, c0, c1 = span
    if c0 == c1:
        arr[c0] += x1 - x0
        edges.add(c0)
        return
    arr[c0] += c0 + 1 - x0
    edges.add(c0)
    if x1 > c1:
        arr[c1] += x1 - c1
        edges.add(c1)
    n = c1 - c0 - 1
    if n > 0:
        arr[c0 + 1:c1] = _ONES[:n] if n <= 1024 else [1.0] * n
        if codes is not None:
            codes[c0 + 1:c1] = [code] * n


@dataclass(frozen=True)
class Frame:
    """Everything a pane needs to draw itself, frozen at one moment."""

    version: int
    header: dict[str, Any]
    tasks: tuple[_TaskView, ...]
    cores: dict[int, tuple[list, int]]  # cpu -> (RUN event tuples in time order, count)
    proc_runs: dict[int, tuple[list, int]]  # pid -> (RUN event tuples in time order, count)
    first_ns: int | None
    now_ns: int
    ended: str | None
    end_message: str
    log: tuple = ()
    log_total: int = 0
    events: int = 0
    _cache: dict = field(default_factory=dict, compare=False, repr=False)
    # whole-run figures and lane running sums kept by the Timeline as events arrived (empty for
    # a Frame built by hand: then everything is computed from the intervals)
    agg: dict = field(default_factory=dict, compare=False, repr=False)

    # --- identity ----------------------------------------------------------------------------
    @property
    def model(self) -> str:
        return self.header.get("model", "?")

    @property
    def workload(self) -> str:
        return self.header.get("workload", "?")

    @property
    def machine(self) -> dict[str, Any]:
        return self.header.get("machine", {})

    @property
    def cpu_count(self) -> int:
        return int(self.machine.get("cpus") or (max(self.cores) + 1 if self.cores else 1))

    @property
    def gil(self) -> bool:
        return bool(self.machine.get("gil", True))

    @property
    def running(self) -> bool:
        return self.ended is None

    @property
    def t_end(self) -> int:
        """The right edge of the data: the live edge, or the end of the last task."""
        ends = [t.end_ns for t in self.tasks if t.end_ns is not None]
        last = max(ends) if ends and self.ended is not None else self.now_ns
        return max(last, self.now_ns if self.ended is None else last, self.first_ns or 0)

    # --- figures -----------------------------------------------------------------------------
    @cached_property
    def thread_pids(self) -> frozenset[int]:
        """Processes in which more than one thread ran tasks (they share one GIL)."""
        if "thread_pids" in self.agg:
            return self.agg["thread_pids"]
        seen: dict[int, set] = {}
        for t in self.tasks:
            if t.pid is not None and t.tid is not None:
                seen.setdefault(t.pid, set()).add(t.tid)
        return frozenset(p for p, tids in seen.items() if len(tids) > 1)

    @cached_property
    def gil_switches(self) -> int:
        """Hand-offs between threads of one process: consecutive RUN intervals, ordered by
        start time, recorded by different threads."""
        if not self.gil:
            return 0
        if "gil_switches" in self.agg:
            return self.agg["gil_switches"]
        count = 0
        for pid in self.thread_pids:
            runs, n = self.proc_runs.get(pid, ([], 0))
            prev = None
            for i in range(n):
                tid = runs[i][3]
                if prev is not None and tid != prev:
                    count += 1
                prev = tid
        return count

    def _union(self, pid: int) -> list[tuple[int, int]]:
        key = ("union", pid)
        if key not in self._cache:
            runs, n = self.proc_runs.get(pid, ([], 0))
            out: list[list[int]] = []
            for i in range(n):
                a, b = runs[i][4], runs[i][5]
                if out and a <= out[-1][1]:
                    if b > out[-1][1]:
                        out[-1][1] = b
                else:
                    out.append([a, b])
            self._cache[key] = [tuple(x) for x in out]
        return self._cache[key]

    @staticmethod
    def _overlap(a: list, b: list) -> int:
        """Total length of the intersection of two sorted lists of disjoint intervals."""
        i = j = total = 0
        while i < len(a) and j < len(b):
            lo = max(a[i][0], b[j][0])
            hi = min(a[i][1], b[j][1])
            if hi > lo:
                total += hi - lo
            if a[i][1] < b[j][1]:
                i += 1
            else:
                j += 1
        return total

    def task_wait(self, t: _TaskView) -> tuple[int, int]:
        """(GIL wait, CPU wait) of one task in ns, from its measured intervals."""
        if t.start_ns is None:
            return 0, 0
        end = _lane_end(t, self.now_ns) if t.end_ns is not None else self.now_ns
        ran = t.run_ns + t.open_ns
        wait = max(0, (end - t.start_ns) - ran - t.sleep_ns)
        if not wait or t.pid not in self.thread_pids or not self.gil:
            return 0, wait
        span = [(t.start_ns, end)]
        union = self._union(t.pid)
        others = self._overlap(union, span) - ran - self._overlap(union, t.sleeps[: t.n_sleeps])
        gil = min(wait, max(0, others))
        return gil, wait - gil

    @cached_property
    def stats(self) -> dict[str, Any]:
        """The run's figures (the fields of ``concviz run --json``, less per-task detail)."""
        tasks = self.tasks
        first = self.first_ns or 0
        ends = [t.end_ns for t in tasks if t.end_ns is not None]
        done = all(t.end_ns is not None for t in tasks) and tasks
        last = max(ends) if done else self.now_ns
        wall = max(0, last - first) if self.first_ns is not None else 0
        # open intervals (PROGRESS) count while a run is live: a task running uninterrupted is busy
        busy = sum(t.run_ns for t in tasks) + sum(t.open_ns for t in tasks)
        points = []
        for t in tasks:
            if t.start_ns is not None:
                points.append((t.start_ns, 1))
                points.append((t.end_ns if t.end_ns is not None else self.now_ns, -1))
        points.sort(key=lambda p: (p[0], p[1]))
        cur = cmax = 0
        area = 0
        prev = first
        for when, delta in points:
            area += cur * max(0, when - prev)
            prev = when
            cur += delta
            cmax = max(cmax, cur)
        now_conc = sum(1 for t in tasks if t.status == RUNNING)
        agg = self.agg
        if "run_median_ns" in agg:
            run_median, run_count = agg["run_median_ns"] / 1e6, agg["run_count"]
        else:
            run_lengths = [(r[1] - r[0]) / 1e6 for t in tasks for r in t.runs[: t.n_runs]]
            run_median, run_count = median(run_lengths), len(run_lengths)
        # tid is set only by a START the task itself recorded (not by a parent-side ERROR)
        spawn = [(t.start_ns - t.spawn_ns) / 1e6 for t in tasks
                 if t.tid is not None and t.spawn_ns is not None]
        per_core = agg.get("core_ns")
        if per_core is None:
            per_core = {}
            for t in tasks:
                for r in t.runs[: t.n_runs]:
                    per_core[r[2]] = per_core.get(r[2], 0) + (r[1] - r[0])
        if any(t.open_run for t in tasks):
            per_core = dict(per_core)
            for t in tasks:
                if t.open_run:
                    per_core[t.open_run[2]] = per_core.get(t.open_run[2], 0) + t.open_ns
        return {
            "model": self.model,
            "workload": self.workload,
            "tasks": len(tasks),
            "wall_s": wall / 1e9,
            "busy_s": busy / 1e9,
            "parallelism": busy / wall if wall else 0.0,
            "concurrency_max": cmax,
            "concurrency_mean": area / wall if wall else 0.0,
            "concurrency_now": now_conc,
            "gil_switches": self.gil_switches,
            "switch_interval_ms": self.machine.get("switch_interval_ms"),
            "run_interval_ms_median": run_median,
            "run_intervals": run_count,
            "spawn_ms_median": median(spawn),
            "spawn_ms_max": max(spawn) if spawn else 0.0,
            "done": sum(1 for t in tasks if t.status == DONE),
            "failed": sum(1 for t in tasks if t.status == FAILED),
            # of those, cut short by a stop (the user's, not a fault)
            "stopped": sum(1 for t in tasks if t.stopped),
            "queued": sum(1 for t in tasks if t.status == QUEUED),
            "running": now_conc,
            "per_core": [{"cpu": c, "busy_s": ns / 1e9} for c, ns in sorted(per_core.items())],
        }

    def per_task(self) -> list[dict[str, Any]]:
        first = self.first_ns or 0
        out = []
        for t in self.tasks:
            gil, cpu = self.task_wait(t)
            out.append({
                "id": t.id, "pid": t.pid, "tid": t.tid, "label": t.label, "status": t.status,
                "error": t.error,
                "start_s": None if t.start_ns is None else (t.start_ns - first) / 1e9,
                "end_s": None if t.end_ns is None else (t.end_ns - first) / 1e9,
                "run_s": t.run_ns / 1e9, "sleep_s": t.sleep_ns / 1e9,
                "wait_s": (gil + cpu) / 1e9, "gil_wait_s": gil / 1e9, "cpu_wait_s": cpu / 1e9,
                "spawn_ms": None if t.start_ns is None or t.spawn_ns is None
                else (t.start_ns - t.spawn_ns) / 1e6,
                "cpus": list(t.cpus),
            })
        return out

    def summary(self) -> dict[str, Any]:
        """Stats plus per-task detail and the interpreter facts: the ``run --json`` object."""
        out = dict(self.stats)
        out["per_task"] = self.per_task()
        out["python"] = {"version": self.machine.get("python"), "gil_enabled": self.gil,
                         "free_threaded_build": self.machine.get("free_threaded_build", False)}
        out["start_method"] = self.machine.get("start_method")
        out["cpus"] = self.cpu_count
        out["ended"] = self.ended
        return out

    # --- cells -------------------------------------------------------------------------------
    def task_cells(self, index: int, t0: int, t1: int, width: int) -> LaneCells:
        """Per-column state fractions of task ``index`` over [t0, t1)."""
        t = self.tasks[index]
        dt = (t1 - t0) / width if width else 1.0
        z = [0.0] * width
        run, sleep, gil, cpu, queued, alive = z[:], z[:], z[:], z[:], z[:], z[:]
        cells = LaneCells(run, sleep, gil, cpu, queued, alive)
        if width <= 0 or t1 <= t0:
            return cells
        live_end = self.now_ns
        if t.spawn_ns is not None:
            _spread(queued, t.spawn_ns, t.start_ns if t.start_ns is not None else live_end, t0, dt, width)
        if t.start_ns is None:
            return cells
        end = _lane_end(t, live_end)
        if t.end_ns is None and t.open_sleep is not None:
            _spread(sleep, t.open_sleep, live_end, t0, dt, width)  # known to be asleep right now
        _spread(alive, t.start_ns, end, t0, dt, width)
        runs = t.runs
        if t.run_cum is not None and count_in(runs, t.n_runs, t0, t1) > width:
            run[:] = column_shares(runs, t.run_cum, t.n_runs, t0, t1, width)
        else:
            for i in range(start_index(runs, t.n_runs, t0), t.n_runs):
                a, b, _ = runs[i]
                if a >= t1:
                    break
                _spread(run, a, b, t0, dt, width)
        sleeps = t.sleeps
        if t.sleep_cum is not None and count_in(sleeps, t.n_sleeps, t0, t1) > width:
            sleep[:] = column_shares(sleeps, t.sleep_cum, t.n_sleeps, t0, t1, width)
        else:
            for i in range(start_index(sleeps, t.n_sleeps, t0), t.n_sleeps):
                a, b = sleeps[i]
                if a >= t1:
                    break
                _spread(sleep, a, b, t0, dt, width)
        if t.open_run is not None:  # running now, interval not closed yet
            _spread(run, t.open_run[0], t.open_run[1], t0, dt, width)
        sibling = self.process_cells(t.pid, t0, t1, width) if t.pid in self.thread_pids and self.gil else None
        for c in range(width):
            w = alive[c] - run[c] - sleep[c]
            if w <= 1e-9:
                continue
            if sibling is not None:
                g = sibling[c] - run[c]  # a sibling thread ran: the wait was for the GIL
                g = 0.0 if g <= 0.0 else (w if g > w else g)
                gil[c] = g
                cpu[c] = w - g
            else:
                cpu[c] = w
        return cells

    def task_codes(self, index: int, t0: int, t1: int, width: int, levels: int = 1) -> list[list[int]]:
        return self._task_codes(index, t0, t1, width, levels)[0]

    def _task_codes(self, index: int, t0: int, t1: int, width: int, levels: int = 1, from_col: int = 0,
                    prev: list[list[int]] | None = None) -> tuple[list[list[int]], bool]:
        """What task ``index``'s lane draws in each column of [t0, t1): one code per column
        (see CODE_BLANK) for each row of a lane ``levels`` rows tall (bottom row first), whose
        rows stack the running share. The panes ask for this once per lane per frame.

        The same classification as :meth:`task_cells` (the tests hold the two to each other),
        computed where it is cheap: a column the task's intervals cover wholly gets its code
        at once (waiting, running, asleep, queued), and only the columns where something
        begins or ends, one or two per interval, are worked out from their fractions. So a
        lane costs O(intervals in the window), not O(width) Python steps.

        With ``prev`` (this lane's rows over the same window in an earlier frame), columns
        before ``from_col`` are taken from it and only the rest are worked out (LaneCodes).
        Also returns whether the lane was dense (read from running sums)."""
        t = self.tasks[index]
        codes = [CODE_BLANK] * width
        if width <= 0 or t1 <= t0:
            return [codes[:] for _ in range(levels)], False
        dt = (t1 - t0) / width
        t_from = t0 + from_col * dt if from_col else t0  # intervals ending before it are skipped
        live_end = self.now_ns
        edges: set[int] = set()
        zero = [0.0] * width
        queued, run, sleep, alive = zero[:], zero[:], zero[:], zero[:]
        dense = False
        if t.spawn_ns is not None:
            _cover(queued, t.spawn_ns, t.start_ns if t.start_ns is not None else live_end,
                   t0, dt, width, edges, codes, COL_QUEUED)
        sibling = self.process_cells(t.pid, t0, t1, width) if t.pid in self.thread_pids and self.gil else None
        if t.start_ns is not None:
            end = _lane_end(t, live_end)
            # alive and nothing else in the column: waiting, for the GIL if a sibling thread
            # ran most of the column, else for a CPU
            _cover(alive, t.start_ns, end, t0, dt, width, edges)
            c0, c1 = max(0, int((t.start_ns - t0) / dt) + 1), min(width, int((end - t0) / dt))
            if c1 > c0:
                codes[c0:c1] = self._wait_codes(t.pid, t0, t1, width, sibling)[c0:c1]
            if t.open_sleep is not None:
                _cover(sleep, t.open_sleep, live_end, t0, dt, width, edges, codes, COL_SLEEP)
            runs, n = t.runs, t.n_runs
            if t.run_cum is not None and count_in(runs, n, t0, t1) > width:
                run = column_shares(runs, t.run_cum, n, t0, t1, width, first=from_col)
                dense = True
            else:  # _span and _cover, inlined: this is the loop a frame spends most of its time in
                add = edges.add
                i0 = start_index(runs, n, t_from)
                for a, b, _ in runs[i0:bisect_left(runs, (t1,), i0, n)]:  # those starting before t1
                    x0 = (a - t0) / dt
                    x1 = (b - t0) / dt
                    c0 = int(x0)
                    if c0 == int(x1) and x0 >= 0.0 and c0 < width and b > a:
                        # most intervals (GIL turns, runs between preemptions) lie within a column
                        run[c0] += x1 - x0
                        add(c0)
                        continue
                    if b <= a or x1 <= 0:
                        continue
                    if x0 < 0:
                        x0 = 0.0
                    if x1 > width:
                        x1 = float(width)
                    c0 = int(x0)
                    c1 = int(x1)
                    if c1 >= width:
                        c1 = width - 1
                    if c0 == c1:
                        run[c0] += x1 - x0
                        add(c0)
                        continue
                    run[c0] += c0 + 1 - x0
                    add(c0)
                    if x1 > c1:
                        run[c1] += x1 - c1
                        add(c1)
                    if c1 > c0 + 1:
                        run[c0 + 1:c1] = _ONES[:c1 - c0 - 1] if c1 - c0 <= 1024 else [1.0] * (c1 - c0 - 1)
                        codes[c0 + 1:c1] = [CODE_FULL] * (c1 - c0 - 1)
            sleeps, n = t.sleeps, t.n_sleeps
            if t.sleep_cum is not None and count_in(sleeps, n, t0, t1) > width:
                sleep = [x + y for x, y in zip(sleep, column_shares(sleeps, t.sleep_cum, n, t0, t1, width, first=from_col))]
                dense = True
            else:
                for i in range(start_index(sleeps, n, t_from), n):
                    a, b = sleeps[i]
                    if a >= t1:
                        break
                    _cover(sleep, a, b, t0, dt, width, edges, codes, COL_SLEEP)
            if t.open_run is not None:  # running now, interval not closed yet
                _cover(run, t.open_run[0], t.open_run[1], t0, dt, width, edges, codes, CODE_FULL)
        if sibling is None:
            sibling = zero  # no sibling thread: a wait is for a CPU
        # a column wholly covered by one interval looks the same in every row of a tall lane
        rows = [codes] + [codes[:] for _ in range(levels - 1)]
        for c in (range(from_col, width) if dense else (c for c in edges if c >= from_col) if from_col else edges):
            r = run[c]
            s = sleep[c]
            w = alive[c] - r - s
            if w > 1e-9:  # waiting: for the GIL while a sibling ran, else for a CPU
                g = sibling[c] - r
                if g <= 0.0:
                    best, k = w, COL_CPU
                elif g >= w:
                    best, k = w, COL_GIL
                elif g >= w - g:
                    best, k = g, COL_GIL
                else:
                    best, k = w - g, COL_CPU
            else:
                best, k = 0.0, COL_GIL
            if s > best:
                best, k = s, COL_SLEEP
            q = queued[c]
            if q > best:
                best, k = q, COL_QUEUED
            under = k if best > 0.1 else CODE_BLANK
            idle = k if best > 0.05 else CODE_BLANK
            if levels == 1:
                if r > 0.001:
                    e = ceil(r * 8 - 1e-9)
                    codes[c] = (8 if e > 8 else e) * 5 + under
                else:
                    codes[c] = idle
                continue
            for level, row in enumerate(rows):  # this row's share of the stacked block
                x = r * levels - level
                if x > 0.001:
                    e = ceil(x * 8 - 1e-9)
                    row[c] = (8 if e > 8 else e) * 5 + under
                else:
                    row[c] = idle
        if prev is not None and from_col:
            for row, old in zip(rows, prev):
                row[:from_col] = old[:from_col]
        return rows, dense

    def _wait_codes(self, pid: int | None, t0: int, t1: int, width: int,
                    sibling: list[float] | None) -> list[int]:
        """Per column, what a thread of ``pid`` that is alive and not running waits for: the
        GIL where a sibling thread ran at least half the column, else a CPU."""
        if sibling is None:
            return [COL_CPU] * width
        key = ("wait", pid, t0, t1, width)
        codes = self._cache.get(key)
        if codes is None:
            codes = self._cache[key] = [COL_GIL if p >= 0.5 else COL_CPU for p in sibling]
        return codes

    def process_cells(self, pid: int, t0: int, t1: int, width: int) -> list[float]:
        """Per-column fraction of time in which some task thread of ``pid`` was running."""
        key = ("proc", pid, t0, t1, width)
        if key in self._cache:
            return self._cache[key]
        dt = (t1 - t0) / width
        runs, n = self.proc_runs.get(pid, ([], 0))
        cum = self._lane_cum("p", pid)
        if cum is not None and count_in(runs, n, t0, t1, EVENT_T0) > width:
            # dense: running sums (with a GIL, a process's task threads never run at once, so
            # the sum of their intervals is their union)
            arr = column_shares(runs, cum, n, t0, t1, width, EVENT_T0, 5)
        else:
            arr = [0.0] * width
            i = start_index(runs, n, t0, EVENT_T0)
            lo = max(0, i - 64)  # an earlier, longer interval may still reach into the window
            while i > lo and runs[i - 1][5] > t0:
                i -= 1
            cur_a = cur_b = None
            for k in range(i, n):
                a, b = runs[k][4], runs[k][5]
                if a >= t1:
                    break
                if cur_b is not None and a <= cur_b:
                    if b > cur_b:
                        cur_b = b
                    continue
                if cur_b is not None:
                    _spread(arr, cur_a, cur_b, t0, dt, width)
                cur_a, cur_b = a, b
            if cur_b is not None:
                _spread(arr, cur_a, cur_b, t0, dt, width)
        self._cache[key] = arr
        return arr

    def _lane_cum(self, what: str, key: int):
        """The running sums of a core ("c") or process ("p") lane, if the Timeline kept them."""
        return self.agg.get("lane_cum", {}).get((what, key))

    def gil_cells(self, pid: int, t0: int, t1: int, width: int) -> CoreCells:
        """Per column, the task whose thread held ``pid``'s GIL the longest, and how busy."""
        busy = [0.0] * width
        best = [0.0] * width
        who = [-1] * width
        runs, n = self.proc_runs.get(pid, ([], 0))
        dt = (t1 - t0) / width
        cum = self._lane_cum("p", pid)
        if cum is not None and count_in(runs, n, t0, t1, EVENT_T0) > width:
            # busy is the process's running share, which the task lanes of its threads have
            # asked for already (the same running sums: one computation, cached)
            return CoreCells(self.process_cells(pid, t0, t1, width)[:], column_owners(runs, n, t0, t1, width))
        for i in range(start_index(runs, n, t0, EVENT_T0), n):
            _, task, _, _, a, b, _, _ = runs[i]
            if a >= t1:
                break
            _spread(busy, a, b, t0, dt, width, best, who, task)
        return CoreCells(busy, who)

    def core_cells(self, cpu: int, t0: int, t1: int, width: int) -> CoreCells:
        """Per column, how busy logical CPU ``cpu`` was with task work, and with which task."""
        busy, best, who, _ = self._core_closed(cpu, t0, t1, width)
        return self._with_open_runs(cpu, t0, t1, width, busy, best, who)

    def _core_closed(self, cpu: int, t0: int, t1: int, width: int, first: int = 0,
                     prev: tuple | None = None) -> tuple[list[float], list[float], list[int], bool]:
        """(busy, best, who, dense) of the closed RUN intervals on ``cpu``; with ``prev`` (an
        earlier result over the same window) the columns before ``first`` are taken from it."""
        busy = [0.0] * width
        best = [0.0] * width
        who = [-1] * width
        lane, n = self.cores.get(cpu, ([], 0))
        dt = (t1 - t0) / width
        cum = self._lane_cum("c", cpu)
        dense = cum is not None and count_in(lane, n, t0, t1, EVENT_T0) > width
        if dense:
            busy = column_shares(lane, cum, n, t0, t1, width, EVENT_T0, 5, first=first)
            who = column_owners(lane, n, t0, t1, width, first=first)
            best = busy[:]
        else:
            i = start_index(lane, n, t0, EVENT_T0)
            t_from = t0
            if first:
                # A core lane's items can overlap a little (the CPU number is sampled once a
                # millisecond), so an item well before t_from may still reach past it: start a
                # few items back, and skip those that end before it.
                t_from = t0 + first * dt
                i = max(i, start_index(lane, n, t_from, EVENT_T0) - 64)
            for i in range(i, n):
                _, task, _, _, a, b, _, _ = lane[i]
                if a >= t1:
                    break
                if b > t_from:
                    _spread(busy, a, b, t0, dt, width, best, who, task)
        if prev is not None and first:
            busy[:first] = prev[0][:first]
            best[:first] = prev[1][:first]
            who[:first] = prev[2][:first]
        return busy, best, who, dense

    def _with_open_runs(self, cpu: int, t0: int, t1: int, width: int, busy: list[float],
                        best: list[float], who: list[int]) -> CoreCells:
        dt = (t1 - t0) / width
        opened = [(task, a, b) for task, (a, b, on) in self.open_runs if on == cpu]
        if opened:  # running now, interval not closed yet
            busy, best, who = busy[:], best[:], who[:]
            for task, a, b in opened:
                _spread(busy, a, b, t0, dt, width, best, who, task)
        return CoreCells(busy, who)

    def lane_changed_from(self, lane: tuple[str, int], serial: int) -> float:
        """The earliest instant at which core or process ``lane`` ("c"/"p", key) may differ
        from what it was in the frame of snapshot ``serial``: +inf nowhere, -inf anywhere."""
        mine = self.agg.get("serial")
        if mine is None or serial > mine or serial < self.agg["lane_log_floor"].get(lane, 0):
            return -_INF  # (a serial of another Timeline must not get here: see CoreCellsCache)
        at = _INF
        for s, t in reversed(self.agg["lane_log"].get(lane, ())):
            if s <= serial:
                break
            if s <= mine and t < at:
                at = t
        return at

    @cached_property
    def open_runs(self) -> list[tuple[int, tuple]]:
        """(task, (t0, now, cpu)) of every RUN interval reported open by PROGRESS."""
        return [(t.id, t.open_run) for t in self.tasks if t.open_run is not None]


def _lane_end(t: _TaskView, now: int) -> int | None:
    """Where a task lane's life ends: at its end, or now while it is known to be asleep, or
    else (live) where the task's own reports end. After that it may be running (reported when
    it next flushes) or waiting (known once it runs again): drawing that stretch as "waiting"
    would be a guess, so it stays blank until it is known."""
    if t.start_ns is None:
        return None
    if t.end_ns is not None:
        # an end the task did not report itself (found dead, stopped, timed out): what it did
        # between its last report and then is not known, and is left blank
        return t.end_ns if t.end_own else max(t.seen_ns, t.start_ns)
    return now if t.open_sleep is not None else max(t.seen_ns, t.start_ns)


def _first_changed_column(at: float, t0: int, t1: int, width: int) -> int:
    """The column of [t0, t1) split ``width`` ways that holds instant ``at`` (0 before t0,
    ``width`` after t1 or for +inf): the first one a change at ``at`` can reach."""
    if at <= t0:
        return 0
    if at >= t1:
        return width
    return min(width, int((at - t0) / ((t1 - t0) / width)))


def changed_from(old: _TaskView, new: _TaskView, old_now: int, new_now: int) -> float:
    """The earliest instant at which the lane of ``new`` may differ from the lane of ``old``
    (the same task in an earlier frame): +inf if nowhere, -inf if anywhere."""
    if old.start_ns != new.start_ns or old.spawn_ns != new.spawn_ns or old.pid != new.pid \
            or new.n_runs < old.n_runs or new.n_sleeps < old.n_sleeps:
        return -_INF
    at = _INF
    if new.start_ns is None and new.spawn_ns is not None:
        at = old_now  # queued until now
    if new.n_runs > old.n_runs:
        at = min(at, min(map(_FIRST, new.runs[old.n_runs:new.n_runs])))
    if new.n_sleeps > old.n_sleeps:
        at = min(at, min(map(_FIRST, new.sleeps[old.n_sleeps:new.n_sleeps])))
    if old.open_run != new.open_run:
        for o in (old.open_run, new.open_run):
            if o is not None:
                at = min(at, o[0])
    if old.open_sleep != new.open_sleep:
        for o in (old.open_sleep, new.open_sleep):
            if o is not None:
                at = min(at, o)
    a, b = _lane_end(old, old_now), _lane_end(new, new_now)
    if a != b:
        at = min(at, a, b)
    return at


class LaneCodes:
    """Task lane codes kept across frames. A lane's columns before the earliest instant its
    data changed (for a thread sharing a GIL: its own data or a sibling thread's) are taken
    from the last frame, and only the rest are worked out: a live run changes near its right
    edge, so a frame costs a few columns per lane instead of the whole width, while a zoom or
    a pan (a new window) computes every column. Same codes as Frame.task_codes (tested)."""

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._prev: Frame | None = None
        self._gen = 0
        self._pid_from: dict[int, float] | None = None  # pid -> where its threads changed
        # task id -> (generation, view, now, (timeline, t0, t1, width, levels), rows, dense, sibling)
        self._memo: dict[int, tuple] = {}

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
        if self._pid_from is None:
            self._pid_from = {}
            frame, prev = self._frame, self._prev
            if prev is not None:
                pids = frame.thread_pids
                before = {t.id: t for t in prev.tasks if t.pid in pids}
                for t in frame.tasks:
                    if t.pid in pids:
                        old = before.get(t.id)
                        at = -_INF if old is None else changed_from(old, t, prev.now_ns, frame.now_ns)
                        if at < self._pid_from.get(t.pid, _INF):
                            self._pid_from[t.pid] = at
                if set(before) - {t.id for t in frame.tasks if t.pid in pids}:
                    self._pid_from = dict.fromkeys(pids, -_INF)  # a thread left its process: redo all
        return self._pid_from.get(pid, _INF) if self._prev is not None else -_INF

    def rows(self, frame: Frame, index: int, t0: int, t1: int, width: int, levels: int = 1) -> list[list[int]]:
        self.begin(frame)
        t = frame.tasks[index]
        key = (frame.agg.get("timeline"), t0, t1, width, levels)  # another run: start afresh
        sibling = frame.gil and t.pid in frame.thread_pids
        m = self._memo.get(t.id)
        if m is not None and m[3] == key and m[6] == sibling:
            if m[0] == self._gen:
                return m[4]
            at = changed_from(m[1], t, m[2], frame.now_ns)
            if sibling:
                at = min(at, self._sibling_change(t.pid)) if m[0] == self._gen - 1 else -_INF
            if at == _INF:
                self._memo[t.id] = (self._gen, t, frame.now_ns, key, m[4], m[5], sibling)
                return m[4]
            from_col = _first_changed_column(at, t0, t1, width)
            if from_col > 0:
                rows, dense = frame._task_codes(index, t0, t1, width, levels, from_col, m[4])
                if dense == m[5]:  # else the columns kept were computed another way: redo all
                    self._memo[t.id] = (self._gen, t, frame.now_ns, key, rows, dense, sibling)
                    return rows
        rows, dense = frame._task_codes(index, t0, t1, width, levels)
        self._memo[t.id] = (self._gen, t, frame.now_ns, key, rows, dense, sibling)
        return rows


class CoreCellsCache:
    """Core lane cells kept across frames: the columns before the earliest start among the
    RUN intervals that reached the lane since the last frame are reused (the Timeline logs that
    instant per lane), the rest worked out again; RUN intervals still open are laid on top each
    frame. Same cells as Frame.core_cells (tested)."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple] = {}  # cpu -> (serial, (timeline, t0, t1, width), busy, best, who, dense)

    def cells(self, frame: Frame, cpu: int, t0: int, t1: int, width: int) -> CoreCells:
        serial = frame.agg.get("serial")
        key = (frame.agg.get("timeline"), t0, t1, width)  # serials count within one Timeline
        m = self._memo.get(cpu)
        first, prev = 0, None
        if serial is not None and m is not None and m[1] == key:
            first = _first_changed_column(frame.lane_changed_from(("c", cpu), m[0]), t0, t1, width)
            if first:
                prev = m[2:5]
        if first == width:
            busy, best, who, dense = m[2], m[3], m[4], m[5]
        else:
            busy, best, who, dense = frame._core_closed(cpu, t0, t1, width, first, prev)
            if prev is not None and dense != m[5]:  # columns kept were computed another way
                busy, best, who, dense = frame._core_closed(cpu, t0, t1, width)
        if serial is not None:
            self._memo[cpu] = (serial, key, busy, best, who, dense)
        return frame._with_open_runs(cpu, t0, t1, width, busy, best, who)
