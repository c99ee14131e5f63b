"""Run concviz's benchmarks and print one table (or, with --json, one JSON object).

    python tests/bench/run.py                 # everything (a few minutes on 2 cores)
    python tests/bench/run.py --only probe    # one benchmark (or a figure's name); repeatable
    python tests/bench/run.py --json          # {"probe_overhead_ratio": ..., ...}
    python tests/bench/run.py --quick         # fewer repeats: a smoke run

Each bench_*.py module here exposes ``BENCHMARKS = {name: function(quick) -> result}``, where a
result is ``{"figures": {figure: value}, "notes": {figure: text}, "details": {...}}``. The UI
benchmarks live in bench_ui.py, loaded only when ``concviz.app`` imports; until then their
figures are null with a note. Figures are measured, never asserted: a miss is printed as a miss.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402  (puts the repository first on sys.path)

# figure -> (what it is, comparison, target)
FIGURES: dict[str, tuple[str, str, float]] = {
    "probe_overhead_ratio": ("CPU work throughput, probe on / off", ">=", 0.97),
    "pipeline_events_per_s": ("events/s, 8 processes -> pipe -> Timeline, no loss", ">=", 500_000),
    "ui_fps_under_load": ("UI frames/s while the pipeline is flooded", ">=", 10),
    "ui_cpu_fraction_busy": ("UI process CPU (of one core), 10 s cpu run of 2 processes", "<=", 0.05),
    "ui_cpu_fraction_idle": ("UI process CPU (of one core), idle screen", "<=", 0.01),
    "frame_ms_median": ("one frame of 64 lanes x 120 columns, median ms", "<=", 10),
    "frame_heavy_ratio": ("engine frame, 200,000 vs 2,000 RUN intervals, same view", "<=", 1.5),
    "frame_live_growth": ("engine live frame at the 400th s / at the 10th s, 8 threads", "<=", 1.2),
    "timeline_bytes_per_run": ("Timeline memory per recorded RUN interval, bytes", "<=", 100),
    "long_ui_cpu_growth": ("UI CPU at the 60th s / at the 10th s, 8 threads, 1 ms switches", "<=", 1.2),
    "long_ui_cpu_vs_plain": ("UI CPU at the 60th s / a plain Textual screen of as many lanes", "<=", 0.6),
    "long_rss_mb_per_min": ("UI RSS growth on that run, MB a minute", "<=", 5),
    "long_rss_mb_10min": ("UI RSS after 10 minutes of that run, MB", "<=", 200),
    "startup_s": ("`concviz` to first complete screen, s", "<=", 0.5),
    "busy_vs_os_error_max": ("busy_s vs OS CPU time, worst model, rel. error", "<=", 0.10),
    "switch_interval_error_max": ("median RUN interval vs switch interval (1/5/20 ms), worst", "<=", 0.15),
    "busy_over_wall_max": ("busy / wall of 2 CPU-bound threads, worst run", "<=", 1.05),
    "spawn_latency_error_max": ("SPAWN->START vs direct start cost, worst method", "<=", 0.20),
    "trace_busy_error_max": ("trace (from /proc) busy per task vs the probe's, worst model", "<=", 0.10),
    "trace_gil_wait_error_max": ("trace GIL-wait share vs the probe's, thread models, CPU-bound", "<=", 0.15),
    "trace_sampler_cpu": ("trace sampler CPU (of one core), 200 Hz, 16 threads", "<=", 0.05),
    "mem_per_task_error": ("memory per task vs the bench's PSS of the run's tree, worst model", "<=", 0.10),
    "net_latency_error": ("median wait per request vs --latency, 1,000 connections, worse model", "<=", 0.10),
    "net_10k_threads_s": ("10,000 net-slow connections under threads: wall s (all complete)", "<=", 60),
    "net_10k_asyncio_s": ("10,000 net-slow connections under asyncio: wall s (all complete)", "<=", 60),
    "net_ui_key_s_max": ("TUI, 10,000 net-slow connections: slowest key answer, s", "<=", 0.2),
    "net_ui_rss_mb": ("TUI, 10,000 net-slow connections: UI RSS peak, MB", "<=", 200),
    "interp_parallelism": ("interpreters, cpu, newest Python: parallelism / cores", ">=", 0.85),
    "interp_busy_vs_os_error": ("interpreters: busy_s vs the OS's CPU time, rel. error", "<=", 0.10),
    "interp_start_error": ("interpreters: SPAWN->START vs direct start cost, rel. error", "<=", 0.20),
    "dask_task_error_max": ("dask: task durations vs Client.get_task_stream(), worst rel. error", "<=", 0.05),
    "dask_parallelism": ("dask, cpu, LocalCluster 2 workers x 1 thread: parallelism", ">=", 1.4),
    "dask_gil_parallelism": ("dask, cpu, LocalCluster 1 worker x 2 threads: parallelism", "<=", 1.1),
    "dask_worker_lane_ratio": ("dask cores pane: a worker lane's frame cost / a core lane's", "<=", 2.0),
    "dask_clock_error_ms": ("dask: a worker on another clock, mapped instant vs true, worst ms", "<=", 5.0),
}
UI_FIGURES = ("ui_fps_under_load", "ui_cpu_fraction_busy", "ui_cpu_fraction_idle", "startup_s",
              "long_ui_cpu_growth", "long_ui_cpu_vs_plain", "long_rss_mb_per_min", "long_rss_mb_10min",
              "net_ui_key_s_max", "net_ui_rss_mb")
ENGINE_MODULES = ("bench_probe", "bench_pipeline", "bench_frame", "bench_fidelity", "bench_net", "bench_trace",
                  "bench_interp", "bench_dask")


def load_benchmarks() -> tuple[dict[str, Callable[[bool], dict]], str | None]:
    """Every benchmark by name, and why the UI ones are missing (None if they are there)."""
    found: dict[str, Callable[[bool], dict]] = {}
    for name in ENGINE_MODULES:
        found.update(importlib.import_module(name).BENCHMARKS)
    ui_missing = None
    try:
        has_app = importlib.util.find_spec("concviz.app") is not None
    except (ImportError, ValueError):
        has_app = False
    if not has_app:
        ui_missing = "needs concviz.app"
    elif not (HERE / "bench_ui.py").exists():
        ui_missing = "needs tests/bench/bench_ui.py (concviz.app exists; UI benchmarks not written yet)"
    else:
        try:
            found.update(importlib.import_module("bench_ui").BENCHMARKS)
            found.update(importlib.import_module("bench_long").BENCHMARKS)
        except Exception as exc:  # noqa: BLE001 - report, run the rest
            ui_missing = f"bench_ui failed to import: {type(exc).__name__}: {exc}"
    return found, ui_missing


def select(benchmarks: dict[str, Callable], only: list[str]) -> dict[str, Callable]:
    """``--only`` takes benchmark names or figure names (a figure selects its benchmark)."""
    if not only:
        return benchmarks
    owners = {"probe_overhead_ratio": "probe", "pipeline_events_per_s": "pipeline",
              "frame_ms_median": "frame", "busy_vs_os_error_max": "busy",
              "frame_heavy_ratio": "frame_heavy", "timeline_bytes_per_run": "timeline_memory",
              "frame_live_growth": "frame_live",
              "long_ui_cpu_growth": "long", "long_ui_cpu_vs_plain": "long", "long_rss_mb_per_min": "long",
              "long_rss_mb_10min": "long",
              "switch_interval_error_max": "switch", "busy_over_wall_max": "switch",
              "spawn_latency_error_max": "spawn", "ui_fps_under_load": "ui_load",
              "ui_cpu_fraction_busy": "ui_cpu", "ui_cpu_fraction_idle": "ui_cpu",
              "startup_s": "startup", "trace_busy_error_max": "trace_truth",
              "trace_gil_wait_error_max": "trace_truth", "trace_sampler_cpu": "trace_cost",
              "mem_per_task_error": "mem_per_task",
              "net_latency_error": "net_latency", "net_10k_threads_s": "net_10k", "net_10k_asyncio_s": "net_10k",
              "net_ui_key_s_max": "ui_net_scale", "net_ui_rss_mb": "ui_net_scale",
              "interp_parallelism": "interp_parallel", "interp_busy_vs_os_error": "interp_parallel",
              "interp_start_error": "interp_start", "dask_task_error_max": "dask_task_error",
              "dask_parallelism": "dask_parallel", "dask_gil_parallelism": "dask_parallel",
              "dask_worker_lane_ratio": "dask_worker_lanes", "dask_clock_error_ms": "dask_clock"}
    chosen = {}
    for name in only:
        for part in name.split(","):
            key = owners.get(part, part)
            if key not in benchmarks:
                raise SystemExit(f"run.py: unknown benchmark {part!r} (choose from: {', '.join(benchmarks)})")
            chosen[key] = benchmarks[key]
    return chosen


def verdict(figure: str, value: Any) -> str:
    if value is None or figure not in FIGURES:
        return "-"
    _, op, target = FIGURES[figure]
    ok = value >= target if op == ">=" else value <= target
    return "pass" if ok else "MISS"


def fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3f}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this benchmark or figure (repeatable, or comma-separated)")
    ap.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run)")
    args = ap.parse_args(argv)

    benchmarks, ui_missing = load_benchmarks()
    chosen = select(benchmarks, args.only)
    figures: dict[str, Any] = {}
    notes: dict[str, str] = {}
    details: dict[str, Any] = {}
    started = time.perf_counter()
    load0 = common.load_average()
    for name, fn in chosen.items():
        if not args.json:
            print(f"... {name}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            result = fn(args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others
            notes[name] = f"benchmark failed: {type(exc).__name__}: {exc}"
            details[name] = traceback.format_exc()
            continue
        figures.update(result.get("figures", {}))
        notes.update(result.get("notes", {}))
        details.update(result.get("details", {}))
        details.setdefault("seconds", {})[name] = round(time.perf_counter() - t0, 1)
    if ui_missing:
        for key in UI_FIGURES:
            figures.setdefault(key, None)
            notes.setdefault(key, ui_missing)
    # every named figure is present in the output, measured or not
    ran = {k for k in figures}
    for key in FIGURES:
        if key not in ran:
            figures[key] = None
            notes.setdefault(key, "not run" if args.only else "not measured")
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(),
               "implementation": platform.python_implementation(), "platform": sys.platform,
               "load_average_start": load0, "load_average_end": common.load_average(),
               "seconds": round(time.perf_counter() - started, 1), "quick": args.quick}
    if args.json:
        out = {k: figures[k] for k in FIGURES}
        out.update({k: v for k, v in figures.items() if k not in FIGURES})
        out["targets"] = {k: f"{op} {t:g}" for k, (_, op, t) in FIGURES.items()}
        out["verdicts"] = {k: verdict(k, figures[k]) for k in FIGURES}
        out["notes"] = notes
        out["machine"] = machine
        out["details"] = details
        print(json.dumps(out, indent=2, default=str))
        return 0
    print_table(figures, notes, machine)
    return 0


def print_table(figures: dict[str, Any], notes: dict[str, str], machine: dict[str, Any]) -> None:
    print(f"concviz benchmarks: Python {machine['python']} ({machine['implementation']}), "
          f"{machine['cpus']} CPUs, load average {machine['load_average_start']:.2f} -> "
          f"{machine['load_average_end']:.2f}, {machine['seconds']:.0f} s"
          + (" (quick)" if machine["quick"] else ""))
    print()
    rows = [("figure", "target", "measured", "")]
    for key, (_, op, target) in FIGURES.items():
        rows.append((key, f"{op} {target:,g}", fmt(figures.get(key)), verdict(key, figures.get(key))))
    for key, value in figures.items():
        if key not in FIGURES:
            rows.append((key, "", fmt(value), ""))
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print(f"  {r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:>{w[2]}}  {r[3]}".rstrip())
    print()
    for key in list(FIGURES) + [k for k in figures if k not in FIGURES]:
        if key in notes:
            print(f"  {key}: {notes[key]}")
    for key, text in notes.items():
        if key not in FIGURES and key not in figures:
            print(f"  {key}: {text}")


if __name__ == "__main__":
    sys.exit(main())
