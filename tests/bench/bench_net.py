"""Net workloads and memory (issue 12), measured with concviz's pieces alone (no UI, no models).

Every case runs ``net_child.py`` (plain threads, forked processes or asyncio tasks running
concviz's net bodies through a real Recorder and Sink, the pipe drained here) against a
:class:`LoopbackServer` started here, and samples the child from here with
:class:`MemorySampler`.

* net_latency: the median wait per request the tasks recorded (SLEEP) vs the server's latency,
  1,000 connections under threads and under asyncio; the figure is the worse of the two.
  The concurrency the events show (started, not ended) is set against the server's count of
  connections open at once.
* net_10k: 10,000 connections x 1 request x 1 s under threads and under asyncio: wall time from
  the first task's start to the last one's end (the server's 1 s is in it); and the largest
  difference between the concurrency the events show and the server's connections open at once.
* mem_per_task: memory per task by MemorySampler vs a reference taken here by other code:
  every 50 ms, psutil's ``memory_full_info().uss`` summed over the child and every descendant
  psutil finds, with the same baseline rule (last reading before the first task). Worst model.
* mem_sample: the CPU cost of one reading of a 64-process tree (the largest processes run), read
  as a run's process group (how the experiment is read) and found through psutil.
* net_presets: the presets net-fast (also under processes) and net-slow under threads and
  asyncio: wall time and memory per task, so that the numbers chosen rest on a measurement.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import common
from common import median, rel_error

from concviz.engine.events import ERROR, FINISH, SLEEP, START
from concviz.engine.limits import prepare
from concviz.engine.memory import ProcessTree
from concviz.engine.memory_sampler import MemoryFigures, MemorySampler
from concviz.engine.net import HOST, LoopbackServer, ServerStats
from concviz.engine.netload import request_waits

NET_CHILD = common.HERE / "net_child.py"
SAMPLE_S = 0.05
CHILD_TIMEOUT_S = 120


@dataclass
class ChildRun:
    """One run of net_child.py and everything measured around it."""

    model: str
    connections: int
    requests: int
    latency_ms: float
    wall_s: float
    done: int
    failed: int
    first_error: str
    waits_ms: list[float]
    connects_ms: list[float]
    concurrency_max: int
    server: ServerStats | None
    memory: MemoryFigures | None
    reference: dict | None = None
    details: dict = field(default_factory=dict)

    def summary(self) -> dict:
        waits = sorted(self.waits_ms)
        out = {"model": self.model, "connections": self.connections, "requests": self.requests,
               "latency_ms": self.latency_ms, "wall_s": self.wall_s, "done": self.done,
               "failed": self.failed, "first_error": self.first_error,
               "wait_median_ms": round(median(waits), 3) if waits else None,
               "wait_p90_ms": round(waits[int(0.9 * (len(waits) - 1))], 3) if waits else None,
               "wait_max_ms": round(waits[-1], 3) if waits else None,
               "connect_median_ms": round(median(self.connects_ms), 3) if self.connects_ms else None,
               "connect_max_ms": round(max(self.connects_ms), 3) if self.connects_ms else None,
               "concurrency_max": self.concurrency_max,
               "server": None if self.server is None else self.server.__dict__}
        if self.memory is not None:
            out["memory"] = self.memory.to_dict()
        if self.reference is not None:
            out["reference"] = self.reference
        out.update(self.details)
        return out


class Drain(threading.Thread):
    """Reads the child's event batches off the pipe; keeps what the figures need."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="net-drain", daemon=True)
        self.conn = Connection(fd, writable=False)
        self.events: list[tuple] = []

    def run(self) -> None:
        keep = (SLEEP, START, FINISH, ERROR)
        while True:
            try:
                tag, payload = pickle.loads(self.conn.recv_bytes())
            except (EOFError, OSError):
                break
            if tag == "E":
                self.events.extend(e for e in payload if e[0] in keep)
        self.conn.close()


class UssReference(threading.Thread):
    """The outside reference: psutil's USS of the child's tree, summed every 50 ms."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(name="uss-reference", daemon=True)
        self.root_pid = root_pid
        self.samples: list[tuple[int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stop.is_set():
            total = 0
            try:
                root = psutil.Process(self.root_pid)
                procs = [root] + root.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    total += p.memory_full_info().uss
                except psutil.Error:
                    pass
            if total:
                self.samples.append((time.perf_counter_ns(), total))
            self.stop.wait(SAMPLE_S)

    def figures(self, t_start_ns: int, tasks: int) -> dict:
        before = [b for t, b in self.samples if t <= t_start_ns]
        after = [b for t, b in self.samples if t > t_start_ns]
        baseline = before[-1] if before else (after[0] if after else 0)
        peak = max([baseline] + after)
        return {"baseline_mb": round(baseline / 2**20, 3), "peak_mb": round(peak / 2**20, 3),
                "per_task_kb": round((peak - baseline) / tasks / 1024, 3), "samples": len(self.samples),
                "per_task_bytes": (peak - baseline) / tasks}


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


def concurrency_max(events: list[tuple]) -> int:
    """Most tasks started and not yet ended at once, from START and FINISH/ERROR."""
    edges = sorted((e[4], 1 if e[0] == START else -1) for e in events if e[0] in (START, FINISH, ERROR))
    now = top = 0
    for _, step in edges:
        now += step
        top = max(top, now)
    return top


def _read_json(child: subprocess.Popen, timeout_s: float) -> dict:
    ready, _, _ = select.select([child.stdout], [], [], timeout_s)
    line = child.stdout.readline() if ready else ""
    if not line:
        raise RuntimeError(f"net_child.py said nothing within {timeout_s:g} s (exit {child.poll()})")
    return json.loads(line)


def run_child(model: str, connections: int, requests: int, latency_ms: float,
              reference: bool = False) -> ChildRun:
    """One net_child.py run against a fresh server, measured from here."""
    check = prepare(model, connections)
    if not check.ok:
        raise RuntimeError(check.problem)
    overflows0 = listen_overflows()
    with LoopbackServer() as srv:
        port = srv.start(latency_ms)
        r, w = os.pipe()
        child = subprocess.Popen([sys.executable, str(NET_CHILD), model, HOST, str(port),
                                  str(connections), str(requests), str(w)],
                                 pass_fds=(w,), stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)  # a run is a process group, as the experiment's
        os.close(w)
        drain = Drain(r)
        drain.start()
        sampler = MemorySampler(child.pid, interval_s=SAMPLE_S, exclude=[srv.pid])
        sampler.start()
        ref = UssReference(child.pid) if reference else None
        if ref is not None:
            ref.start()
        try:
            start = _read_json(child, 30)
            sampler.mark_start(start["t_start_ns"])
            end = _read_json(child, CHILD_TIMEOUT_S)
            child.wait(30)
        finally:
            sampler.stop()
            if ref is not None:
                ref.stop.set()
                ref.join()
            try:
                os.killpg(child.pid, signal.SIGKILL)  # whatever of the run is left
            except ProcessLookupError:
                pass
            child.wait()
            child.stdout.close()
            drain.join(30)
        stats = srv.stats()
    overflows1 = listen_overflows()
    waits = request_waits(drain.events)
    first_sleep: dict[int, int] = {}
    for e in drain.events:
        if e[0] == SLEEP and e[1] not in first_sleep:
            first_sleep[e[1]] = e[5] - e[4]
    return ChildRun(model, connections, requests, latency_ms, end["wall_s"], end["done"], end["failed"],
                    end["first_error"], [w / 1e6 for ws in waits.values() for w in ws],
                    [c / 1e6 for c in first_sleep.values()], concurrency_max(drain.events), stats,
                    sampler.figures(connections),
                    ref.figures(start["t_start_ns"], connections) if ref is not None else None,
                    {"listen_overflows": None if overflows0 is None or overflows1 is None
                     else overflows1 - overflows0, "limits_raised": list(check.raised)})


# --- the benchmarks ------------------------------------------------------------------------------
LATENCY_CASES = {"net_latency_error": (1000, 1, 1000), "net_latency_error_100ms": (1000, 5, 100)}


def net_latency(quick: bool = False) -> dict:
    figures, notes, details = {}, {}, {}
    for figure, (connections, requests, latency_ms) in LATENCY_CASES.items():
        def measure() -> dict[str, ChildRun]:
            return {m: run_child(m, connections, requests, latency_ms) for m in ("threads", "asyncio")}

        # other helpers' load lengthens the waits (a GIL or a loop that waits for a core):
        # measured when the machine is quiet, or the quietest of a few tries
        runs, background = common.quiet(measure, tries=1 if quick else 2, max_wait_s=2 if quick else 5)
        errors = {m: rel_error(median(r.waits_ms), latency_ms) for m, r in runs.items()}
        worst = max(errors, key=errors.get)
        figures[figure] = round(errors[worst], 4)
        notes[figure] = (
            f"{connections} connections x {requests} requests x {latency_ms} ms; median wait per "
            f"request vs latency, worst {worst}; other load {background:.2f} cores; "
            + ", ".join(f"{m} median {median(r.waits_ms):.1f} ms (p90 {r.summary()['wait_p90_ms']:.1f}), "
                        f"concurrency {r.concurrency_max} vs server max open "
                        f"{r.server.max_open if r.server else '?'}" for m, r in runs.items()))
        details[figure] = {m: r.summary() for m, r in runs.items()}
    return {"figures": figures, "notes": notes, "details": {"net_latency": details}}


def net_10k(quick: bool = False) -> dict:
    connections, latency_ms = 10_000, 1000
    runs = {m: run_child(m, connections, 1, latency_ms) for m in ("threads", "asyncio")}
    figures = {f"net_10k_{m}_s": (r.wall_s if r.done == connections else None) for m, r in runs.items()}
    # tasks started and not ended (from the events) against connections open at once (the
    # server's count): a task is open a little longer than its connection, so equal at the peak
    diffs = {m: abs(r.concurrency_max - r.server.max_open) for m, r in runs.items() if r.server}
    figures["net_concurrency_vs_server_diff"] = max(diffs.values()) if diffs else None
    notes = {f"net_10k_{m}_s": (
        f"{connections} connections x 1 request x {latency_ms} ms under {m}: done {r.done}, failed "
        f"{r.failed}, server max open {r.server.max_open if r.server else '?'}, connect median "
        f"{r.summary()['connect_median_ms']:.0f} ms (max {r.summary()['connect_max_ms']:.0f}), "
        f"listen overflows {r.details['listen_overflows']}, memory per task "
        f"{r.memory.per_task_bytes / 1024:.1f} KB" + (f"; {r.first_error}" if r.failed else ""))
        for m, r in runs.items()}
    notes["net_concurrency_vs_server_diff"] = ", ".join(
        f"{m}: concurrency {r.concurrency_max}, server max open {r.server.max_open if r.server else '?'}"
        for m, r in runs.items())
    return {"figures": figures, "notes": notes, "details": {"net_10k": {m: r.summary() for m, r in runs.items()}}}


def mem_per_task(quick: bool = False) -> dict:
    cases = (("threads", 2000), ("asyncio", 2000), ("processes", 64))
    runs = {m: run_child(m, n, 1, 1000, reference=True) for m, n in cases}
    errors = {m: rel_error(r.memory.per_task_bytes, r.reference["per_task_bytes"]) for m, r in runs.items()}
    worst = max(errors, key=errors.get)
    return {
        "figures": {"mem_per_task_error": round(errors[worst], 4)},
        "notes": {"mem_per_task_error": (
            "MemorySampler vs psutil USS of the tree every 50 ms, 1 request x 1 s; worst "
            f"{worst}; " + ", ".join(
                f"{m} ({r.connections}) {r.memory.per_task_bytes / 1024:.1f} vs "
                f"{r.reference['per_task_kb']:.1f} KB ({errors[m]:.1%})" for m, r in runs.items()))},
        "details": {"mem_per_task": {m: r.summary() for m, r in runs.items()}},
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


# The presets chosen: (connections, requests, latency_ms). net-fast runs ~0.6 s (long enough
# to watch, short enough for several rounds), net-slow holds 2,000 connections at once (threads
# start fast enough that all of them overlap, so memory per task is per connection held).
NET_FAST = (8, 200, 2)
NET_SLOW = (2000, 1, 1000)
PRESET_MODELS = {"fast": ("threads", "processes", "asyncio"), "slow": ("threads", "asyncio")}


def net_presets(quick: bool = False) -> dict:
    rounds = 1 if quick else 3
    rows: dict[str, dict[str, list[ChildRun]]] = {}
    for name, (n, requests, latency) in (("fast", NET_FAST), ("slow", NET_SLOW)):
        models = PRESET_MODELS[name]
        rows[name] = {m: [] for m in models}
        for i in range(rounds):  # interleaved, the order turned each round
            for m in (models if i % 2 == 0 else models[::-1]):
                rows[name][m].append(run_child(m, n, requests, latency))
    figures, notes = {}, {}
    for name, by_model in rows.items():
        for m, runs in by_model.items():
            key = f"net_{name}_{m}_s"
            figures[key] = round(median([r.wall_s for r in runs]), 4)
            kb = median([r.memory.per_task_bytes / 1024 for r in runs])
            notes[key] = (f"{runs[0].connections} x {runs[0].requests} x {runs[0].latency_ms:g} ms, median of "
                          f"{len(runs)}: walls {', '.join(f'{r.wall_s:.3f}' for r in runs)} s; "
                          f"memory per task {kb:.1f} KB; failed {sum(r.failed for r in runs)}")
    slow = rows["slow"]
    ratio = median([r.memory.per_task_bytes for r in slow["threads"]]) / \
        median([r.memory.per_task_bytes for r in slow["asyncio"]])
    figures["net_slow_mem_ratio"] = round(ratio, 3)
    notes["net_slow_mem_ratio"] = "net-slow: memory per task (USS) of threads over asyncio"
    return {"figures": figures, "notes": notes,
            "details": {"net_presets": {name: {m: [r.summary() for r in runs] for m, runs in by.items()}
                                        for name, by in rows.items()}}}


BENCHMARKS = {"net_latency": net_latency, "net_10k": net_10k, "mem_per_task": mem_per_task,
              "mem_sample": mem_sample, "net_presets": net_presets}
