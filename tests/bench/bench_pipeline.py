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
import time
from typing import Any

import common
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


def flood_once(workers: int, events: int, tasks: int) -> dict[str, Any]:
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
    try:
        status = exp.pump(on_message)
        stderr = exp.stderr_text().strip()[-300:]
    finally:
        exp.close()
    cpu = time.process_time() - c0
    expected = workers * tasks * 3 + workers * events  # SPAWN, START, FINISH per task + RUNs
    got = timeline.events
    span = (last - first) if first is not None and last is not None else float("nan")
    return {"status": status, "events": got, "expected": expected, "lost": expected - got,
            "seconds": span, "events_per_s": got / span if span else 0.0, "batches": batches,
            "caller_cpu_s": cpu, "stderr": stderr}


def pipeline(quick: bool = False) -> dict:
    workers, tasks = 8, 8
    events = 40_000 if quick else 250_000
    repeats = 1 if quick else 3
    runs = [flood_once(workers, events, tasks) for _ in range(repeats)]
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
                    "pipeline_events_lost": lost},
        "notes": {"pipeline_events_per_s": note},
        "details": {"pipeline": runs},
    }


BENCHMARKS = {"pipeline": pipeline}
