"""GIL wait: how long each thread task waited for its process's GIL, from measured intervals.

A task's wait is the part of its life neither running nor asleep. Where a sibling thread of its
process ran meanwhile (the union of the process's RUN intervals covers it), the wait was for the
GIL; the rest, for a CPU. A traced program's threads name their waits themselves (WAIT events),
and those are read as given. These are the per-task figures of ``concviz run --json``; a Frame
gives them through :meth:`Frame.task_wait` and :meth:`Frame.per_task`, memoized in its
per-frame cache.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from concviz.engine.task import TaskView, lane_end

if TYPE_CHECKING:
    from concviz.engine.frame import Frame


class ThreadRun(NamedTuple):
    """A RUN interval of one of a process's task threads."""

    t0: int
    t1: int
    task: int
    tid: int | None


def thread_runs(frame: Frame, pid: int) -> list[ThreadRun]:
    """The RUN intervals of the task threads of ``pid`` in ``frame``, in start order (any
    process; for a GIL-sharing one, its process lane)."""
    tid_of = {t.id: t.tid for t in frame.tasks}
    if pid in frame.proc_runs:
        lane, n = frame.proc_runs[pid]
        return [ThreadRun(a, b, task, tid_of.get(task)) for a, b, task in lane.tagged(0, n)]
    runs = [ThreadRun(a, b, t.id, t.tid) for t in frame.tasks if t.pid == pid
            for a, b in t.runs.spans(0, t.n_runs)]
    runs.sort(key=itemgetter(0))
    return runs


def union(frame: Frame, pid: int) -> list[tuple[int, int]]:
    """The union of the RUN intervals of ``pid``'s task threads: sorted, disjoint spans."""
    key = ("union", pid)
    if key not in frame._cache:
        out: list[list[int]] = []
        for a, b, _, _ in thread_runs(frame, pid):
            if out and a <= out[-1][1]:
                if b > out[-1][1]:
                    out[-1][1] = b
            else:
                out.append([a, b])
        frame._cache[key] = [tuple(x) for x in out]
    return frame._cache[key]


def covered(frame: Frame, pid: int, spans: list) -> int:
    """How much of the sorted, disjoint ``spans`` the threads of ``pid`` ran, together: the
    length of their union within each span, from its running sums (a bisection each, so a
    task's share of a long run costs the same whatever the run's length)."""
    key = ("union_sums", pid)
    if key not in frame._cache:
        runs = union(frame, pid)
        sums = [0]
        for a, b in runs:
            sums.append(sums[-1] + b - a)
        frame._cache[key] = ([a for a, _ in runs], [b for _, b in runs], sums)
    starts, ends, sums = frame._cache[key]
    total = 0
    for a, b in spans:
        i = bisect_right(ends, a)  # the first interval ending after a
        j = bisect_left(starts, b)  # the first starting at or after b
        if j <= i:
            continue
        total += sums[j] - sums[i]
        if starts[i] < a:
            total -= a - starts[i]
        if ends[j - 1] > b:
            total -= ends[j - 1] - b
    return total


def task_wait(frame: Frame, t: TaskView) -> tuple[int, int]:
    """(GIL wait, CPU wait) of one task in ns, from its measured intervals (a traced thread's:
    from its named waits)."""
    if t.start_ns is None:
        return 0, 0
    if t.wait_ns:
        named = dict(t.wait_ns)
        return named.get("gil", 0), named.get("cpu", 0)
    end = lane_end(t, frame.now_ns) if t.end_ns is not None else frame.now_ns
    ran = t.run_ns + t.open_ns
    wait = max(0, (end - t.start_ns) - ran - t.sleep_ns)
    if not wait or t.pid not in frame.thread_pids or not frame.gil:
        return 0, wait
    span = [(t.start_ns, end)]
    others = covered(frame, t.pid, span) - ran - covered(frame, t.pid, list(t.sleeps.spans(0, t.n_sleeps)))
    gil = min(wait, max(0, others))
    return gil, wait - gil


def per_task(frame: Frame) -> list[dict[str, Any]]:
    """Each task's figures (the ``per_task`` rows of ``concviz run --json``), in id order."""
    first = frame.first_ns or 0
    out = []
    for t in frame.tasks:
        gil, cpu = task_wait(frame, t)
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
        if t.wait_ns:  # a traced thread: every named wait (gil, lock, other, unknown)
            out[-1]["waits_s"] = {state: ns / 1e9 for state, ns in t.wait_ns}
    return out
