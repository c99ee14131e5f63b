"""Frame cost, engine half: snapshot a Timeline and compute what one screen of 64 lanes needs.

One frame = ``Timeline.snapshot()`` + ``Frame.stats`` + ``task_cells`` for 64 task lanes x 120
columns + ``core_cells`` for every core + ``gil_cells`` for every thread process, over the whole
run so far. Measured on a real recorded run (64 CPU-bound threads: the GIL attribution is the
dearest path) fed in the order it arrived, a frame at each tenth of the events (as a live UI
sees it), and on a large synthetic run (64 threads, 200,000 RUN intervals) to show how the cost
grows with history. The render half (Strips, Textual) is measured by bench_ui when the app exists.
"""

from __future__ import annotations

import time

import common
from common import median

from concviz.engine.events import FINISH, RUN, SPAWN, START
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


def synthetic(intervals: int = 200_000, tasks: int = 64, cpus: int = 2) -> list[list[tuple]]:
    """64 threads of one process taking 1 ms turns, in 512-event batches per thread."""
    pid, t = 4242, 1_000_000_000
    per = intervals // tasks
    spawn = [(SPAWN, k, pid, 1, t, t, -1, None) for k in range(tasks)]
    lanes: list[list[tuple]] = [[(START, k, pid, 100 + k, t + k, t + k, 0, f"Thread-{k}")] for k in range(tasks)]
    now = t + 1000
    for r in range(per):
        for k in range(tasks):
            lanes[k].append((RUN, k, pid, 100 + k, now, now + 900_000, (k + r) % cpus, None))
            now += 1_000_000
    for k in range(tasks):
        lanes[k].append((FINISH, k, pid, 100 + k, now, now, -1, None))
    # arrival order as live: a thread flushes every ~10 ms, so batches of ~10 ms of events,
    # each batch's threads in reverse order (late arrivals across threads, as from real pipes)
    flat = sorted((e for lane in lanes for e in lane), key=lambda e: e[4])
    batches = [spawn]
    for i in range(0, len(flat), 10):
        batches.append(sorted(flat[i:i + 10], key=lambda e: -e[3]))
    return batches


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
    heavy = frames_over({"model": "threads", "spec": {"tasks": 64}, "machine": {"cpus": 2, "gil": True}},
                        heavy_batches)
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


BENCHMARKS = {"frame": frame_cost}
