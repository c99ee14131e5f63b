"""The dask model (issue 17) against Dask's own records, each beside a reference in the same run.

* dask_task_error_max: every task's duration as concviz shows it (START to FINISH, from the
  probe inside the task) vs Dask's own record of the same task (``Client.get_task_stream``:
  the worker's compute start and stop), worst relative error over the tasks. The run goes to a
  LocalCluster the benchmark starts itself, through ``--scheduler`` (so the task stream is read
  from a client of the same cluster).
* dask_parallelism: CPU-bound tasks on a LocalCluster of 2 single-threaded worker processes:
  parallelism (busy / wall), beside ProcessPoolExecutor's 2 workers on the same work in the same
  rounds. And dask_gil_parallelism: the same work on 1 worker process with 2 threads, which
  share its GIL.

* dask_worker_lane_ratio: the cores pane of a cluster run, engine half: one frame's worker
  lanes (one per worker and CPU) over a whole 200,000-interval synthetic run (4 workers, 2
  CPUs, 120 columns), per lane, over one frame's core lanes of the same run, per lane, in
  interleaved rounds in this process; and the one-off cost of building the worker lanes' index
  from nothing (opening a long recorded run).

* dask_clock_error_ms: a worker whose monotonic clock is another one (started in a Linux time
  namespace, ``unshare --time``, its clock exactly SHIFT_S ahead): its instants mapped onto the
  experiment's clock as a run maps them (its wall clock + Dask's scheduler_delay, then the
  offset measured to the scheduler) against the truth (its reading - SHIFT_S): the worst error
  over 20 instants, beside the uncertainty the figures show.

Runs are taken when other processes leave the machine quiet (common.quiet); figures are medians.
"""

from __future__ import annotations

import os
import time

import common
from common import median, rel_error, run

from concviz.engine.spec import RunSpec, unavailable

QUICK = False
CPU_SCALE = 1.0  # ~0.5 s of work per task: Dask's per-task overhead (ms) is a small part of it


def quiet(measure):
    """common.quiet, patient in a full run, brief in a quick one."""
    return common.quiet(measure, tries=1, max_wait_s=1.0) if QUICK else common.quiet(measure)


def _needs_dask() -> None:
    why = unavailable("dask")
    if why:
        raise RuntimeError(why)


def task_error(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    _needs_dask()
    import logging

    from distributed import Client, LocalCluster

    from concviz.engine.models.dask_model import task_of_key

    tasks = 4 if quick else 8
    scale = 0.5 if quick else CPU_SCALE
    repeats = 1 if quick else 3
    errors, rows = [], []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.get_task_stream()  # the first call starts the scheduler's record of tasks
        for _ in range(repeats):
            spec = RunSpec(model="dask", workload="cpu", tasks=tasks, scale=scale,
                           scheduler=cluster.scheduler_address)
            def measure():
                # Dask's records of this very run: quiet() may run it more than once
                since = time.time()
                return run(spec), client.get_task_stream(start=since)

            (r, stream), background = quiet(measure)
            theirs = {}
            for rec in stream:
                task = task_of_key(rec.get("key"))
                for ss in rec.get("startstops", ()):
                    if task is not None and ss.get("action") == "compute":
                        theirs[task] = ss["stop"] - ss["start"]
            ours = {t.id: (t.end_ns - t.start_ns) / 1e9 for t in r.frame.tasks if t.end_ns and t.start_ns}
            worst = max(rel_error(ours[t], theirs[t]) for t in range(tasks))
            errors.append(worst)
            rows.append({"worst": round(worst, 4), "ours_s": [round(ours[t], 4) for t in range(tasks)],
                         "dask_s": [round(theirs[t], 4) for t in range(tasks)], "status": r.status,
                         "background_cores": round(background, 3)})
    return {
        "figures": {"dask_task_error_max": median(errors)},
        "notes": {"dask_task_error_max": (
            f"{tasks} cpu tasks (scale {scale:g}) on a LocalCluster of 2 x 1 thread, median of {repeats} runs of "
            f"the worst task: {median(errors):.2%}; durations {min(rows[-1]['dask_s']):.3f}-"
            f"{max(rows[-1]['dask_s']):.3f} s by Dask's task stream; other processes used "
            f"{median([x['background_cores'] for x in rows]):.2f} cores (median; this counts the benchmark's own "
            "cluster's workers, which are not the run's children)")},
        "details": {"dask_task_error": rows},
    }


def parallel(quick: bool = False) -> dict:
    global QUICK
    QUICK = quick
    _needs_dask()
    cpus = os.cpu_count() or 1
    tasks = 4 if quick else 8
    scale = 0.5 if quick else CPU_SCALE
    repeats = 1 if quick else 3
    # the reference: ProcessPoolExecutor's 2 workers on the same work, in the same rounds (what the
    # machine let 2 processes reach meanwhile)
    shapes = {"2x1": dict(model="dask", workers=2, threads_per_worker=1),
              "1x2": dict(model="dask", workers=1, threads_per_worker=2),
              "process-pool": dict(model="process-pool", workers=2)}
    rows: dict[str, list[dict]] = {shape: [] for shape in shapes}
    for i in range(repeats):
        for shape in (list(shapes) if i % 2 == 0 else list(reversed(shapes))):
            spec = RunSpec(workload="cpu", tasks=tasks, scale=scale, **shapes[shape])
            r, background = quiet(lambda: run(spec))
            s = r.stats
            rows[shape].append({"parallelism": round(s["parallelism"], 3), "wall_s": round(s["wall_s"], 4),
                                "busy_s": round(s["busy_s"], 4),
                                "start_s": round(s["cluster"]["start_s"], 3) if s["cluster"] else None,
                                "done": s["done"], "status": r.status, "background_cores": round(background, 3)})
    par = {shape: median([x["parallelism"] for x in v]) for shape, v in rows.items()}
    start = median([x["start_s"] for v in rows.values() for x in v if x["start_s"] is not None])
    return {
        "figures": {"dask_parallelism": par["2x1"], "dask_gil_parallelism": par["1x2"]},
        "notes": {
            "dask_parallelism": (
                f"{tasks} cpu tasks (scale {scale:g}) on {cpus} cores, median of {repeats}: 2 workers x 1 thread "
                f"{par['2x1']:.2f}; 1 worker x 2 threads {par['1x2']:.2f} (one GIL); process-pool x 2 on the same "
                f"work {par['process-pool']:.2f}; the LocalCluster's start-up "
                f"{start:.2f} s (median, outside the wall); other processes used "
                f"{median([x['background_cores'] for v in rows.values() for x in v]):.2f} cores (median)"),
            "dask_gil_parallelism": "the same rounds: 1 worker process x 2 threads share its GIL",
        },
        "details": {"dask_parallel": rows},
    }


def synthetic_cluster(intervals: int = 200_000, workers: int = 4, tasks: int = 64):
    """A finished cluster run's frame: ``tasks`` tasks, each on worker ``task % workers``, one
    after another on each worker, RUN intervals of 1 ms on CPU 0 or 1 at random."""
    import random

    from concviz.engine.events import FINISH, RUN, SPAWN, START
    from concviz.engine.timeline import Timeline

    header = {"model": "dask", "workload": "cpu", "spec": {"tasks": tasks}, "machine": {"cpus": 2, "gil": True},
              "cluster": {"local": True, "workers": workers}}
    timeline = Timeline(header)
    rnd = random.Random(0)
    per = intervals // tasks
    events = []
    clock = {w: 10**9 for w in range(workers)}
    for k in range(tasks):
        w = k % workers
        pid, a = 1000 + w, clock[w]
        events += [(SPAWN, k, 1, 1, a, a, -1, None), (START, k, pid, 1, a, a, 0, f"w{w}@h")]
        for _ in range(per):
            events.append((RUN, k, pid, 1, a, a + 1_000_000, rnd.randrange(2), None))
            a += 1_100_000
        events.append((FINISH, k, pid, 1, a, a, 0, None))
        clock[w] = a
    timeline.feed(events)
    timeline.end("ok")
    return timeline.snapshot()


def worker_lanes(quick: bool = False) -> dict:
    from concviz.engine.worker_cores import WorkerLanes, worker_core_cells

    frame = synthetic_cluster(50_000 if quick else 200_000)
    t0, t1 = frame.first_ns, frame.t_end
    width = 120
    build_s, ratios, ms = [], [], {"worker": [], "core": []}
    for _ in range(3 if quick else 7):
        a = time.perf_counter()
        lanes = WorkerLanes()
        groups = lanes.groups(frame, frame.header)
        b = time.perf_counter()
        pairs = [(g.pid, cpu) for g in groups for cpu in g.cpus]
        frame._cache.clear()
        c = time.perf_counter()
        for cpu in frame.cores:
            frame.core_cells(cpu, t0, t1, width)
        d = time.perf_counter()
        for pid, cpu in pairs:
            worker_core_cells(frame, lanes, pid, cpu, t0, t1, width)
        e = time.perf_counter()
        core_ms, worker_ms = (d - c) * 1e3 / len(frame.cores), (e - d) * 1e3 / len(pairs)
        build_s.append(b - a)
        ms["core"].append(core_ms)
        ms["worker"].append(worker_ms)
        ratios.append(worker_ms / core_ms)
    runs = sum(t.n_runs for t in frame.tasks)
    return {
        "figures": {"dask_worker_lane_ratio": median(ratios)},
        "notes": {"dask_worker_lane_ratio": (
            f"{runs:,} RUN intervals, 4 workers x 2 CPUs, {width} columns, whole run: a worker lane "
            f"{median(ms['worker']):.2f} ms vs a core lane {median(ms['core']):.2f} ms (median of {len(ratios)}, "
            f"same frame, this process); the worker lanes' index built from nothing in "
            f"{median(build_s):.2f} s (once per run opened; a live run adds to it frame by frame)")},
        "details": {"dask_worker_lanes": {"ms": ms, "build_s": build_s}},
    }


SHIFT_S = 1000


def clock(quick: bool = False) -> dict:
    _needs_dask()
    import logging
    import signal
    import subprocess
    import sys
    import tempfile

    from distributed import Client, LocalCluster

    from concviz.engine.models.dask_clock import measure_offset

    samples = 10 if quick else 20

    def mapped_on_worker(dask_worker):
        # on the worker (a nested function travels by value: the worker cannot import this
        # module): a perf_counter reading, and the same instant on the scheduler's clock as the
        # worker sends it
        import time

        from concviz.engine.models.dask_clock import to_scheduler_ns

        t = time.perf_counter_ns()
        return (t, to_scheduler_ns(t, time.time_ns() - time.perf_counter_ns(), dask_worker.scheduler_delay),
                dask_worker.latency / 2 * 1e9)

    with LocalCluster(n_workers=0, processes=True, dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client, tempfile.TemporaryDirectory() as tmp:
        worker = subprocess.Popen(
            ["unshare", "--user", "--map-root-user", "--time", f"--monotonic={SHIFT_S}", sys.executable, "-m",
             "distributed.cli.dask_worker", cluster.scheduler_address, "--nthreads", "1", "--no-nanny",
             "--no-dashboard", "--local-directory", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            client.wait_for_workers(1, timeout=60)
            time.sleep(2)  # a few heartbeats: Dask's offset is renewed at each
            errors, shown = [], []
            for _ in range(samples):
                offset = measure_offset(lambda: client.run_on_scheduler(time.time))
                ((t, on_scheduler, worker_ns),) = client.run(mapped_on_worker).values()
                errors.append(((on_scheduler - offset.ns) - (t - SHIFT_S * 10**9)) / 1e6)
                shown.append((offset.uncertainty_ns + worker_ns) / 1e6)  # as dask_model.prepare puts it
                time.sleep(0.2)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    worst = max(map(abs, errors))
    return {
        "figures": {"dask_clock_error_ms": worst},
        "notes": {"dask_clock_error_ms": (
            f"a worker in a time namespace (monotonic +{SHIFT_S} s), {samples} instants mapped vs true: "
            f"median {median(errors):+.3f} ms, {min(errors):+.3f} to {max(errors):+.3f} ms; the uncertainty shown "
            f"(ours to the scheduler + half the worker's heartbeat round trip) median {median(shown):.3f} ms, "
            f"{min(shown):.3f} to {max(shown):.3f} ms; errors beyond it: "
            f"{sum(abs(e) > u for e, u in zip(errors, shown))} of {samples}")},
        "details": {"dask_clock": {"errors_ms": errors, "shown_ms": shown}},
    }


BENCHMARKS = {"dask_task_error": task_error, "dask_parallel": parallel, "dask_worker_lanes": worker_lanes,
              "dask_clock": clock}
