"""Helpers shared by the benchmarks: real runs with their OS accounting, medians, quiet timers.

Benchmarks print figures; they are not pass/fail tests (see run.py). Every helper that starts a
process waits for it and leaves nothing behind.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from concviz.engine.experiment import Experiment  # noqa: E402
from concviz.engine.frame import Frame  # noqa: E402
from concviz.engine.spec import PROCESS_MODELS, RunSpec  # noqa: E402
from concviz.engine.timeline import Timeline  # noqa: E402


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Run:
    """One real run: the final Frame, the experiment's closing summary and how it ended."""

    frame: Frame
    summary: dict[str, Any]
    status: str
    wall_s: float  # of the whole Experiment, as the caller saw it

    @property
    def stats(self) -> dict[str, Any]:
        return self.frame.stats

    def os_cpu_s(self, model: str) -> float | None:
        """CPU seconds the OS accounted to the run's workers: the experiment process itself for
        in-process models, its joined children for process models."""
        cpu = self.summary.get("os_cpu_s")
        if not cpu:
            return None
        return cpu["children"] if model in PROCESS_MODELS else cpu["self"]


def run(spec: RunSpec, on_event: Callable[[str, Any], None] | None = None) -> Run:
    """Run ``spec`` in a real experiment process (the same plumbing as ``run_to_frame``)."""
    spec.validate()
    timeline = Timeline(tasks=spec.tasks)
    exp = Experiment(spec)

    def on_message(tag: str, payload: Any) -> None:
        if tag == "E":
            timeline.feed(payload)
        elif tag == "H":
            timeline.set_header(payload)
        if on_event is not None:
            on_event(tag, payload)

    t0 = time.perf_counter()
    exp.start()
    try:
        status = exp.pump(on_message)
    finally:
        exp.close()
    wall = time.perf_counter() - t0
    timeline.end(status, (exp.summary or {}).get("message", ""))
    return Run(timeline.snapshot(), exp.summary or {}, status, wall)


def rel_error(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth if truth else float("inf")


def load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")
