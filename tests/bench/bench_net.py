"""Net workloads and memory (issue 12), through the real run path (``run_to_frame``: the
experiment, its loopback server, the models, concviz's own memory reading), measured against
instruments of the bench's own.

* net_latency: the median wait per request the tasks recorded vs ``--latency``, 1,000
  connections under threads and under asyncio, the worse of the two (and 1,000 x 5 x 100 ms
  beside it). Measured when the machine is quiet, or the quietest of two tries.
* net_10k: 10,000 connections x 1 request x 1 s under threads and under asyncio: the run's wall
  time (first spawn to last finish, the server's second in it) when every connection completed;
  and the largest difference between the concurrency concviz reports and the server's count
  of connections open at once.
* mem_per_task: concviz's memory per task vs the bench's own: psutil's PSS summed every 50 ms
  over the experiment and its descendants but the loopback server (found by its command line),
  with the same baseline rule (the last reading before the first task). Worst model.
* mem_sample: the CPU cost of one reading of a 64-process tree (the most a run has), read as a
  run's process group (how the experiment is read) and found through psutil.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import common
from common import median, rel_error

from concviz.engine.experiment import run_to_frame
from concviz.engine.limits import prepare_run
from concviz.engine.memory import ProcessTree
from concviz.engine.spec import RunSpec

SAMPLE_S = 0.05


def listen_overflows() -> int | None:
    """The kernel's count of connects dropped because a listen queue was full (machine-wide:
    TcpExt ListenOverflows in /proc/net/netstat); None where it cannot be read."""
    try:
        with open("/proc/net/netstat") as f:
            lines = [line.split() for line in f if line.startswith("TcpExt:")]
        names, values = lines[0], lines[1]
        return int(values[names.index("ListenOverflows")])
    except (OSError, IndexError, ValueError):
        return None


class PssReference(threading.Thread):
    """The outside reference: psutil's PSS of the run's tree (the experiment this process
    starts, and its descendants, but the loopback server), summed every 50 ms."""

    def __init__(self) -> None:
        super().__init__(name="pss-reference", daemon=True)
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()

    def _experiment(self):
        import psutil

        for child in psutil.Process().children():
            try:
                if "concviz.engine.experiment" in " ".join(child.cmdline()):
                    return child
            except psutil.Error:
                continue
        return None

    def run(self) -> None:
        import psutil

        root = None
        while root is None and not self.stop.is_set():
            root = self._experiment()
            time.sleep(0.001)
        while root is not None and not self.stop.is_set():
            total = 0
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                break
            for p in procs:
                try:
                    if "concviz.engine.net" not in " ".join(p.cmdline()):
                        total += p.memory_full_info().pss
                except psutil.Error:
                    pass
            if total:
                self.samples.append((time.perf_counter_ns(), total))
            self.stop.wait(SAMPLE_S)

    def per_task(self, t_start_ns: int, tasks: int) -> dict[str, float]:
        before = [b for t, b in self.samples if t <= t_start_ns]
        after = [b for t, b in self.samples if t > t_start_ns]
        baseline = before[-1] if before else (after[0] if after else 0)
        peak = max([baseline] + after)
        return {"baseline_mb": round(baseline / 2**20, 3), "peak_mb": round(peak / 2**20, 3),
                "per_task_kb": round((peak - baseline) / tasks / 1024, 3), "samples": len(self.samples)}


def real_run(spec: RunSpec, reference: bool = False) -> dict[str, Any]:
    """One run through concviz's own path; its figures (and the bench's own memory reading)."""
    spec.validate()
    check = prepare_run(spec)
    if not check.ok:
        raise RuntimeError(check.problem)
    ref = PssReference() if reference else None
    if ref is not None:
        ref.start()
    overflows0 = listen_overflows()
    try:
        frame = run_to_frame(spec)
    finally:
        if ref is not None:
            ref.stop.set()
            ref.join()
    overflows1 = listen_overflows()
    s = frame.stats
    out = {"model": spec.model, "workload": spec.workload, "tasks": spec.tasks, "requests": spec.requests,
           "latency_ms": spec.latency_ms, "wall_s": s["wall_s"], "done": s["done"], "failed": s["failed"],
           "ended": frame.ended, "concurrency_max": s["concurrency_max"], "server": s["server"],
           "net": frame.net_figures(), "first_error": next((t.error for t in frame.tasks if t.error), ""),
           "memory": {k: v for k, v in s.items() if k.startswith("mem_")},
           "listen_overflows": None if overflows0 is None or overflows1 is None else overflows1 - overflows0,
           "limits_raised": list(check.raised)}
    if ref is not None:
        out["reference"] = ref.per_task(frame.first_ns, spec.tasks)
    return out


# --- the benchmarks ------------------------------------------------------------------------------
LATENCY_CASES = {"net_latency_error": (1000, 1, 1000.0), "net_latency_error_100ms": (1000, 5, 100.0)}


def net_latency(quick: bool = False) -> dict:
    figures, notes, details = {}, {}, {}
    for figure, (connections, requests, latency_ms) in LATENCY_CASES.items():
        def measure() -> dict[str, dict]:
            return {m: real_run(RunSpec(model=m, workload="net", tasks=connections, requests=requests,
                                        latency_ms=latency_ms)) for m in ("threads", "asyncio")}

        # other helpers' load lengthens the waits (a GIL or a loop that waits for a core):
        # measured when the machine is quiet, or the quietest of a few tries
        runs, background = common.quiet(measure, tries=1 if quick else 2, max_wait_s=2 if quick else 5)
        errors = {m: rel_error(r["net"]["wait_ms_median"], latency_ms) for m, r in runs.items()}
        worst = max(errors, key=errors.get)
        figures[figure] = round(errors[worst], 4)
        notes[figure] = (
            f"{connections} connections x {requests} x {latency_ms:g} ms through run_to_frame; median wait "
            f"per request vs --latency, worst {worst}; other load {background:.2f} cores; "
            + ", ".join(f"{m} median {r['net']['wait_ms_median']:.1f} ms, concurrency {r['concurrency_max']} "
                        f"vs server max open {r['server']['max_open']}" for m, r in runs.items()))
        details[figure] = runs
    return {"figures": figures, "notes": notes, "details": {"net_latency": details}}


def net_10k(quick: bool = False) -> dict:
    runs = {m: real_run(RunSpec(model=m, workload="net-slow", tasks=10_000)) for m in ("threads", "asyncio")}
    figures = {f"net_10k_{m}_s": (round(r["wall_s"], 3) if r["done"] == 10_000 else None) for m, r in runs.items()}
    # tasks started and not ended (from the events) against connections open at once (the
    # server's count): a task is open a little longer than its connection, so equal at the peak
    diffs = {m: abs(r["concurrency_max"] - r["server"]["max_open"]) for m, r in runs.items()}
    figures["net_concurrency_vs_server_diff"] = max(diffs.values())
    notes = {f"net_10k_{m}_s": (
        f"10,000 connections x 1 x 1000 ms through run_to_frame under {m}: done {r['done']}, failed "
        f"{r['failed']}, server max open {r['server']['max_open']}, its CPU {r['server']['cpu_s']:.2f} s, "
        f"median wait {r['net']['wait_ms_median']:.0f} ms, memory per task "
        f"{r['memory']['mem_per_task_kb']:.1f} KB (peak {r['memory']['mem_peak_mb']:.0f} MB), listen overflows "
        f"{r['listen_overflows']}" + (f"; {r['first_error']}" if r["failed"] else ""))
        for m, r in runs.items()}
    notes["net_concurrency_vs_server_diff"] = ", ".join(
        f"{m}: concurrency {r['concurrency_max']}, server max open {r['server']['max_open']}" for m, r in runs.items())
    return {"figures": figures, "notes": notes, "details": {"net_10k": runs}}


MEM_CASES = (("threads", "net-slow", 2000), ("asyncio", "net-slow", 2000), ("processes", "net-slow", 64),
             ("process-pool", "net-fast", 8))


def mem_per_task(quick: bool = False) -> dict:
    runs = {m: real_run(RunSpec(model=m, workload=w, tasks=n), reference=True) for m, w, n in MEM_CASES}
    errors = {m: rel_error(r["memory"]["mem_per_task_kb"], r["reference"]["per_task_kb"]) for m, r in runs.items()}
    worst = max(errors, key=errors.get)
    return {
        "figures": {"mem_per_task_error": round(errors[worst], 4)},
        "notes": {"mem_per_task_error": (
            "concviz's memory per task (run_to_frame) vs psutil PSS of the run's tree less its server, "
            f"every 50 ms; worst {worst}; " + ", ".join(
                f"{m} {r['workload']} x {r['tasks']}: {r['memory']['mem_per_task_kb']:.1f} vs "
                f"{r['reference']['per_task_kb']:.1f} KB ({errors[m]:.1%})" for m, r in runs.items()))},
        "details": {"mem_per_task": runs},
    }


TREE = """
import os, sys, time
for _ in range(int(sys.argv[1]) - 1):
    if os.fork() == 0:
        time.sleep(120)
        os._exit(0)
print("ready", flush=True)
time.sleep(120)
"""


def _tree_cost(size: int, rounds: int, session: bool) -> dict:
    """CPU and wall of one reading of a ``size``-process tree; as a run's session (read as
    its process group at every reading) or not (found through psutil every 5 readings)."""
    root = subprocess.Popen([sys.executable, "-c", TREE, str(size)], stdout=subprocess.PIPE,
                            start_new_session=True)
    try:
        assert root.stdout.readline() == b"ready\n"
        tree = ProcessTree(root.pid)
        tree.by_group = session  # the same processes either way: the root leads their session
        times, cpu = [], []
        for _ in range(rounds):
            t0, c0 = time.perf_counter(), time.thread_time()
            reading = tree.read()
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
        assert reading.processes == size, reading
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()
        root.stdout.close()
    return {"cpu_ms_median": round(median(cpu), 3), "cpu_ms_mean": round(sum(cpu) / len(cpu), 3),
            "wall_ms_median": round(median(times), 3), "wall_ms_max": round(max(times), 3)}


def mem_sample(quick: bool = False) -> dict:
    size, rounds = 64, (20 if quick else 100)
    costs = {"group": _tree_cost(size, rounds, True), "psutil": _tree_cost(size, rounds, False)}
    group, other = costs["group"], costs["psutil"]
    return {
        "figures": {"mem_sample_cpu_ms": group["cpu_ms_mean"]},
        "notes": {"mem_sample_cpu_ms": (
            f"CPU of one reading of a {size}-process run (its process group found at every "
            f"reading, then smaps_rollup + stat per process), mean of {rounds}: "
            f"{group['cpu_ms_mean']:.2f} ms (wall median {group['wall_ms_median']:.2f} ms); every "
            f"50 ms that is {group['cpu_ms_mean'] / 50:.1%} of a core, every 100 ms "
            f"{group['cpu_ms_mean'] / 100:.1%}; a tree found through psutil every 5 readings: "
            f"{other['cpu_ms_mean']:.2f} ms mean")},
        "details": {"mem_sample": costs},
    }


BENCHMARKS = {"net_latency": net_latency, "net_10k": net_10k, "mem_per_task": mem_per_task,
              "mem_sample": mem_sample}
