"""A cluster run's core lanes grouped by worker: (host, worker process, CPU).

The flat core lanes (core_cells.py) are this machine's logical CPUs. A Dask run's tasks run in
worker processes, here or on other machines, so its cores pane groups them: a worker (one
process: its pid, its name and host from the tasks' START labels, its address and threads from
the run's header), then one lane per CPU its tasks ran on, read from the tasks' own RUN
intervals (each tagged with the CPU it ran on). A worker on another machine sends no CPU
number (dask_clock.py): its lane is one "CPU not known" lane, tagged ``UNKNOWN_CPU``.

A task Dask ran again after its worker died ("#2 w1@host") has one pid, its last attempt's:
the RUN intervals of its lost attempt (before the retry's START) are left out of the worker
lanes, since the worker they ran on is not known; the task's own lane shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from concviz.engine.cells import Lanes
from concviz.engine.core_cells import CoreCells, CoreColumns
from concviz.engine.prefix import spread

UNKNOWN_CPU = -1  # the CPU tag of a worker elsewhere (its CPUs are not this machine's)


@dataclass(frozen=True)
class WorkerGroup:
    """One worker process of a cluster run, as its core lanes show it.

    Attributes:
        pid: the worker's process id.
        name: its Dask name ("0"), "?" where not known.
        host: the host its tasks named ("" where not known).
        address: its address as the scheduler knows it ("" where not known).
        threads: its threads (the scheduler's count; else how many ran tasks).
        cpu_busy: ``(cpu, ns)``: its tasks' running time on each CPU they ran on, by CPU
            (``UNKNOWN_CPU``: on another machine).
        tasks: indexes into ``Frame.tasks`` of the tasks it ran.
    """

    pid: int
    name: str
    host: str
    address: str
    threads: int
    cpu_busy: tuple[tuple[int, int], ...]
    tasks: tuple[int, ...]

    @property
    def cpus(self) -> tuple[int, ...]:
        """The CPUs its tasks ran on, ascending."""
        return tuple(cpu for cpu, _ in self.cpu_busy)

    @property
    def busy_ns(self) -> int:
        """The running time of its tasks (as the worker lanes count it)."""
        return sum(ns for _, ns in self.cpu_busy)

    def heading(self) -> str:
        """One line about the worker: "worker 0 (pid 1234) on host: 1 thread, 3 tasks"."""
        where = f" on {self.host}" if self.host else ""
        threads = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        tasks = f"{len(self.tasks)} task{'s' if len(self.tasks) != 1 else ''}"
        return f"worker {self.name} (pid {self.pid}){where}: {threads}, {tasks}"


def label_parts(label: str | None) -> tuple[str, str, int]:
    """A Dask task's START label ("w0@host", or "#2 w0@host" for a retry) as (worker name,
    host, attempt); ("?", "", 1) for another label."""
    attempt = 1
    text = label or ""
    if text.startswith("#") and " " in text:
        head, text = text.split(" ", 1)
        attempt = int(head[1:]) if head[1:].isdigit() else 1
    if not text.startswith("w") or "@" not in text:
        return "?", "", attempt
    name, host = text[1:].split("@", 1)
    return name, host, attempt


def first_counted(frame: Lanes, index: int) -> int:
    """The first of task ``index``'s RUN intervals the worker lanes count: 0, or for a retried
    task the first at or after its retry's START (the lost attempt's worker is not known)."""
    t = frame.tasks[index]
    if t.start_ns is None or label_parts(t.label)[2] == 1:
        return 0
    return t.runs.between(t.n_runs, t.start_ns, t.start_ns)[0]


def worker_groups(frame: Lanes, header: dict, totals: "CpuTotals | None" = None) -> list[WorkerGroup] | None:
    """The workers of a cluster run in name order (None: not a cluster run). ``totals``: the
    per-task CPU totals kept across frames (a fresh one works them out afresh)."""
    cluster = header.get("cluster")
    if not isinstance(cluster, dict):
        return None
    memo = frame._cache.get("worker_groups")
    if memo is not None:
        return memo
    totals = totals if totals is not None else CpuTotals()
    known = {w.get("pid"): w for w in cluster.get("worker_list", ()) if isinstance(w, dict)}
    found: dict[int, dict] = {}
    for i, t in enumerate(frame.tasks):
        if t.pid is None or t.tid is None:  # (tid: set by a START the task itself reported)
            continue
        g = found.setdefault(t.pid, {"tasks": [], "tids": set(), "cpus": {}, "name": "?", "host": ""})
        name, host, _ = label_parts(t.label)
        if name != "?":
            g["name"], g["host"] = name, host
        g["tasks"].append(i)
        g["tids"].add(t.tid)
        for cpu, ns in totals.of(frame, i).items():
            g["cpus"][cpu] = g["cpus"].get(cpu, 0) + ns
    for pid, w in known.items():  # workers that ran nothing yet are workers too
        if isinstance(pid, int) and pid not in found:
            found[pid] = {"tasks": [], "tids": set(), "cpus": {}, "name": "?", "host": ""}
    groups = []
    for pid, g in found.items():
        w = known.get(pid, {})
        name = str(w.get("name", g["name"])) if g["name"] == "?" else g["name"]
        groups.append(WorkerGroup(pid=pid, name=name, host=g["host"] or str(w.get("host", "")),
                                  address=str(w.get("address", "")),
                                  threads=int(w.get("nthreads") or len(g["tids"]) or 1),
                                  cpu_busy=tuple(sorted(g["cpus"].items())), tasks=tuple(g["tasks"])))
    groups.sort(key=lambda g: (_name_key(g.name), g.pid))
    frame._cache["worker_groups"] = groups
    return groups


def _name_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


class CpuTotals:
    """Each task's running time per CPU (the worker lanes it counts in, see
    :func:`first_counted`), kept across frames: a task's intervals only grow between frames
    (unless a fold re-ordered them), so only the new ones are added."""

    def __init__(self) -> None:
        self._memo: dict[int, tuple] = {}  # task id -> (runs lane, resorts, start, n counted, {cpu: ns})

    def of(self, frame: Lanes, index: int) -> dict[int, int]:
        """``{cpu: ns}`` of task ``index``'s closed RUN intervals counted, plus its open one."""
        t = frame.tasks[index]
        first = first_counted(frame, index)
        m = self._memo.get(t.id)
        if m is not None and m[0] is t.runs and m[1] == t.resorts and m[2] == first and m[3] <= t.n_runs:
            out, done = dict(m[4]), m[3]
        else:
            out, done = {}, first
        for a, b, cpu in t.runs.tagged(done, t.n_runs):
            out[cpu] = out.get(cpu, 0) + (b - a)
        self._memo[t.id] = (t.runs, t.resorts, first, t.n_runs, dict(out))
        if t.open_run is not None:
            a, b, cpu = t.open_run
            out[cpu] = out.get(cpu, 0) + (b - a)
        return out


def worker_core_closed(frame: Lanes, group: WorkerGroup, cpu: int, t0: int, t1: int, width: int,
                       first: int = 0, prev: CoreColumns | None = None) -> CoreColumns:
    """The closed RUN intervals of ``group``'s tasks on ``cpu`` over the window, interval by
    interval; with ``prev`` (an earlier result over the same window) the columns before
    ``first`` are taken from it."""
    busy = [0.0] * width
    best = [0.0] * width
    who = [-1] * width
    dt = (t1 - t0) / width
    t_from = t0 + first * dt if first else t0
    tasks = frame.tasks
    for index in group.tasks:
        t = tasks[index]
        i, j = t.runs.window(t.n_runs, t_from, t1)
        i = max(i, first_counted(frame, index))
        for a, b, on in t.runs.tagged(i, j):
            if on == cpu and b > t_from:
                spread(busy, a, b, t0, dt, width, best, who, t.id)
    if prev is not None and first:
        busy[:first] = prev.busy[:first]
        best[:first] = prev.best[:first]
        who[:first] = prev.who[:first]
    return CoreColumns(busy, best, who, False)


def worker_with_open_runs(frame: Lanes, group: WorkerGroup, cpu: int, t0: int, t1: int, width: int,
                          closed: CoreColumns) -> CoreCells:
    """``closed`` with the RUN intervals still open of ``group``'s tasks on ``cpu`` laid on top."""
    busy, best, who = closed.busy, closed.best, closed.who
    dt = (t1 - t0) / width
    tasks = frame.tasks
    opened = [tasks[i].open_run + (tasks[i].id,) for i in group.tasks
              if tasks[i].open_run is not None and tasks[i].open_run[2] == cpu]
    if opened:
        busy, best, who = busy[:], best[:], who[:]
        for a, b, _, task in opened:
            spread(busy, a, b, t0, dt, width, best, who, task)
    return CoreCells(busy, who)


def worker_core_cells(frame: Lanes, group: WorkerGroup, cpu: int, t0: int, t1: int, width: int) -> CoreCells:
    """Per column, how busy ``cpu`` was with ``group``'s tasks, and with which task."""
    return worker_with_open_runs(frame, group, cpu, t0, t1, width,
                                 worker_core_closed(frame, group, cpu, t0, t1, width))
