"""``concviz trace``'s outside view against concviz's inside view (issue 15's truth).

* trace_truth: each model runs as ``python -m concviz run -m MODEL -w cpu --record F --json``,
  traced from outside by concviz.engine.sources (trace_command: the default, adaptive rate).
  The engine's own probe (the run's recorded events and its --json) is the reference:

  - busy per task: the traced RUN time of the task's thread inside the task's window (its START
    to its FINISH, as the probe recorded them) against the probe's run time of the task. Where
    a thread's tasks overlap in time (asyncio: one thread, tasks interleaved) they cannot be told
    apart from outside, and the thread's tasks are compared together. Worst relative error over
    tasks and models: ``trace_busy_error_max``;
  - parallelism: that traced busy time summed over tasks, over the probe's wall time, against
    the probe's parallelism. Worst absolute difference: ``trace_parallelism_error_max``;
  - waiting for the GIL (thread models): the time the traced threads spent "waiting for the GIL
    (inferred)" inside their tasks' windows, as a fraction of those windows, against the
    probe's GIL wait fraction. Worst relative error: ``trace_gil_wait_error_max``. (The probe
    counts a wait as the GIL's when a sibling thread ran meanwhile; the outside view when the
    thread is blocked on the GIL's futex. On a loaded machine the two part: a GIL holder
    preempted by another program is, for the probe, a wait for a CPU.)

* trace_cost: the sampler's own CPU time (its thread, kernel time of the reads included) over
  wall time while tracing 16 CPU-bound threads at the default rate, fixed (no adaptation):
  ``trace_sampler_cpu``. The reference, in the same run: the same loop with an empty sweep
  (its timer alone). Also the CPU cost of one reading per thread (``trace_read_us_per_thread``)
  and the rate the adaptive sampler settles on with its default budget.

The machine is shared: every run is made when other processes use little CPU if they can
(common.quiet), and the background load is reported with the figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import common
from common import median

from concviz.engine.events import FINISH, RUN, START, read_trace
from concviz.engine.sources.infer import GIL
from concviz.engine.sources.procfs import ProcReader, Sweep
from concviz.engine.sources.sampler import DEFAULT_HZ, ProcSampler, trace_command
from concviz.engine.sources.tracer import Tracker
from concviz.engine.spec import THREAD_MODELS, models_for

# every model this Python runs, but interpreters: its figures are bench_interp.py's, measured
# under the newest Python here
MODELS = [m for m in models_for() if m != "interpreters"]

SPIN16 = """
import sys, threading, time
def spin():
    end = time.perf_counter() + float(sys.argv[1])
    while time.perf_counter() < end:
        pass
threads = [threading.Thread(target=spin) for _ in range(16)]
for t in threads: t.start()
for t in threads: t.join()
"""


def clipped(intervals: list[tuple[int, int]], w0: int, w1: int) -> int:
    return sum(max(0, min(b, w1) - max(a, w0)) for a, b in intervals)


def merge(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for a, b in sorted(windows):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def traced_run(model: str, tasks: int, scale: float) -> dict:
    """One model run traced from outside; both views of it."""
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "run.jsonl"
        out = Path(tmp) / "out.json"
        argv = [sys.executable, "-m", "concviz", "run", "-m", model, "-w", "cpu", "-n", str(tasks),
                "--scale", str(scale), "--record", str(record), "--json"]
        with open(out, "w") as stdout:
            traced = trace_command(argv, timeout_s=120, stdout=stdout, cwd=str(common.ROOT))
        if traced.returncode != 0:
            raise RuntimeError(f"{model}: concviz run exited {traced.returncode}")
        summary = json.loads(out.read_text())
        _, events = read_trace(record)
    return compare(model, summary, events, traced)


def compare(model: str, summary: dict, events: list[tuple], traced) -> dict:
    window: dict[int, list[int]] = {}
    thread_of: dict[int, tuple[int, int]] = {}
    for e in events:
        if e[0] == START:
            window[e[1]] = [e[4], e[4]]
            thread_of[e[1]] = (e[2], e[3])
        elif e[0] == FINISH and e[1] in window:
            window[e[1]][1] = e[4]
    probe_run = defaultdict(int)
    for e in events:
        if e[0] == RUN:
            probe_run[e[1]] += e[5] - e[4]
    ours_run: dict[tuple[int, int], list] = defaultdict(list)
    for e in traced.events:
        if e[0] == RUN:
            ours_run[(e[2], e[3])].append((e[4], e[5]))
    ours_gil: dict[tuple[int, int], list] = defaultdict(list)
    for s in traced.spans:
        if s.state == GIL:
            ours_gil[(s.pid, s.tid)].append((s.t0, s.t1))
    by_thread: dict[tuple[int, int], list[int]] = defaultdict(list)
    for task, key in thread_of.items():
        by_thread[key].append(task)
    errors, ours_busy = [], 0
    for key, tasks in by_thread.items():
        wins = [tuple(window[t]) for t in tasks]
        groups = [[t] for t in tasks] if len(merge(wins)) == len(wins) else [tasks]
        for group in groups:
            spans = merge([tuple(window[t]) for t in group])
            ours = sum(clipped(ours_run[key], a, b) for a, b in spans)
            probe = sum(probe_run[t] for t in group)
            ours_busy += ours
            if probe > 0:
                errors.append({"tasks": group, "ours_s": ours / 1e9, "probe_s": probe / 1e9,
                               "error": abs(ours - probe) / probe})
    wall = summary["wall_s"]
    out = {"model": model, "busy_error_max": max(e["error"] for e in errors),
           "parallelism_probe": summary["parallelism"],
           "parallelism_ours": ours_busy / 1e9 / wall if wall else 0.0, "tasks": errors,
           "sampler_rate_hz": traced.sampler.rate_hz, "sampler_cost": traced.sampler.mean_cost}
    out["parallelism_error"] = abs(out["parallelism_ours"] - out["parallelism_probe"])
    if model in THREAD_MODELS:
        per_task = {t["id"]: t for t in summary["per_task"]}
        life = sum(window[t][1] - window[t][0] for t in window)
        probe_gil = sum(per_task[t]["gil_wait_s"] for t in window) * 1e9
        ours_gil_ns = sum(clipped(ours_gil[thread_of[t]], *window[t]) for t in window)
        out["gil_fraction_probe"] = probe_gil / life
        out["gil_fraction_ours"] = ours_gil_ns / life
        out["gil_error"] = abs(ours_gil_ns - probe_gil) / probe_gil if probe_gil else None
    return out


def trace_truth(quick: bool = False) -> dict:
    repeats = 1 if quick else 3
    scale = 0.4 if quick else 0.8
    rows: dict[str, list[dict]] = {m: [] for m in MODELS}
    backgrounds = []
    for _ in range(repeats):
        for model in MODELS:
            r, background = common.quiet(lambda: traced_run(model, 4, scale), tries=1 if quick else 3)
            r["background_cores"] = round(background, 3)
            backgrounds.append(background)
            rows[model].append(r)
    busy = {m: median([r["busy_error_max"] for r in v]) for m, v in rows.items()}
    par = {m: median([r["parallelism_error"] for r in v]) for m, v in rows.items()}
    gil = {m: median([r["gil_error"] for r in v]) for m, v in rows.items() if m in THREAD_MODELS}
    worst_busy = max(busy, key=busy.get)
    worst_par = max(par, key=par.get)
    worst_gil = max(gil, key=gil.get)
    fractions = ", ".join(
        f"{m} {median([r['gil_fraction_ours'] for r in rows[m]]):.2f} vs "
        f"{median([r['gil_fraction_probe'] for r in rows[m]]):.2f}" for m in gil)
    rates = [r["sampler_rate_hz"] for v in rows.values() for r in v]
    bg = f"other processes used {median(backgrounds):.2f} cores (median, max {max(backgrounds):.2f})"
    return {
        "figures": {"trace_busy_error_max": busy[worst_busy],
                    "trace_parallelism_error_max": par[worst_par],
                    "trace_gil_wait_error_max": gil[worst_gil]},
        "notes": {
            "trace_busy_error_max": (f"cpu, 4 tasks, scale {scale}, median of {repeats}; worst "
                                     f"{worst_busy}; per model: " + ", ".join(f"{m} {e:.1%}" for m, e in busy.items())
                                     + f"; {bg}; sampler rate {min(rates):.0f}-{max(rates):.0f} Hz"),
            "trace_parallelism_error_max": (f"worst {worst_par}; per model (traced vs probe): " + ", ".join(
                f"{m} {median([r['parallelism_ours'] for r in v]):.2f} vs "
                f"{median([r['parallelism_probe'] for r in v]):.2f}" for m, v in rows.items())),
            "trace_gil_wait_error_max": f"worst {worst_gil}; GIL wait fraction traced vs probe: {fractions}",
        },
        "details": {"trace_truth": rows},
    }


# --- the sampler's cost -----------------------------------------------------------------------------
def sampler_cost(seconds: float, empty: bool, budget: float | None = None) -> dict:
    proc = subprocess.Popen([sys.executable, "-c", SPIN16, str(seconds + 1.0)])
    try:
        time.sleep(0.5)  # its 16 threads started
        reader = ProcReader(proc.pid)
        tracker = Tracker(maps=reader.maps)
        sweep = None
        if empty:
            blank = Sweep(0, 0, ())
            sweep = lambda: blank  # noqa: E731 - the loop's timer alone
        reads = {"cpu_ns": 0, "threads": 0, "n": 0}

        def timed_sweep() -> Sweep:
            c0 = time.thread_time_ns()
            s = reader.sweep()
            reads["cpu_ns"] += time.thread_time_ns() - c0
            reads["threads"] += sum(len(p.threads) for p in s.processes)
            reads["n"] += 1
            return s

        sampler = ProcSampler(reader, tracker, lambda b: None, budget=budget,
                              sweep=sweep or timed_sweep).start()
        time.sleep(seconds)
        sampler.stop()
        sampler.join(10)
    finally:
        proc.kill()
        proc.wait()
    return {"cost": sampler.mean_cost, "rate_hz": sampler.sweeps / seconds, "final_rate_hz": sampler.rate_hz,
            "read_us_per_thread": reads["cpu_ns"] / reads["threads"] / 1e3 if reads["threads"] else None,
            "threads_per_sweep": reads["threads"] / reads["n"] if reads["n"] else 0}


def trace_cost(quick: bool = False) -> dict:
    seconds = 2.0 if quick else 4.0
    repeats = 1 if quick else 3
    runs, refs, adaptive, backgrounds = [], [], [], []
    for _ in range(repeats):
        (run, ref), background = common.quiet(
            lambda: (sampler_cost(seconds, empty=False), sampler_cost(seconds, empty=True)),
            tries=1 if quick else 3)
        runs.append(run)
        refs.append(ref)
        backgrounds.append(background)
        adaptive.append(sampler_cost(seconds, empty=False, budget=0.03))
    cost = median([r["cost"] for r in runs])
    return {
        "figures": {"trace_sampler_cpu": cost,
                    "trace_read_us_per_thread": median([r["read_us_per_thread"] for r in runs])},
        "notes": {
            "trace_sampler_cpu": (
                f"16 CPU-bound threads, {DEFAULT_HZ:.0f} Hz asked, fixed: {median([r['rate_hz'] for r in runs]):.0f} "
                f"sweeps/s made, {median([r['threads_per_sweep'] for r in runs]):.0f} threads a sweep; "
                f"reference (the same loop, empty sweeps): {median([r['cost'] for r in refs]):.2%} of a core; "
                f"adaptive (budget 3%): settles at {median([r['final_rate_hz'] for r in adaptive]):.0f} Hz, "
                f"{median([r['cost'] for r in adaptive]):.2%}; other processes used "
                f"{median(backgrounds):.2f} cores; median of {repeats}"),
            "trace_read_us_per_thread": "CPU time of one sweep per thread read (all three files when it ran)",
        },
        "details": {"trace_cost": {"runs": runs, "reference": refs, "adaptive": adaptive}},
    }


BENCHMARKS = {"trace_truth": trace_truth, "trace_cost": trace_cost}


if __name__ == "__main__":
    name = sys.argv[1] if len(sys.argv) > 1 else "trace_truth"
    print(json.dumps(BENCHMARKS[name]("--quick" in sys.argv), indent=2, default=str))
