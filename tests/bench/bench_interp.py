"""The interpreters model (issue 16), on the newest Python here that runs it (3.13 here), against
instruments concviz does not control, each beside a plain reference measured in the same run.

* interp_parallelism: CPU-bound tasks in interpreters of one process, 2 per core: the
  parallelism concviz measures (busy / wall), over the number of cores. Beside it, the
  processes model (fork) on the same Python and work: what the machine let processes reach.
* interp_busy_vs_os_error: the same runs' busy time (the RUN intervals the probe in each
  interpreter recorded) vs the CPU time the OS accounted to the experiment process during the
  model's run (getrusage: every interpreter's thread is in it).
* interp_start_error: SPAWN -> START as concviz shows it vs a direct measurement made the same
  way (interp_direct.py under the same Python: interpreters made one after another, each run
  from a thread of its own, the clock read just before it is made and on its task's first
  line, after the same imports).

Runs are interleaved, each taken when other processes leave the machine quiet (common.quiet);
the figures are medians.
"""

from __future__ import annotations

import json
import os
import subprocess

import common
from common import median, rel_error, run

from concviz.engine.spec import RunSpec, unavailable

QUICK = False
CPU_TASKS_PER_CORE = 2
CPU_SCALE = 2.0  # ~1 s of work per task: the interpreters' start is a small part of the run


def quiet(measure):
    """common.quiet, patient in a full run, brief in a quick one."""
    return common.quiet(measure, tries=1, max_wait_s=1.0) if QUICK else common.quiet(measure)


def newest_python() -> str | None:
    """The newest CPython here that runs the interpreters model (pyenv's, or python3.X on PATH);
    None: this one, where it can."""
    from tests.unit.helpers import pythons_here

    for path in reversed(list(pythons_here().values())):
        if not unavailable("interpreters", path):
            return path
    if not unavailable("interpreters"):
        return None
    raise RuntimeError(f"no Python here runs the interpreters model ({unavailable('interpreters')})")


def _version(python: str | None) -> str:
    from concviz.engine.pythons import describe

    return describe(python).version


# --- parallelism and busy vs OS ---------------------------------------------------------------
def parallel(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    python = newest_python()
    cpus = os.cpu_count() or 1
    tasks = CPU_TASKS_PER_CORE * cpus
    repeats = 1 if quick else 3
    scale = 0.5 if quick else CPU_SCALE
    rows: dict[str, list[dict]] = {"interpreters": [], "processes": []}
    for i in range(repeats):
        for model in (("interpreters", "processes") if i % 2 == 0 else ("processes", "interpreters")):
            spec = RunSpec(model=model, workload="cpu", tasks=tasks, scale=scale, python=python,
                           start_method="fork" if model == "processes" else None)
            r, background = quiet(lambda: run(spec))
            os_s = r.os_cpu_s(model)
            s = r.stats
            rows[model].append({"parallelism": round(s["parallelism"], 3), "busy_s": round(s["busy_s"], 4),
                                "wall_s": round(s["wall_s"], 4), "os_cpu_s": os_s,
                                "busy_error": rel_error(s["busy_s"], os_s) if os_s else None,
                                "spawn_ms_median": s["spawn_ms_median"], "status": r.status,
                                "done": s["done"], "background_cores": round(background, 3)})
    par = {m: median([x["parallelism"] for x in v]) for m, v in rows.items()}
    err = {m: median([x["busy_error"] for x in v if x["busy_error"] is not None]) for m, v in rows.items()}
    version = _version(python)
    return {
        "figures": {"interp_parallelism": par["interpreters"] / cpus,
                    "interp_busy_vs_os_error": err["interpreters"]},
        "notes": {
            "interp_parallelism": (
                f"Python {version}, {tasks} cpu tasks (scale {scale:g}) on {cpus} cores, median of {repeats}: "
                f"parallelism {par['interpreters']:.2f} (processes, fork, same Python and work, same rounds: "
                f"{par['processes']:.2f}, i.e. {par['processes'] / cpus:.2f} x cores); other processes used "
                f"{median([x['background_cores'] for v in rows.values() for x in v]):.2f} cores (median)"),
            "interp_busy_vs_os_error": (
                f"the same runs: busy {median([x['busy_s'] for x in rows['interpreters']]):.3f} s vs the OS's "
                f"{median([x['os_cpu_s'] for x in rows['interpreters']]):.3f} s for the experiment process "
                f"(processes, their joined children: {err['processes']:.1%})"),
        },
        "details": {"interp_parallel": rows, "python": python},
    }


# --- start cost ----------------------------------------------------------------------------------
def direct_start(python: str | None, n: int, linger_s: float) -> dict:
    import sys

    out = subprocess.run([python or sys.executable, "-m", "interp_direct", str(n), str(linger_s)],
                         capture_output=True, text=True, timeout=120, cwd=str(common.HERE), env=_env())
    if out.returncode:
        raise RuntimeError(f"interp_direct failed: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(common.ROOT), str(common.HERE)]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def start(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    python = newest_python()
    repeats = 1 if quick else 7
    tasks = 4
    scale = 0.1  # io tasks of 10-90 ms: alive while the next ones start, as in the direct runs
    spec = RunSpec(model="interpreters", workload="io", tasks=tasks, scale=scale, python=python)
    rows: dict[str, list[float]] = {"concviz": [], "direct": [], "background_cores": []}
    for i in range(repeats):
        for side in (("concviz", "direct") if i % 2 == 0 else ("direct", "concviz")):
            if side == "concviz":
                value, background = quiet(lambda: run(spec).stats["spawn_ms_median"])
            else:
                value, background = quiet(lambda: direct_start(python, tasks, 0.05)["median_ms"])
            rows[side].append(value)
            rows["background_cores"].append(round(background, 3))
    concviz, direct = median(rows["concviz"]), median(rows["direct"])
    return {
        "figures": {"interp_start_error": rel_error(concviz, direct)},
        "notes": {"interp_start_error": (
            f"Python {_version(python)}, {tasks} interpreters one after another (io tasks), median of "
            f"{repeats} runs each, interleaved: SPAWN->START {concviz:.1f} ms vs direct {direct:.1f} ms; other "
            f"processes used {median(rows['background_cores']):.2f} cores (median)")},
        "details": {"interp_start": rows, "python": python},
    }


BENCHMARKS = {"interp_parallel": parallel, "interp_start": start}
