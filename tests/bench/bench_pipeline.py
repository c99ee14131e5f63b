"""Pipeline: events from 8 worker processes, through the real pipe, into a real Timeline.

The experiment process is replaced by flood_child.py (same Sink, same Recorder, same framing);
the caller side is the real :class:`Experiment` pump feeding a real :class:`Timeline`, as the
UI's pump thread does. The figure is events folded per second between the first and the last
batch, and every event sent must arrive (the count is exact).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import common
from bench_frame import one_frame
from common import median

from concviz.engine.experiment import Experiment
from multiprocessing.connection import Connection


class FloodExperiment(Experiment):
    """An Experiment whose child is flood_child.py instead of a model run."""

    def __init__(self, spec, workers: int, events: int, tasks: int) -> None:
        super().__init__(spec)
        self.flood_args = [str(workers), str(events), str(tasks)]

    def start(self) -> None:
        r, w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = str(common.ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.started_ns = time.perf_counter_ns()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, str(common.HERE / "flood_child.py"), *self.flood_args, str(w)],
                pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, start_new_session=True, env=env,
            )
        finally:
            os.close(w)
        self.reader = Connection(r, writable=False)


def flood_once(workers: int, events: int, tasks: int, frames: bool = False) -> dict[str, Any]:
    from concviz.engine.spec import RunSpec
    from concviz.engine.timeline import Timeline

    spec = RunSpec(model="processes", workload="cpu", tasks=1, timeout_s=300).validate()
    timeline = Timeline()
    exp = FloodExperiment(spec, workers, events, tasks)
    first = last = None
    batches = 0

    def on_message(tag: str, payload: Any) -> None:
        nonlocal first, last, batches
        if tag == "E":
            now = time.perf_counter()
            if first is None:
                first = now
            timeline.feed(payload)
            last = time.perf_counter()
            batches += 1
        elif tag == "H":
            timeline.set_header(payload)

    c0 = time.process_time()
    exp.start()
    frame_ms: list[float] = []
    try:
        if frames:
            # as in the UI process: the pump on a thread, a frame every 100 ms on the main thread
            result: dict[str, str] = {}
            pump = threading.Thread(target=lambda: result.update(status=exp.pump(on_message)), daemon=True)
            pump.start()
            next_tick = time.perf_counter()
            while pump.is_alive():
                next_tick += 0.1
                frame_ms.append(one_frame(timeline))
                time.sleep(max(0.0, next_tick - time.perf_counter()))
            pump.join()
            status = result.get("status", "crashed")
        else:
            status = exp.pump(on_message)
        stderr = exp.stderr_text().strip()[-300:]
    finally:
        exp.close()
    cpu = time.process_time() - c0
    expected = workers * tasks * 3 + workers * events  # SPAWN, START, FINISH per task + RUNs
    got = timeline.events
    span = (last - first) if first is not None and last is not None else float("nan")
    out = {"status": status, "events": got, "expected": expected, "lost": expected - got,
           "seconds": span, "events_per_s": got / span if span else 0.0, "batches": batches,
           "caller_cpu_s": cpu, "stderr": stderr}
    if frames:
        out["frames"] = len(frame_ms)
        out["frames_per_s"] = len(frame_ms) / span if span else 0.0
        out["frame_ms_median"] = median(frame_ms)
        out["frame_ms_max"] = max(frame_ms, default=0.0)
    return out


def pipeline(quick: bool = False) -> dict:
    workers, tasks = 8, 8
    events = 40_000 if quick else 250_000
    repeats = 1 if quick else 3
    runs = [flood_once(workers, events, tasks) for _ in range(repeats)]
    loaded = flood_once(workers, events, tasks, frames=True)
    lost = sum(abs(r["lost"]) for r in runs)
    rate = median([r["events_per_s"] for r in runs])
    ok = all(r["status"] == "ok" for r in runs)
    statuses = [r["status"] for r in runs]
    loss = "no loss" if lost == 0 and ok else f"LOST {lost} events, status {statuses}"
    load = median([r["caller_cpu_s"] / r["seconds"] for r in runs])
    note = (f"{workers} processes x {events:,} events, median of {repeats}; {loss}; "
            f"caller CPU {load:.0%} of a core")
    return {
        "figures": {"pipeline_events_per_s": rate if lost == 0 and ok else 0.0,
                    "pipeline_events_lost": lost + abs(loaded["lost"]),
                    "pipeline_frames_per_s": loaded["frames_per_s"],
                    "pipeline_events_per_s_with_frames": loaded["events_per_s"]},
        "notes": {"pipeline_events_per_s": note,
                  "pipeline_frames_per_s": (
                      "engine half of ui_fps_under_load: the pump on a thread, the main thread taking a "
                      "frame (snapshot, stats, 64 lanes x 120 columns, cores, GIL) every 100 ms, as the "
                      f"UI does; frame median {loaded['frame_ms_median']:.1f} ms, max "
                      f"{loaded['frame_ms_max']:.1f} ms, {loaded['events_per_s']:,.0f} events/s meanwhile")},
        "details": {"pipeline": runs, "pipeline_with_frames": loaded},
    }


BENCHMARKS = {"pipeline": pipeline}
