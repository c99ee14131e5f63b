"""Frame cost, engine half, and what the Timeline keeps per recorded interval.

One frame = ``Timeline.snapshot()`` + ``Frame.stats`` + ``task_cells`` for 64 task lanes x 120
columns + ``core_cells`` for every core + ``gil_cells`` for every thread process, over the whole
run so far. Measured on a real recorded run (64 CPU-bound threads: the GIL attribution is the
dearest path) fed in the order it arrived, a frame at each tenth of the events (as a live UI
sees it), and on a large synthetic run (64 threads, 200,000 RUN intervals) to show how the cost
grows with history. The render half (Strips, Textual) is measured by bench_ui.

``frame_heavy_ratio`` is the UI's path (task codes, core cells, GIL cells, snapshot, stats; no
cross-frame cache, index up to date) over the whole of a 200,000-interval run against the same
view of a 2,000-interval run, both in this process, in interleaved blocks.
``frame_live_growth`` is the engine half of a live frame as the app takes it (the panes'
cross-frame caches, a "fit" axis, 8 task lanes, 2 cores, the GIL lane, stats; 100 ms of new
events between frames) at the 400th second of an 8-thread run taking 1 ms GIL turns, over the
same at the 10th second.
``timeline_bytes_per_run`` is what a Timeline keeps per RUN interval (tracemalloc, and the RSS
growth of a fresh process) after folding a long synthetic run with snapshots as a live UI takes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from typing import Iterator

import common
from common import median

from concviz.engine.events import FINISH, PROGRESS, RUN, SPAWN, START
from concviz.engine.spec import RunSpec
from concviz.engine.timeline import Timeline

LANES, WIDTH = 64, 120


def one_frame(timeline: Timeline) -> float:
    """Milliseconds to snapshot and compute one screen's worth of cells."""
    t0 = time.perf_counter()
    frame = timeline.snapshot()
    frame.stats
    a = frame.first_ns or 0
    b = max(frame.t_end, a + 1)
    for i in range(min(LANES, len(frame.tasks))):
        frame.task_cells(i, a, b, WIDTH)
    for cpu in frame.cores:
        frame.core_cells(cpu, a, b, WIDTH)
    for pid in frame.thread_pids:
        frame.gil_cells(pid, a, b, WIDTH)
    return (time.perf_counter() - t0) * 1000


def record_events() -> tuple[dict, list[tuple]]:
    """A real run: 64 CPU-bound threads (short), every event in arrival order."""
    batches: list[list[tuple]] = []
    header: dict = {}

    def on_event(tag, payload):
        nonlocal header
        if tag == "E":
            batches.append(payload)
        elif tag == "H":
            header = payload

    common.run(RunSpec(model="threads", workload="cpu", tasks=64, scale=0.04), on_event=on_event)
    return header, batches


def frames_over(header: dict, batches: list[list[tuple]], steps: int = 10) -> list[float]:
    """Feed ``batches`` in order, taking a frame at every ``1/steps`` of them (and at the end)."""
    timeline = Timeline(header)
    out = []
    marks = {max(1, len(batches) * k // steps) for k in range(1, steps + 1)}
    for i, batch in enumerate(batches, 1):
        timeline.feed(batch)
        if i in marks:
            out.append(one_frame(timeline))
    return out


def synthetic_stream(intervals: int = 200_000, tasks: int = 64, cpus: int = 2) -> Iterator[list[tuple]]:
    """64 threads of one process taking 1 ms turns, in the order a live run delivers them: a
    thread flushes every ~10 ms, so batches of ~10 ms of events, each batch's threads in reverse
    order (late arrivals across threads, as from real pipes). Made as they are fed: only one
    batch exists at a time."""
    pid, t = 4242, 1_000_000_000
    per = intervals // tasks
    yield [(SPAWN, k, pid, 1, t, t, -1, None) for k in range(tasks)]

    def in_time_order() -> Iterator[tuple]:
        for k in range(tasks):
            yield (START, k, pid, 100 + k, t + k, t + k, 0, f"Thread-{k}")
        now = t + 1000
        for r in range(per):
            for k in range(tasks):
                yield (RUN, k, pid, 100 + k, now, now + 900_000, (k + r) % cpus, None)
                now += 1_000_000
        for k in range(tasks):
            yield (FINISH, k, pid, 100 + k, now, now, -1, None)

    batch: list[tuple] = []
    for e in in_time_order():
        batch.append(e)
        if len(batch) == 10:
            yield sorted(batch, key=lambda e: -e[3])
            batch = []
    if batch:
        yield sorted(batch, key=lambda e: -e[3])


def synthetic(intervals: int = 200_000, tasks: int = 64, cpus: int = 2) -> list[list[tuple]]:
    """:func:`synthetic_stream` as one list of batches."""
    return list(synthetic_stream(intervals, tasks, cpus))


SYNTHETIC_HEADER = {"model": "threads", "spec": {"tasks": 64}, "machine": {"cpus": 2, "gil": True}}


def ui_frame(timeline: Timeline) -> float:
    """Milliseconds for what the panes ask of a fresh frame over the whole run ("fit"): snapshot,
    stats, 64 task lanes' codes, every core's cells, every GIL lane's cells (no cross-frame cache)."""
    t0 = time.perf_counter()
    frame = timeline.snapshot()
    frame.stats
    a = frame.first_ns or 0
    b = max(frame.t_end, a + 1)
    for i in range(min(LANES, len(frame.tasks))):
        frame.task_codes(i, a, b, WIDTH)
    for cpu in frame.cores:
        frame.core_cells(cpu, a, b, WIDTH)
    for pid in frame.thread_pids:
        frame.gil_cells(pid, a, b, WIDTH)
    return (time.perf_counter() - t0) * 1000


def heavy_ratio(quick: bool = False) -> dict:
    """The same view of a 2,000- and a 200,000-interval run, in interleaved blocks."""
    runs = {}
    for name, n in (("light", 2_000), ("heavy", 200_000)):
        runs[name] = Timeline(SYNTHETIC_HEADER)
        for batch in synthetic_stream(n):
            runs[name].feed(batch)
        runs[name].snapshot()  # the index is up to date, as in a live UI
    ms: dict[str, list[float]] = {"light": [], "heavy": []}
    blocks = []
    for _ in range(4 if quick else 12):
        block = {}
        for name, timeline in runs.items():
            got = [ui_frame(timeline) for _ in range(5)]
            ms[name] += got
            block[name] = median(got)
        blocks.append(round(block["heavy"] / block["light"], 2))
    light, heavy = median(ms["light"]), median(ms["heavy"])
    return {"figures": {"frame_heavy_ratio": heavy / light},
            "notes": {"frame_heavy_ratio": (f"UI path, 64x{WIDTH} fit: {heavy:.2f} ms on 200,000 RUN intervals vs "
                                            f"{light:.2f} ms on 2,000, medians of interleaved blocks "
                                            f"(block ratios {min(blocks)}-{max(blocks)})")},
            "details": {"frame_heavy": {"light_ms": round(light, 3), "heavy_ms": round(heavy, 3),
                                        "block_ratios": blocks}}}


LIVE_HEADER = {"model": "threads", "spec": {"tasks": 8}, "machine": {"cpus": 2, "gil": True}}


class LiveRun:
    """8 threads of one process taking ~1 ms GIL turns on 2 cores, fed as a live run is: each
    thread flushes its turns every 10 ms, with a PROGRESS for the turn still open."""

    def __init__(self) -> None:
        import random

        self.rnd = random.Random(1)
        self.timeline = Timeline(LIVE_HEADER)
        t = 10**12
        self.timeline.feed([(SPAWN, k, 1, 1, t, t, -1, None) for k in range(8)]
                           + [(START, k, 1, 10 + k, t + k, t + k, 0, f"Thread-{k}") for k in range(8)])
        self.now = t
        self.next = {k: t + 1000 + k * 1_000_000 for k in range(8)}

    def run_until(self, t_ns: int) -> None:
        while self.now < t_ns:
            self.now += 10_000_000
            for k in range(8):
                batch, t = [], self.next[k]
                while t < self.now:
                    batch.append((RUN, k, 1, 10 + k, t, t + self.rnd.randrange(600_000, 1_000_000),
                                  self.rnd.randrange(2), None))
                    t += 8_000_000
                self.next[k] = t
                batch.append((PROGRESS, k, 1, 10 + k, t, t + 100_000, 0, None))
                self.timeline.feed(batch)

    def frames(self, count: int) -> list[float]:
        """Milliseconds of ``count`` live frames, 100 ms of run apart, through fresh caches."""
        from concviz.view import Zoom
        from concviz.widgets.lane_cache import CoreCellsCache, LaneCodes

        zoom, codes, cores = Zoom(), LaneCodes(), CoreCellsCache()
        out = []
        for _ in range(count + 3):  # (the first frames fill the caches)
            self.run_until(self.now + 100_000_000)
            t0 = time.perf_counter()
            frame = self.timeline.snapshot(now_ns=self.now)
            win = zoom.window(frame)
            frame.stats
            for i in range(len(frame.tasks)):
                codes.rows(frame, i, win.t0, win.t1, 96)
            for cpu in frame.cores:
                cores.cells(frame, cpu, win.t0, win.t1, 96)
            for pid in frame.thread_pids:
                frame.gil_cells(pid, win.t0, win.t1, 96)
            out.append((time.perf_counter() - t0) * 1000)
        return out[3:]


def live_growth(quick: bool = False) -> dict:
    """Live frames at the 10th and the 400th second of one run, in alternating blocks: two runs
    fed to those points, then their frames taken in turn."""
    early, late = LiveRun(), LiveRun()
    start = early.now
    early.run_until(start + 10 * 10**9)
    late.run_until(start + (100 if quick else 400) * 10**9)
    a: list[float] = []
    b: list[float] = []
    for _ in range(3 if quick else 6):
        a += early.frames(10)
        b += late.frames(10)
    growth = median(b) / median(a)
    late_s = (late.now - start) / 1e9
    return {"figures": {"frame_live_growth": growth},
            "notes": {"frame_live_growth": (f"engine half of live frames (panes' caches, fit, 8 task lanes, cores, GIL, "
                                            f"stats): {median(a):.2f} ms at 10 s, {median(b):.2f} ms at "
                                            f"{late_s:.0f} s ({late.timeline.events:,} events)")},
            "details": {"frame_live": {"early_ms": round(median(a), 3), "late_ms": round(median(b), 3)}}}


def _fold_long_run(intervals: int) -> Timeline:
    """A Timeline fed a long synthetic run, a snapshot every ~100 ms of it (as a live UI takes)."""
    timeline = Timeline(SYNTHETIC_HEADER)
    for k, batch in enumerate(synthetic_stream(intervals)):
        timeline.feed(batch)
        if k % 10 == 0:
            timeline.snapshot()
    timeline.snapshot()
    return timeline


def _rss_child(intervals: int) -> None:
    """(In a fresh process) RSS growth per RUN interval while a Timeline folds a long run."""
    import gc

    import psutil

    me = psutil.Process()
    _fold_long_run(2_000)  # code paths warm, arrays' first blocks allocated
    gc.collect()
    before = me.memory_info().rss
    keep = _fold_long_run(intervals)
    gc.collect()
    print(json.dumps({"bytes_per_run": (me.memory_info().rss - before) / intervals, "kept": len(keep.tasks)}))


def timeline_memory(quick: bool = False) -> dict:
    intervals = 100_000 if quick else 400_000
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    timeline = _fold_long_run(intervals)
    traced = (tracemalloc.get_traced_memory()[0] - base) / intervals
    tracemalloc.stop()
    del timeline
    code = f"import sys; sys.path.insert(0, {str(common.HERE)!r}); import bench_frame; bench_frame._rss_child({intervals})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss = json.loads(out.stdout.strip().splitlines()[-1])["bytes_per_run"]
    return {"figures": {"timeline_bytes_per_run": traced, "timeline_rss_bytes_per_run": rss},
            "notes": {"timeline_bytes_per_run": (f"tracemalloc, a Timeline after {intervals:,} RUN intervals of "
                                                 f"64 threads on 2 cores (snapshots as live); RSS growth of a "
                                                 f"fresh process doing the same: {rss:.0f} bytes per interval")},
            "details": {}}


def frame_cost(quick: bool = False) -> dict:
    header, batches = record_events()
    events = sum(len(b) for b in batches)
    real = []
    for _ in range(1 if quick else 3):
        real += frames_over(header, batches)
    # frames on the finished run, history complete
    final = Timeline(header)
    for b in batches:
        final.feed(b)
    done = [one_frame(final) for _ in range(5 if quick else 15)]
    heavy_batches = synthetic(50_000 if quick else 200_000)
    heavy = frames_over(SYNTHETIC_HEADER, heavy_batches)
    figure = median(real + done)
    return {
        "figures": {"frame_ms_median": figure, "frame_engine_ms_median": figure,
                    "frame_engine_ms_heavy": median(heavy)},
        "notes": {
            "frame_ms_median": (f"engine half only (snapshot, stats, 64x{WIDTH} task cells, core and GIL "
                                f"cells) on a recorded 64-thread run of {events:,} events; the render "
                                "half needs concviz.app"),
            "frame_engine_ms_heavy": (f"the same on a synthetic 64-thread run of "
                                      f"{sum(len(b) for b in heavy_batches):,} events, frames as it grows "
                                      f"(max {max(heavy):.1f} ms)"),
        },
        "details": {"frame": {"recorded_events": events, "live_frames_ms": [round(x, 2) for x in real],
                              "final_frames_ms": [round(x, 2) for x in done],
                              "heavy_frames_ms": [round(x, 2) for x in heavy]}},
    }


BENCHMARKS = {"frame": frame_cost, "frame_heavy": heavy_ratio, "frame_live": live_growth,
              "timeline_memory": timeline_memory}
