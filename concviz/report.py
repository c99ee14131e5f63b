"""Plain-text report of one run, for ``concviz run``, and the caption the TUI shows under it.

Comparisons of several runs (compare, advise) are in ranking.py.
"""

from __future__ import annotations

from typing import Any


from concviz.engine.frame import Frame
from concviz.engine.models import MODELS
from concviz.engine.resources import server_line
from concviz.engine.workloads import NET_WORKLOADS
from concviz.view import format_kb

WAITING_WORKLOADS = ("io", *NET_WORKLOADS)  # their tasks mostly wait
# how a run's memory was read, in words (memory.py)
MEMORY_SOURCES = {"pss": "PSS", "uss": "USS: no PSS here", "rss": "RSS: no PSS or USS here",
                  "mixed": "PSS, USS or RSS by process"}


def caption(frame: Frame) -> str:
    """One sentence, from the measured numbers, saying what the run shows."""
    s = frame.stats
    n = s["tasks"]
    p = s["parallelism"]
    kind = {"cpu": "CPU-bound", "io": "I/O-bound", "mixed": "mixed", "net": "network",
            "net-fast": "network (fast replies, few connections)",
            "net-slow": "network (slow replies, many connections)"}.get(frame.workload, frame.workload)
    info = MODELS.get(frame.model)
    head = f"{n} {info.noun if info else 'tasks'}, {kind}: parallelism {p:.2f}, concurrency up to {s['concurrency_max']}"
    if s["failed"] > s["stopped"]:
        head += f", {s['failed'] - s['stopped']} failed"
    if s["stopped"]:
        head += f", {s['stopped']} stopped"
    if s["not_started"]:
        head += f", {s['not_started']} not started"
    if frame.workload in WAITING_WORKLOADS or (frame.workload == "mixed" and p < 0.5):
        if s["concurrency_max"] > 1:
            return head + ". The waits overlapped: concurrency without needing parallelism."
        return head + ". One wait after another: nothing overlapped."
    if frame.thread_pids and frame.gil and p < 1.2:
        return head + f". Only one thread ran at a time: the GIL ({s['gil_switches']} hand-offs)."
    if p >= 1.4:
        return head + ". Tasks ran at the same instant on different cores: true parallelism."
    if info and info.kind == "async":
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


def cluster_line(c: dict) -> str:
    """A Dask run's cluster: its start-up (a real cost, outside the wall above), workers, hosts."""
    what = "to start a LocalCluster" if c["local"] else f"to connect to {c['scheduler']}"
    hosts = len(c["hosts"])
    return (f"  cluster       {c['start_s']:8.3f} s   {what}: {c['workers']} workers, {c['threads']} threads, "
            f"{hosts} host{'s' if hosts != 1 else ''} (spawn latency above: submit to start)"
            + ("" if c["clock_uncertainty_ms"] is None
               else f"; other hosts' times within ±{c['clock_uncertainty_ms']:.1f} ms of this clock"))


def format_run(frame: Frame) -> str:
    """What ``concviz run`` prints: the settings, the figures, a row per task, the caption."""
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
        + (f", {s['not_started']} not started (the run ended before they began)" if s["not_started"] else "")
        + (" (the run itself completed; the failures are listed below)"
           if s["failed"] and frame.ended == "ok" else ""),
    ]
    cluster = s.get("cluster")
    if cluster is not None:
        lines.append(cluster_line(cluster))
    lines += resource_lines(frame)
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


def resource_lines(frame: Frame) -> list[str]:
    """What the run's memory and its server (net workloads) came to, for ``concviz run``."""
    s = frame.stats
    lines = []
    if s["mem_peak_mb"] is not None:
        source = MEMORY_SOURCES.get(s["mem_source"], s["mem_source"])
        lines.append(f"  memory        {format_kb(s['mem_per_task_kb']):>8} per task (peak {s['mem_peak_mb']:.1f} MB, "
                     f"{s['mem_baseline_mb']:.1f} MB before the tasks; {source})")
        kernel = s["mem_kernel_stacks_per_task_kb_inferred"]
        if kernel is not None and kernel >= 0.5:
            lines.append(f"                + {format_kb(kernel)} per task of kernel stacks (inferred: threads "
                         "added x the kernel's stack per thread)")
    server = s["server"]
    if server is not None:
        lines.append(f"  server        {server_line(server)} (not in busy){'; KILLED' if server['state'] == 'killed' else ''}")
    net = frame.net_figures()
    if net and net["wait_ms_median"] is not None:
        lines.append(f"  latency       {net['wait_ms_median']:8.2f} ms  median wait per request "
                     f"(the server's delay: {net['latency_ms']:g} ms; {net['replies_seen']:,} replies)")
    return lines


def _s(v: float | None) -> str:
    return "      -" if v is None else f"{v:7.3f}"
