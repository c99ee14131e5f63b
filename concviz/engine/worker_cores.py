"""A cluster run's core lanes grouped by worker: (host, worker process, CPU).

The flat core lanes (core_cells.py) are this machine's logical CPUs. A Dask run's tasks run in
worker processes, here or on other machines, so its cores pane groups them: a worker (one
process: its pid, its name and host from the tasks' START labels, its address and threads from
the run's header), then one lane per CPU its tasks ran on. A worker on another machine sends no
CPU number (dask_clock.py): it has one "CPU not known" lane, tagged ``UNKNOWN_CPU``.

The lanes are packed like the Timeline's core lanes (store.Intervals, tagged by task), built
from the tasks' own RUN intervals (each tagged with its CPU) by :class:`WorkerLanes`, which
adds only what is new since the last frame; so a lane's columns cost what a core lane's do
(core_cells.lane_closed: running sums where it is dense), however long the run.

A task Dask ran again after its worker died ("#2 w1@host") has one pid, its last attempt's:
the RUN intervals of its lost attempt (before the retry's START) are left out of the worker
lanes, since the worker they ran on is not known; the task's own lane shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import compress, repeat
from operator import eq, itemgetter

from concviz.engine.cells import Lanes
from concviz.engine.core_cells import CoreCells, CoreColumns, lane_closed
from concviz.engine.events import EV_TASK, RUN
from concviz.engine.prefix import spread
from concviz.engine.store import Intervals

UNKNOWN_CPU = -1  # the CPU tag of a worker elsewhere (its CPUs are not this machine's)
_NO_LANE = (Intervals(itemgetter(EV_TASK)), 0)


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


class WorkerLanes:
    """The packed lanes of a cluster run, one per (worker pid, CPU), kept across frames: each
    frame adds the tasks' RUN intervals that are new since the last one. Where that does not
    hold (a task's intervals were re-ordered, a retry moved where a task is counted from, or
    another run) everything is built again and :attr:`generation` moves on."""

    def __init__(self) -> None:
        self.lanes: dict[tuple[int, int], Intervals] = {}
        self.generation = 0  # bumped when the lanes were built again from nothing
        self._done: dict[int, tuple] = {}  # task id -> (its runs lane, resorts, pid, first, n added)
        self._frame: Lanes | None = None
        self._groups: list[WorkerGroup] | None = None
        self._tasks: tuple = ()

    def lane(self, pid: int, cpu: int) -> tuple[Intervals, int]:
        """Worker ``pid``'s lane on ``cpu`` and its length (as of the last :meth:`groups`)."""
        lane = self.lanes.get((pid, cpu))
        return (lane, len(lane)) if lane is not None else _NO_LANE

    def groups(self, frame: Lanes, header: dict) -> list[WorkerGroup] | None:
        """The workers of a cluster run in name order (None: not a cluster run), the lanes
        brought up to ``frame``."""
        cluster = header.get("cluster")
        if not isinstance(cluster, dict):
            return None
        if frame is self._frame:
            return self._groups
        self._catch_up(frame)
        self._frame, self._groups = frame, _groups(frame, cluster, self)
        return self._groups

    def _catch_up(self, frame: Lanes) -> None:
        tasks = frame.tasks
        if self._tasks and (len(tasks) < len(self._tasks) or tasks[0].runs is not self._tasks[0].runs):
            self._restart()  # another run (a replay rewound, a new Timeline)
        self._tasks = tasks
        lanes = self.lanes
        touched = set()
        for index, t in enumerate(tasks):
            if t.pid is None or t.tid is None:  # (tid: set by a START the task itself reported)
                continue
            first = first_counted(frame, index)
            done = self._done.get(t.id)
            if done is not None and (done[0] is not t.runs or done[1] != t.resorts or done[2] != t.pid
                                     or done[3] != first or done[4] > t.n_runs):
                self._restart()
                self._catch_up(frame)
                return
            start = done[4] if done is not None else first
            n = t.n_runs
            if start < n:
                # the new intervals as RUN events, by CPU (in C: no Python step per interval)
                runs = t.runs
                tags = runs.tags[start:n]
                events = list(zip(repeat(RUN), repeat(t.id), repeat(t.pid), repeat(t.tid), runs.starts[start:n],
                                  runs.ends(start, n), tags, repeat(None)))
                cpus = set(tags)
                for cpu in cpus:
                    key = (t.pid, cpu)
                    lane = lanes.get(key)
                    if lane is None:
                        lane = lanes[key] = Intervals(itemgetter(EV_TASK), may_overlap=True)
                    lane.pending.extend(events if len(cpus) == 1 else compress(events, map(eq, tags, repeat(cpu))))
                    touched.add(key)
            self._done[t.id] = (t.runs, t.resorts, t.pid, first, max(start, n))
        for key in touched:
            lanes[key].fold()

    def _restart(self) -> None:
        self.lanes, self._done, self._tasks = {}, {}, ()
        self.generation += 1


def _groups(frame: Lanes, cluster: dict, lanes: WorkerLanes) -> list[WorkerGroup]:
    """The workers: those that ran the frame's tasks, and those the header lists."""
    known = {w.get("pid"): w for w in cluster.get("worker_list", ()) if isinstance(w, dict)}
    found: dict[int, dict] = {}
    for i, t in enumerate(frame.tasks):
        if t.pid is None or t.tid is None:
            continue
        g = found.setdefault(t.pid, {"tasks": [], "tids": set(), "name": "?", "host": ""})
        name, host, _ = label_parts(t.label)
        if name != "?":
            g["name"], g["host"] = name, host
        g["tasks"].append(i)
        g["tids"].add(t.tid)
    for pid in known:  # workers that ran nothing yet are workers too
        if isinstance(pid, int) and pid not in found:
            found[pid] = {"tasks": [], "tids": set(), "name": "?", "host": ""}
    busy: dict[tuple[int, int], int] = {key: lane.cum[-1] for key, lane in lanes.lanes.items()}
    for t in frame.tasks:  # running now: the open RUN intervals (PROGRESS)
        if t.open_run is not None and t.pid in found:
            key = (t.pid, t.open_run[2])
            busy[key] = busy.get(key, 0) + t.open_run[1] - t.open_run[0]
    by_pid: dict[int, list[tuple[int, int]]] = {}
    for (pid, cpu), ns in busy.items():
        by_pid.setdefault(pid, []).append((cpu, ns))
    groups = []
    for pid, g in found.items():
        w = known.get(pid, {})
        name = str(w.get("name", g["name"])) if g["name"] == "?" else g["name"]
        groups.append(WorkerGroup(pid=pid, name=name, host=g["host"] or str(w.get("host", "")),
                                  address=str(w.get("address", "")),
                                  threads=int(w.get("nthreads") or len(g["tids"]) or 1),
                                  cpu_busy=tuple(sorted(by_pid.get(pid, ()))), tasks=tuple(g["tasks"])))
    groups.sort(key=lambda g: (_name_key(g.name), g.pid))
    return groups


def _name_key(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def worker_groups(frame: Lanes, header: dict) -> list[WorkerGroup] | None:
    """:meth:`WorkerLanes.groups` of ``frame`` worked out afresh (a pane keeps a WorkerLanes)."""
    return WorkerLanes().groups(frame, header)


def worker_core_closed(frame: Lanes, lanes: WorkerLanes, pid: int, cpu: int, t0: int, t1: int, width: int,
                       first: int = 0, prev: CoreColumns | None = None) -> CoreColumns:
    """The closed RUN intervals of worker ``pid`` on ``cpu`` over the window (``lanes`` up to
    ``frame``); with ``prev`` (an earlier result over the same window) the columns before
    ``first`` are taken from it."""
    lane, n = lanes.lane(pid, cpu)
    return lane_closed(frame, lane, n, t0, t1, width, first, prev)


def worker_with_open_runs(frame: Lanes, pid: int, cpu: int, t0: int, t1: int, width: int,
                          closed: CoreColumns) -> CoreCells:
    """``closed`` with the RUN intervals still open of worker ``pid``'s tasks on ``cpu`` on top."""
    busy, best, who = closed.busy, closed.best, closed.who
    dt = (t1 - t0) / width
    opened = [(t.id, t.open_run[0], t.open_run[1]) for t in frame.tasks
              if t.open_run is not None and t.open_run[2] == cpu and t.pid == pid]
    if opened:
        busy, best, who = busy[:], best[:], who[:]
        for task, a, b in opened:
            spread(busy, a, b, t0, dt, width, best, who, task)
    return CoreCells(busy, who)


def worker_core_cells(frame: Lanes, lanes: WorkerLanes, pid: int, cpu: int, t0: int, t1: int,
                      width: int) -> CoreCells:
    """Per column, how busy ``cpu`` was with worker ``pid``'s tasks, and with which task."""
    return worker_with_open_runs(frame, pid, cpu, t0, t1, width,
                                 worker_core_closed(frame, lanes, pid, cpu, t0, t1, width))
