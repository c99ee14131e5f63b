"""Plain-text reports for the headless commands (run, compare)."""

from __future__ import annotations

import json
from typing import Any

from concviz.engine.frame import Frame
from concviz.engine.spec import RunSpec


def caption(frame: Frame) -> str:
    """One sentence, from the measured numbers, saying what the run shows."""
    s = frame.stats
    n = s["tasks"]
    p = s["parallelism"]
    kind = {"cpu": "CPU-bound", "io": "I/O-bound", "mixed": "mixed"}.get(frame.workload, frame.workload)
    what = {"sequential": "tasks in sequence", "threads": "threads", "thread-pool": "pooled threads",
            "processes": "processes", "pool": "pool tasks", "process-pool": "pool tasks",
            "asyncio": "asyncio tasks"}.get(frame.model, "tasks")
    head = f"{n} {what}, {kind}: parallelism {p:.2f}, concurrency up to {s['concurrency_max']}"
    if s["failed"] > s["stopped"]:
        head += f", {s['failed'] - s['stopped']} failed"
    if s["stopped"]:
        head += f", {s['stopped']} stopped"
    if frame.workload == "io" or (frame.workload == "mixed" and p < 0.5):
        if s["concurrency_max"] > 1:
            return head + ". The waits overlapped: concurrency without needing parallelism."
        return head + ". One wait after another: nothing overlapped."
    if frame.thread_pids and frame.gil and p < 1.2:
        return head + f". Only one thread ran at a time: the GIL ({s['gil_switches']} hand-offs)."
    if p >= 1.4:
        return head + ". Tasks ran at the same instant on different cores: true parallelism."
    if frame.model == "asyncio":
        return head + ". One event loop, one thread: CPU work runs one task at a time."
    return head + "."


def gil_label(machine: dict[str, Any]) -> str:
    """'GIL on', or 'GIL off (free-threaded build)' where the run had no GIL."""
    free = machine.get("free_threaded_build")
    if machine.get("gil", True):
        return "GIL on (free-threaded build, GIL re-enabled)" if free else "GIL on"
    return "GIL off (free-threaded build)" if free else "GIL off"


def end_line(frame: Frame) -> str | None:
    """Why the run ended, when it did not simply finish ('timeout', 'cancelled', ...)."""
    if frame.ended in (None, "ok"):
        return None
    if frame.ended == "timeout":
        limit = (frame.header.get("spec") or {}).get("timeout_s")
        why = f"stopped at its time limit ({limit:g} s, --timeout)" if limit else "stopped at its time limit"
        return f"  run ended:    timeout: {why}; tasks still running are marked failed"
    return f"  run ended:    {frame.ended} {frame.end_message}".rstrip()


def format_run(frame: Frame) -> str:
    s = frame.stats
    m = frame.machine
    lines = [
        f"concviz run: {frame.model} / {frame.workload} / {s['tasks']} tasks   "
        f"(Python {m.get('python')}, {gil_label(m)}, {frame.cpu_count} CPUs, "
        f"start method {m.get('start_method')}, switch interval {m.get('switch_interval_ms', 0):g} ms)",
        "",
        f"  wall          {s['wall_s']:8.3f} s   (first spawn to last finish)",
        f"  busy (CPU)    {s['busy_s']:8.3f} s   (sum of measured running time)",
        f"  parallelism   {s['parallelism']:8.2f}     (busy / wall: cores' worth of work at once)",
        f"  concurrency   {s['concurrency_max']:8d}     max tasks in flight (mean {s['concurrency_mean']:.2f})",
        f"  GIL switches  {s['gil_switches']:8d}     (median run slice {s['run_interval_ms_median']:.2f} ms)",
        f"  spawn latency {s['spawn_ms_median']:8.2f} ms  median (max {s['spawn_ms_max']:.2f} ms)",
        f"  tasks         {s['done']} done, {s['failed']} failed"
        + (f" ({s['stopped']} of them stopped by the cancel)" if s["stopped"] else "")
        + (" (the run itself completed; the failures are listed below)"
           if s["failed"] and frame.ended == "ok" else ""),
    ]
    ended = end_line(frame)
    if ended:
        lines.append(ended)
    lines.append("")
    lines.append("  task  worker                 start     end     run   sleep    wait  status")
    for t in frame.per_task()[:40]:
        lines.append(
            f"  {t['id']:>4}  {str(t['label'] or '-')[:20]:<20} {_s(t['start_s'])} {_s(t['end_s'])} "
            f"{t['run_s']:7.3f} {t['sleep_s']:7.3f} {t['wait_s']:7.3f}  {t['status']}"
            + (f": {t['error']}" if t["error"] else "")
        )
    if len(frame.tasks) > 40:
        lines.append(f"  ... and {len(frame.tasks) - 40} more")
    lines.append("")
    lines.append("  " + caption(frame))
    return "\n".join(lines)


def _s(v: float | None) -> str:
    return "      -" if v is None else f"{v:7.3f}"


RULES = {
    "cpu": "CPU-bound work: use processes (pool / process-pool). Threads and asyncio share one "
           "GIL, so they cannot beat sequential.",
    "io": "I/O-bound work: with fast I/O and few connections, threads; with slow I/O and many "
          "connections, asyncio (one thread, thousands of waits). Processes work too, but each costs a "
          "whole interpreter.",
    "mixed": "Mixed work: the CPU part decides. Processes run the bursts in parallel; threads and "
             "asyncio overlap only the waits.",
}


def compare(specs: dict[str, RunSpec], skipped: dict[str, str], as_json: bool = False,
            stop: Any = None) -> int:
    """Run each spec in turn, then print a table ranked by wall time and the rule of thumb.

    ``stop`` (a threading.Event) cancels the run in progress; nothing is printed then and the
    caller says why.
    """
    from concviz.engine.experiment import run_to_frame

    rows: list[dict[str, Any]] = []
    frames = {}
    for name, spec in specs.items():
        frame = run_to_frame(spec, stop=stop)
        if stop is not None and stop.is_set():
            return 1
        frames[name] = frame
        s = frame.stats
        rows.append({"model": name, "wall_s": s["wall_s"], "busy_s": s["busy_s"],
                     "parallelism": s["parallelism"], "concurrency_max": s["concurrency_max"],
                     "concurrency_mean": s["concurrency_mean"], "gil_switches": s["gil_switches"],
                     "spawn_ms_median": s["spawn_ms_median"], "failed": s["failed"]})
    base = next((r["wall_s"] for r in rows if r["model"] == "sequential"), None)
    for r in rows:
        r["speedup"] = (base / r["wall_s"]) if base and r["wall_s"] else None
    rows.sort(key=lambda r: r["wall_s"])
    any_spec = next(iter(specs.values()))
    workload = any_spec.workload
    best = rows[0]["model"] if rows else None
    verdict = _verdict(workload, rows)
    if as_json:
        print(json.dumps({"workload": workload, "tasks": any_spec.tasks, "scale": any_spec.scale,
                          "rows": rows, "skipped": skipped, "fastest": best,
                          "rule_of_thumb": RULES[workload], "measured": verdict}, indent=2))
        return 0
    machine = next(iter(frames.values())).machine if frames else {}
    print(f"concviz compare: {workload} workload, {any_spec.tasks} tasks, scale {any_spec.scale:g}  "
          f"(Python {machine.get('python')}, {machine.get('cpus')} CPUs)")
    print()
    print(f"  {'rank':<5}{'model':<14}{'wall s':>8}{'busy s':>8}{'parallel':>10}{'conc max':>10}"
          f"{'speedup':>9}{'failed':>8}")
    for i, r in enumerate(rows, 1):
        sp = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
        print(f"  {i:<5}{r['model']:<14}{r['wall_s']:>8.3f}{r['busy_s']:>8.3f}{r['parallelism']:>10.2f}"
              f"{r['concurrency_max']:>10d}{sp:>9}{r['failed']:>8d}")
    for name, why in skipped.items():
        print(f"  -    {name:<14}skipped: {why}")
    print()
    print(f"  Rule of thumb: {RULES[workload]}")
    print(f"  Measured here: {verdict}")
    return 0


def _verdict(workload: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "nothing ran."
    best = rows[0]
    parts = [f"fastest was {best['model']} ({best['wall_s']:.3f} s"]
    if best.get("speedup"):
        parts[0] += f", {best['speedup']:.2f}x sequential"
    parts[0] += f", parallelism {best['parallelism']:.2f})"
    by = {r["model"]: r for r in rows}
    if workload == "cpu" and "threads" in by and "sequential" in by:
        parts.append(f"threads reached parallelism {by['threads']['parallelism']:.2f} "
                     f"({by['threads']['wall_s'] / by['sequential']['wall_s']:.2f}x the sequential time)")
    if workload == "io" and "asyncio" in by and "threads" in by:
        parts.append(f"asyncio {by['asyncio']['wall_s']:.3f} s vs threads {by['threads']['wall_s']:.3f} s "
                     f"with {by['asyncio']['concurrency_max']} tasks in flight")
    return "; ".join(parts) + "."
