"""Fidelity: concviz's figures against instruments it does not control.

* busy: busy_s (sum of the measured RUN intervals) vs the CPU time the OS accounted to the
  workers during the model's run (getrusage in the experiment: its own for in-process models,
  its joined children's for process models; fork, so every worker is the experiment's child).
* switch: sys.setswitchinterval 1, 5 and 20 ms, 2 CPU-bound threads: the median RUN interval
  concviz reports vs the interval asked for, and busy / wall (one GIL: never above 1).
* spawn: SPAWN -> START as concviz shows it vs a direct measurement made the same way
  (spawn_direct.py: a fresh interpreter that starts trivial children one after another and
  reads the clock just before start() and on the child's first line), per start method.
Runs are interleaved and repeated; the figures are medians, the worst case over the variants.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys

import common
from common import median, rel_error, run

QUICK = False


def quiet(measure):
    """common.quiet, patient in a full run, brief in a quick one."""
    return common.quiet(measure, tries=1, max_wait_s=1.0) if QUICK else common.quiet(measure)

from concviz.engine.spec import PROCESS_MODELS, RunSpec, models_for

# every model this Python runs, but interpreters: its figures are bench_interp.py's, measured
# under the newest Python here
MODELS = [m for m in models_for() if m != "interpreters"]

SWITCH_MS = (1, 5, 20)


# --- busy vs OS --------------------------------------------------------------------------------
def busy_vs_os(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    repeats = 1 if quick else 3
    rows: dict[str, list[dict]] = {m: [] for m in MODELS}
    for _ in range(repeats):
        for model in MODELS:
            method = "fork" if model in PROCESS_MODELS and "fork" in multiprocessing.get_all_start_methods() else None
            spec = RunSpec(model=model, workload="cpu", tasks=4, scale=0.4, start_method=method)
            r, background = quiet(lambda: run(spec))
            os_s = r.os_cpu_s(model)
            busy = r.stats["busy_s"]
            rows[model].append({"busy_s": round(busy, 4), "os_cpu_s": os_s,
                                "error": rel_error(busy, os_s) if os_s else None,
                                "status": r.status, "background_cores": round(background, 3)})
    per_model = {m: median([x["error"] for x in v if x["error"] is not None]) for m, v in rows.items()}
    worst = max(per_model, key=lambda m: per_model[m])
    return {
        "figures": {"busy_vs_os_error_max": per_model[worst]},
        "notes": {"busy_vs_os_error_max": (
            f"cpu, 4 tasks, scale 0.4, median of {repeats}; worst {worst}; per model: "
            + ", ".join(f"{m} {e:.1%}" for m, e in per_model.items()))},
        "details": {"busy_vs_os": rows},
    }


# --- GIL switch interval -----------------------------------------------------------------------
def gil_turns_ms(frame) -> list[float]:
    """Lengths of the GIL turns: from a thread's first RUN after a hand-off to its last before
    the next one (the first and last turns of the run left out)."""
    out = []
    for pid in frame.thread_pids:
        start = end = tid = None
        for e in frame.thread_runs(pid):
            if e.tid != tid:
                if tid is not None:
                    out.append((end - start) / 1e6)
                tid, start = e.tid, e.t0
            end = e.t1
    return out[1:]


def pauses_per_s(frame) -> float:
    """Pauses inside a thread's GIL turn (a gap between two RUN intervals of the same thread with
    no other thread running between them), per second of RUN time: the OS taking the CPU."""
    count, busy = 0, 0
    for pid in frame.thread_pids or {t.pid for t in frame.tasks}:
        runs = frame.thread_runs(pid)
        for i in range(len(runs)):
            busy += runs[i].t1 - runs[i].t0
            if i and runs[i].tid == runs[i - 1].tid and runs[i].t0 > runs[i - 1].t1:
                count += 1
    return count / (busy / 1e9) if busy else 0.0


def switch_interval(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    repeats = 1 if quick else 3
    runs: dict[int, list[dict]] = {ms: [] for ms in SWITCH_MS}
    # the machine's own noise: how often the OS pauses one lone CPU-bound thread
    solo, _ = quiet(lambda: run(RunSpec(model="sequential", workload="cpu", tasks=1, scale=0.6)))
    solo_pauses = pauses_per_s(solo.frame)
    for _ in range(repeats):
        for ms in SWITCH_MS:
            scale = 0.3 if quick else (0.6 if ms < 20 else 1.2)
            spec = RunSpec(model="threads", workload="cpu", tasks=2, scale=scale, switch_interval_ms=ms)
            r, background = quiet(lambda: run(spec))
            s = r.stats
            turns = gil_turns_ms(r.frame)
            runs[ms].append({"run_ms_median": s["run_interval_ms_median"], "turn_ms_median": median(turns),
                             "busy_over_wall": s["busy_s"] / s["wall_s"] if s["wall_s"] else 0.0,
                             "run_intervals": s["run_intervals"], "gil_switches": s["gil_switches"],
                             "pauses_per_s": pauses_per_s(r.frame), "background_cores": round(background, 3),
                             "cpus": sorted({c for t in r.frame.tasks for c in t.cpus})})
    err = {ms: rel_error(median([x["run_ms_median"] for x in v]), ms) for ms, v in runs.items()}
    turn_err = {ms: rel_error(median([x["turn_ms_median"] for x in v]), ms) for ms, v in runs.items()}
    bow = max(x["busy_over_wall"] for v in runs.values() for x in v)
    worst = max(err, key=lambda k: err[k])
    medians = ", ".join(f"{ms} ms -> {median([x['run_ms_median'] for x in runs[ms]]):.2f}" for ms in SWITCH_MS)
    turns = ", ".join(f"{ms} ms -> {median([x['turn_ms_median'] for x in runs[ms]]):.2f}" for ms in SWITCH_MS)
    return {
        "figures": {"switch_interval_error_max": err[worst], "busy_over_wall_max": bow,
                    "gil_turn_error_max": max(turn_err.values())},
        "notes": {
            "switch_interval_error_max": (f"threads, 2 cpu tasks, median of {repeats}, each run when other "
                                          f"processes used < 0.25 cores (median {median([x['background_cores'] for v in runs.values() for x in v]):.2f}); "
                                          f"median RUN interval: {medians}"),
            "gil_turn_error_max": (f"GIL turns (a thread's consecutive RUN intervals between two hand-offs, "
                                   f"OS preemptions inside a turn included): {turns}; pauses of a thread "
                                   f"inside its turn: {median([x['pauses_per_s'] for v in runs.values() for x in v]):.0f}/s "
                                   f"(a lone CPU-bound thread here: {solo_pauses:.0f}/s)"),
        },
        "details": {"switch_interval": runs, "solo_pauses_per_s": solo_pauses},
    }


# --- spawn latency ----------------------------------------------------------------------------
def direct_spawn(method: str, n: int, linger_s: float) -> dict:
    # -m, like the experiment (python -m concviz.engine.experiment_child): spawn and forkserver then
    # treat the main module the same way in both (imported by name, not preloaded by path)
    out = subprocess.run([sys.executable, "-m", "spawn_direct", method, str(n), str(linger_s)],
                         capture_output=True, text=True, timeout=120, cwd=str(common.HERE),
                         env=_env())
    if out.returncode:
        raise RuntimeError(f"spawn_direct {method} failed: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


def _env() -> dict:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(common.ROOT), str(common.HERE)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def spawn_latency(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    repeats = 1 if quick else 7
    scale = 0.1  # io tasks of 10-90 ms: alive while the next ones start
    # A thread starts in ~0.1 ms, and one run's median moves by 20-40 us from run to run (either
    # side): 32 threads a run and 3x the runs, so that the comparison is not of two noises. A
    # fork takes ~2-3 ms and one run's median moved by 0.3-0.9 ms (the figure read 11-30% over
    # 7 runs): 3x the runs too (they are cheap). A spawn or forkserver start (90-270 ms) moved
    # by 15% either way from run to run, concviz's and the direct one alike (over 7 runs their
    # medians differed by 3-20%, either way round): 11 runs.
    count = {"thread": 32}
    runs_of = {"thread": 3 * repeats, "fork": 3 * repeats,
               "forkserver": repeats + repeats // 2 + 1, "spawn": repeats + repeats // 2 + 1}
    methods = ["thread"] + [m for m in ("fork", "forkserver", "spawn") if m in multiprocessing.get_all_start_methods()]
    rows: dict[str, dict[str, list[float]]] = {m: {"concviz": [], "direct": [], "background_cores": []}
                                               for m in methods}
    for i in range(max(runs_of.get(m, repeats) for m in methods)):
        for m in methods:
            if i >= runs_of.get(m, repeats):
                continue
            tasks = count.get(m, 4)
            spec = (RunSpec(model="threads", workload="io", tasks=tasks, scale=scale) if m == "thread"
                    else RunSpec(model="processes", workload="io", tasks=tasks, scale=scale, start_method=m))
            for side in (("concviz", "direct") if i % 2 == 0 else ("direct", "concviz")):
                if side == "concviz":
                    value, background = quiet(lambda: run(spec).stats["spawn_ms_median"])
                else:
                    value, background = quiet(lambda: direct_spawn(m, tasks, 0.05)["median_ms"])
                rows[m][side].append(value)
                rows[m].setdefault("background_cores", []).append(round(background, 3))
    err = {m: rel_error(median(v["concviz"]), median(v["direct"])) for m, v in rows.items()}
    worst = max(err, key=lambda k: err[k])
    return {
        "figures": {"spawn_latency_error_max": err[worst]},
        "notes": {"spawn_latency_error_max": (
            f"io tasks (32 threads, 4 processes), median of {runs_of['thread']} runs (threads, fork), "
            f"{runs_of['spawn']} (forkserver, spawn), each when the machine was quiet; "
            f"concviz vs direct (ms): "
            + ", ".join(f"{m} {median(v['concviz']):.2f} vs {median(v['direct']):.2f}" for m, v in rows.items()))},
        "details": {"spawn_latency": rows},
    }


BENCHMARKS = {"busy": busy_vs_os, "switch": switch_interval, "spawn": spawn_latency}
