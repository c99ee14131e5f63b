"""Successive ``/proc`` readings -> concviz events, plus the states a Timeline cannot show yet.

Each thread of the traced tree is a task (ids in order of discovery): START when first seen,
RUN intervals from schedstat's run-time deltas, SLEEP for stretches blocked in I/O, FINISH when
the thread is gone, the CPU from stat field 39. Between two readings of a thread its time is
laid out in the order the kernel accounts it: the wait it had before it ran (the blocked state
seen at the earlier reading), its wait for a CPU, its run, and what it blocked on at the later
reading. Totals are exact (schedstat is cumulative); placement within one sampling period is
the layout's, so a pane's per-column fractions are exact at columns of a period or wider.

A thread that is runnable at a reading may have run or waited since the kernel last updated
its counters (at most a scheduler tick for a running thread), so that tail is laid out only
when a later reading accounts for it: the layout trails the present by about a tick.

Alongside the events (the tuples of :mod:`concviz.engine.events`, which a Timeline folds as
they are) a batch holds what the Timeline cannot express today (:mod:`records`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from concviz.engine.events import FINISH, PROGRESS, RUN, SLEEP, SLEEP_OPEN, START
from concviz.engine.sources.infer import (
    CPU,
    EXITED_STATES,
    GIL,
    IO,
    UNKNOWN,
    FutexBook,
    PythonData,
    Wait,
    classify,
    futex_address,
    gil_holder,
    syscall_table,
)
from concviz.engine.sources.procfs import Clock, Sweep, ThreadReading
from concviz.engine.sources.records import GilSpan, HolderAt, Renamed, StateSpan, TraceBatch

# the most a runnable thread's counters can trail its real run time: one scheduler tick
# (CONFIG_HZ 250; at HZ 1000 this only keeps the layout a little further behind the present)
TICK_NS = 4_000_000
# a runnable thread whose unaccounted time grows past this blocked and woke between readings
STALE_NS = 250_000_000
PROGRESS_EVERY_NS = 50_000_000
# a blocked thread that ran less than this and is back in the same wait only re-checked it;
# such runs are laid out together at most this often
BRIEF_RUN_NS = 50_000
ASIDE_EVERY_NS = 50_000_000
MAPS_RETRY_NS = 1_000_000_000  # a process with no Python in its memory map: read it again
MAPS_STALE_NS = 100_000_000  # a map that lacks a waited-on address: read it again
ENDED_UNMEASURED = "ended before the kernel accounted its last moments"
BETWEEN_READINGS = "blocked and woke between two readings"


# the segments of a layout: (state, detail, inferred)
_RUN = ("run", "", False)
_CPU = (CPU, "", False)
_UNSEEN = (UNKNOWN, BETWEEN_READINGS, False)


@dataclass
class _Thread:
    task: int
    pid: int
    tid: int
    start: int
    name: str
    cursor: int  # its time is laid out up to here
    last_t: int  # its latest reading
    run_ns: int = 0
    wait_ns: int = 0
    carry_run: int = 0  # accounted time that did not fit before the reading: laid out next
    carry_wait: int = 0
    wait: Wait | None = None  # what it waited for at its latest reading; None: runnable
    deferred: ThreadReading | None = None  # a reading laid out with the next one (see _layout)
    open: list | None = None  # the segment being extended: [state, t0, t1, cpu, detail, inferred]
    progress_t: int = 0
    cpu: int = -1  # the CPU it last ran on
    aside_run: int = 0  # brief runs inside a wait, laid out at the end of it (see _layout)
    aside_cpu: int = 0
    aside_since: int = 0


class Tracker:
    """Folds sweeps into events and spans, one :meth:`feed` per sweep, :meth:`close` at the end.

    Args:
        since_ns: ``trace``: when the tree's root was started (threads found at the first sweep
            count from their birth); None for ``attach`` (the first sweep is a baseline: the
            time threads spent before it is not shown).
        arch: whose syscall numbers to use (default: this machine's).
        maps: reads a process's memory map (the GIL rule's check), None when it cannot.
        clock: converts start times (default: this machine's clock).
    """

    def __init__(self, since_ns: int | None = None, *, arch: str | None = None,
                 maps: Callable[[int], bytes | None] | None = None, clock: Clock | None = None,
                 progress_every_ns: int = PROGRESS_EVERY_NS) -> None:
        self.since_ns = since_ns
        self.table = syscall_table(arch)
        self.maps = maps
        self.clock = clock or Clock.here()
        self.progress_every_ns = progress_every_ns
        self.threads: dict[int, dict[int, _Thread]] = {}  # pid -> tid -> thread
        self.books: dict[int, list] = {}  # pid -> [its FutexBook, when its map was read (or None)]
        self.pids: dict[int, str] = {}
        self.tasks = 0
        self._ended: dict[int, set[tuple[int, int]]] = {}  # pid -> (tid, start) of zombies finished
        self._waits: dict[int, tuple[int, dict]] = {}  # pid -> (GIL addresses known, classifications)
        self._gil_open: dict[int, list] = {}  # pid -> [tid, t0, t1]
        self._gil_active: dict[int, bool] = {}  # pid -> a sibling waited for the GIL at the last reading
        self._prev_t: int | None = None
        self._prev_scan_t: int | None = None
        self._out = TraceBatch()

    # --- feeding ------------------------------------------------------------------------------
    def feed(self, sweep: Sweep) -> TraceBatch:
        out = self._out = TraceBatch(sweep.t_ns)
        first = self._prev_t is None
        earliest_new_proc = self.since_ns if first else (self._prev_scan_t or self._prev_t)
        for proc in sweep.processes:
            new_proc = proc.pid not in self.pids
            if new_proc:
                self.pids[proc.pid] = proc.name
                if not first or self.since_ns is not None:
                    out.notes.append((sweep.t_ns, f"process {proc.pid} ({proc.name}) started"))
            earliest = earliest_new_proc if new_proc else self._prev_t
            self._feed_process(proc.pid, proc.threads, first and self.since_ns is None, earliest, sweep.t_ns)
        live = {p.pid for p in sweep.processes}
        for pid in [p for p in self.pids if p not in live]:
            self._end_process(pid, sweep.t_ns)
        self._prev_t = sweep.t_ns
        if sweep.scanned:
            self._prev_scan_t = sweep.t_ns
        return out

    def close(self) -> TraceBatch:
        """Finish every thread still open (the trace ended): at its latest reading."""
        out = self._out = TraceBatch(self._prev_t or 0)
        for pid in list(self.pids):
            self._end_process(pid, self._prev_t or 0)
        return out

    def _end_process(self, pid: int, t_ns: int) -> None:
        for th in list(self.threads.get(pid, {}).values()):
            self._finish(th, th.last_t)
        self.threads.pop(pid, None)
        self._flush_gil(pid)
        self.books.pop(pid, None)
        self._gil_active.pop(pid, None)
        self._ended.pop(pid, None)
        self._waits.pop(pid, None)
        self._out.notes.append((t_ns, f"process {pid} ({self.pids.pop(pid)}) ended"))

    def _book(self, pid: int, t_ns: int, addr: int | None = None) -> FutexBook:
        """The process's futex book. Its memory map is read when the first futex wait is seen
        (``addr``), and again when it may be out of date: no Python in it (an exec may come:
        every MAPS_RETRY_NS), or a waited-on address outside every mapping it had (memory
        mapped since, or another program after an exec: every MAPS_STALE_NS)."""
        entry = self.books.get(pid)
        if entry is None:
            entry = self.books[pid] = [FutexBook(None), None]
        book, read_t = entry
        if addr is not None and self.maps is not None:
            data = book.data
            if read_t is None or (data is not None and (
                    (not data and t_ns - read_t >= MAPS_RETRY_NS)
                    or (not data.covers(addr) and t_ns - read_t >= MAPS_STALE_NS))):
                text = self.maps(pid)
                book.data = PythonData.from_maps(text) if text is not None else None
                entry[1] = t_ns
        return book

    def _feed_process(self, pid: int, readings: tuple[ThreadReading, ...], baseline: bool,
                      earliest: int | None, t_sweep: int) -> None:
        out = self._out
        rows = []
        book = None
        mine = self.threads.get(pid) or {}
        ended = self._ended.get(pid, ())
        table = self.table
        for r in readings:
            if ended and (r.tid, r.start) in ended:
                continue
            th = mine.get(r.tid)
            if th is not None and th.start != r.start:  # the TID was reused by a new thread
                self._finish(th, th.last_t)
                th = None
            if th is None:
                th = self._start(pid, r, baseline, earliest)
                mine = self.threads[pid]
            elif r.name != th.name:
                th.name = r.name
                out.renamed.append(Renamed(th.task, r.t_ns, r.name))
            ran = r.run_ns > (th.deferred or th).run_ns
            addr = None if r.state == "R" else futex_address(r.syscall, table)
            if ran or addr is not None:
                if book is None or (addr is not None and (
                        book.data is None or not book.data or not book.data.covers(addr))):
                    book = self._book(pid, t_sweep, addr)
                if ran:
                    book.saw_run(r.tid, r.t_ns)
                if addr is not None:
                    book.saw_wait(r.tid, addr, r.t_ns)
            rows.append((th, r))
        if book is not None:
            book.settle(t_sweep)
        book = self.books.get(pid, (None,))[0]
        known, cache = self._waits.get(pid, (None, None))
        now = (len(book.gil), id(book.data)) if book is not None else None
        if cache is None or now != known:
            cache = {}  # what a call means changes when a GIL address is learnt, or a map read
            self._waits[pid] = (now, cache)
        runnable, waiters, waits = [], [], []
        for th, r in rows:
            wait = None
            if r.state == "R":
                runnable.append(r.tid)
            elif r.state not in EXITED_STATES:
                key = (r.state, r.syscall)
                wait = cache.get(key)
                if wait is None:
                    wait = cache[key] = classify(r.state, r.syscall, table, book)
                if wait.state == GIL:
                    waiters.append(r.tid)
            waits.append(wait)
        gil_now = bool(waiters)
        gil_here = gil_now or self._gil_active.get(pid, False)
        self._gil_active[pid] = gil_now
        if gil_now:
            out.holders.append(HolderAt(pid, t_sweep, gil_holder(runnable, waiters)))
        layout = self._layout
        for (th, r), wait in zip(rows, waits):
            layout(th, r, wait, gil_here)
        seen = {r.tid for _, r in rows}
        for th in [th for tid, th in mine.items() if tid not in seen]:
            self._finish(th, th.last_t)  # gone between the last sweep and this one

    def _start(self, pid: int, r: ThreadReading, baseline: bool, earliest: int | None) -> _Thread:
        if baseline:  # attach: what it did before the first reading is not shown
            t0 = r.t_ns
            run = wait = None
        else:  # born since the reading before: its counters count from zero
            t0 = self.clock.start_ns(r.start)  # to a clock tick (10 ms at 100 Hz)
            if earliest is not None:
                t0 = max(t0, earliest)  # it was not there at the reading before
            t0 = min(t0, r.t_ns - r.run_ns - r.wait_ns)  # it has had its run and wait times
            run = wait = 0
        th = _Thread(self.tasks, pid, r.tid, r.start, r.name, t0, t0)
        th.run_ns = r.run_ns if run is None else run
        th.wait_ns = r.wait_ns if wait is None else wait
        th.progress_t = t0
        self.tasks += 1
        self.threads.setdefault(pid, {})[r.tid] = th
        self._out.events.append((START, th.task, pid, r.tid, t0, t0, r.cpu, r.name))
        return th

    # --- layout ---------------------------------------------------------------------------------
    def _layout(self, th: _Thread, r: ThreadReading, wait: Wait | None, gil_here: bool) -> None:
        t = r.t_ns
        th.last_t = max(th.last_t, t)
        prev = th.wait
        woke = th.deferred.t_ns if th.deferred is not None else None
        if r.state == "R" and prev is not None and woke is None and r.state not in EXITED_STATES:
            # It woke since the last reading. How long it then waited for a CPU is accounted only
            # once it ran, and may not be yet: lay this reading out with the next one.
            th.deferred = r
            return
        th.deferred = None
        dr = r.run_ns - th.run_ns + th.carry_run
        dw = r.wait_ns - th.wait_ns + th.carry_wait
        th.run_ns, th.wait_ns = r.run_ns, r.wait_ns
        c = th.cursor
        avail = max(0, t - c)
        w = min(dw, avail)
        run = min(dr, avail - w)
        th.carry_wait, th.carry_run = dw - w, dr - run
        rest = avail - w - run
        cpu = th.cpu = r.cpu
        # the wait seen at the reading before ended by the time it was seen runnable (woke)
        before_max = rest if woke is None else max(0, min(rest, woke - c))
        before = _UNSEEN if prev is None else (prev.state, prev.detail, prev.inferred)
        if r.state == "R":
            head = min(max(0, rest - TICK_NS), before_max) if prev is not None else 0
            c = self._lay(th, c, ((before, head), (_CPU, w), (_RUN, run)), cpu, gil_here)
            if t - c > STALE_NS:
                c = self._lay(th, c, ((_UNSEEN, t - TICK_NS - c),), cpu, False)
            th.wait = None
        elif (prev is not None and wait is not None and woke is None and run < BRIEF_RUN_NS
              and prev.state == wait.state and prev.detail == wait.detail):
            # A re-check: it ran briefly and is back in the same wait (a GIL waiter does this
            # every switch interval). The wait goes on; the brief run and its wait for a CPU are
            # set aside and laid out at the end of the stretch (see _settle_aside).
            o = th.open
            if o is not None and o[2] == c and o[0] == wait.state and o[4] == wait.detail:
                o[2] = t
            else:
                self._lay(th, c, (((wait.state, wait.detail, wait.inferred), t - c),), cpu, False)
            th.aside_run += run
            th.aside_cpu += w
            th.cursor = t
            th.wait = wait
            if t - th.aside_since >= ASIDE_EVERY_NS:
                self._settle_aside(th)
            return
        elif r.state in EXITED_STATES:  # its counters are final: it ended after its last run
            head = before_max if woke is not None else 0
            c = self._lay(th, c, ((before, head), (_CPU, w), (_RUN, run)), cpu, gil_here)
            th.cursor = c
            self._finish(th, c)
            self._ended.setdefault(th.pid, set()).add((th.tid, th.start))
            return
        else:
            head = 0
            if prev is not None and w + run > 0:  # it woke, ran, and blocked again
                after_max = rest if woke is None else t - woke
                head = min(max(rest // 2, rest - after_max), before_max)
            after = (wait.state, wait.detail, wait.inferred)
            c = self._lay(th, c, ((before, head), (_CPU, w), (_RUN, run), (after, t - c - head - w - run)),
                          cpu, gil_here)
            th.wait = wait
        th.cursor = c
        o = th.open
        if o is not None and o[0] == "run" and o[2] - th.progress_t >= self.progress_every_ns:
            th.progress_t = o[2]
            self._out.events.append((PROGRESS, th.task, th.pid, th.tid, o[1], o[2], o[3], None))

    def _settle_aside(self, th: _Thread) -> None:
        """Lay out the brief runs set aside during a wait: the wait's open segment gives up its
        last stretch to them (their CPU waits, then their runs, on the CPU it last ran on).
        They were re-checks of the wait, not work done holding the GIL."""
        o = th.open
        aside = th.aside_cpu + th.aside_run
        th.aside_since = o[2] if o is not None else th.cursor
        if not aside or o is None:
            th.aside_cpu = th.aside_run = 0
            return
        end = o[2]
        o[2] = max(o[1], end - aside)
        c, th.cursor = o[2], end
        cpu_ns, run_ns = th.aside_cpu, th.aside_run
        th.aside_cpu = th.aside_run = 0
        self._lay(th, c, ((_CPU, cpu_ns), (_RUN, run_ns)), th.cpu, False)

    def _lay(self, th: _Thread, c: int, segments: tuple, cpu: int, gil_here: bool) -> int:
        """Lay out ``segments`` ((state, detail, inferred), duration) from ``c``, extending the
        thread's open segment while they continue it; returns where they end."""
        if th.aside_cpu or th.aside_run:
            self._settle_aside(th)
        o = th.open
        for (state, detail, inferred), d in segments:
            if d <= 0:
                continue
            t1 = c + d
            if o is not None and o[2] == c and o[0] == state and o[4] == detail and (state != "run" or o[3] == cpu):
                o[2] = t1
            else:
                if o is not None:
                    self._flush(th)
                o = th.open = [state, c, t1, cpu, detail, inferred]
                if state == IO:
                    self._out.events.append((SLEEP_OPEN, th.task, th.pid, th.tid, c, c, -1, None))
            if state == "run" and gil_here:  # siblings wait for the GIL: it holds it
                g = self._gil_open.get(th.pid)
                if g is not None and g[0] == th.tid and g[2] == c:
                    g[2] = t1
                else:
                    self._flush_gil(th.pid)
                    self._gil_open[th.pid] = [th.tid, c, t1]
            c = t1
        return c

    def _flush(self, th: _Thread) -> None:
        o = th.open
        if o is None:
            return
        th.open = None
        state, t0, t1, cpu, detail, inferred = o
        if state == "run":
            self._out.events.append((RUN, th.task, th.pid, th.tid, t0, t1, cpu, None))
            return
        if state == IO:
            self._out.events.append((SLEEP, th.task, th.pid, th.tid, t0, t1, -1, None))
        self._out.spans.append(StateSpan(th.task, th.pid, th.tid, t0, t1, state, detail, inferred))

    def _flush_gil(self, pid: int) -> None:
        g = self._gil_open.pop(pid, None)
        if g is not None:
            self._out.gil.append(GilSpan(pid, g[0], g[1], g[2]))

    def _finish(self, th: _Thread, t_end: int) -> None:
        if th.deferred is not None:  # its last reading waited for a next one that never came
            r, th.deferred = th.deferred, None
            th.wait = None  # lay it out as it was seen: runnable
            self._layout(th, r, None, self._gil_active.get(th.pid, False))
        self._settle_aside(th)
        if th.cursor < t_end:
            th.cursor = self._lay(th, th.cursor, (((UNKNOWN, ENDED_UNMEASURED, False), t_end - th.cursor),), -1, False)
        self._flush(th)
        if self._gil_open.get(th.pid, [None])[0] == th.tid:
            self._flush_gil(th.pid)
        book = self.books.get(th.pid)
        if book is not None:
            book[0].forget(th.tid)
        end = max(th.cursor, t_end)
        self._out.events.append((FINISH, th.task, th.pid, th.tid, end, end, -1, None))
        self.threads.get(th.pid, {}).pop(th.tid, None)
