"""``concviz doctor``: what a speaker checks before a talk, in about two seconds.

The facts of this machine (cores, Python build and GIL, multiprocessing start methods, switch
interval, terminal size and colours) and a short measurement of what concviz will show: the
probe's overhead and the cost of starting a thread and a process with each start method.
Plain text, or one JSON object with ``--json``. No Textual here: it must run where the TUI
cannot.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import sysconfig
import threading
import time
from typing import Any

BUDGET_S = 2.0
MIN_COLUMNS, MIN_LINES = 100, 30  # below this the lanes get cramped


# --- facts ---------------------------------------------------------------------------------------
def python_build() -> dict[str, Any]:
    check = getattr(sys, "_is_gil_enabled", None)
    free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "free_threaded_build": free_threaded,
        "gil_enabled": True if check is None else bool(check()),
    }


def start_methods() -> tuple[list[str], str]:
    methods = list(multiprocessing.get_all_start_methods())
    default = multiprocessing.get_start_method(allow_none=True) or multiprocessing.get_context().get_start_method()
    return methods, default


def colours(env: dict[str, str] | None = None) -> str:
    """'truecolor', '256', '16' or 'none', from NO_COLOR, COLORTERM and TERM."""
    env = os.environ if env is None else env
    if "NO_COLOR" in env:
        return "none"
    term = env.get("TERM", "")
    if env.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return "truecolor"
    if term in ("", "dumb"):
        return "none"
    if "256" in term:
        return "256"
    return "16"


def terminal() -> dict[str, Any]:
    size = shutil.get_terminal_size((80, 24))
    return {"columns": size.columns, "lines": size.lines, "isatty": sys.stdout.isatty(),
            "colors": colours(), "term": os.environ.get("TERM", ""),
            "colorterm": os.environ.get("COLORTERM", "")}


def cpu_source() -> str:
    """How the probe learns the CPU of a RUN interval here."""
    from concviz.engine.probe import current_cpu

    name = getattr(current_cpu, "__name__", "")
    return {"sched_getcpu": "libc sched_getcpu", "from_proc": "/proc/thread-self/stat",
            "from_psutil": "psutil"}.get(name, "unknown (CPU lanes stay empty)")


# --- measurements --------------------------------------------------------------------------------
def _first_line(conn: Any) -> None:
    """A trivial child: report the time of its first line."""
    conn.send(time.perf_counter_ns())


def _thread_first_line(out: list) -> None:
    out.append(time.perf_counter_ns())


def thread_start_ms(budget_s: float) -> float:
    values = []
    deadline = time.perf_counter() + budget_s
    while len(values) < 3 or (time.perf_counter() < deadline and len(values) < 50):
        out: list[int] = []
        th = threading.Thread(target=_thread_first_line, args=(out,), daemon=True)
        t0 = time.perf_counter_ns()
        th.start()
        th.join()
        values.append((out[0] - t0) / 1e6)
    return statistics.median(values)


def process_start_ms(method: str, budget_s: float) -> float | None:
    """Median time from ``Process.start()`` to the child's first line (at least one start; the
    first start of forkserver also starts its server, as the first run of a session does)."""
    ctx = multiprocessing.get_context(method)
    r, w = ctx.Pipe(duplex=False)
    values = []
    deadline = time.perf_counter() + budget_s
    try:
        while not values or (time.perf_counter() < deadline and len(values) < 7):
            p = ctx.Process(target=_first_line, args=(w,), daemon=True)
            t0 = time.perf_counter_ns()
            p.start()
            if not r.poll(30):
                p.kill()
                p.join()
                return None
            values.append((r.recv() - t0) / 1e6)
            p.join()
    finally:
        r.close()
        w.close()
    return statistics.median(values)


def probe_overhead(budget_s: float) -> float:
    """Throughput of the CPU workload with the probe on / off (median of interleaved pairs)."""
    from concviz.engine import workloads
    from concviz.engine.probe import ListSink, Recorder

    units = 1_000  # a side: long enough to time, short enough to repeat
    ratios = []
    deadline = time.perf_counter() + budget_s
    i = 0
    while len(ratios) < 3 or (time.perf_counter() < deadline and len(ratios) < 25):
        sides = {}
        for side in (("plain", "probe") if i % 2 == 0 else ("probe", "plain")):
            t0 = time.thread_time()
            if side == "plain":
                workloads.burn_plain(i, units)
            else:
                workloads.burn(Recorder(ListSink()), i, units)
            sides[side] = time.thread_time() - t0
        if sides["probe"] > 0:
            ratios.append(sides["plain"] / sides["probe"])
        i += 1
    return statistics.median(ratios)


def measure(budget_s: float = BUDGET_S) -> dict[str, Any]:
    methods, _ = start_methods()
    t0 = time.perf_counter()
    out: dict[str, Any] = {"probe_overhead_ratio": probe_overhead(budget_s * 0.3),
                           "thread_start_ms": thread_start_ms(budget_s * 0.05)}
    shares = {"fork": 0.1, "forkserver": 0.25, "spawn": 0.25}
    for method in ("fork", "forkserver", "spawn"):
        out[f"{method}_start_ms"] = process_start_ms(method, budget_s * shares[method]) if method in methods else None
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


# --- report --------------------------------------------------------------------------------------
def collect(budget_s: float = BUDGET_S) -> dict[str, Any]:
    methods, default = start_methods()
    cpus = os.cpu_count() or 1
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    info: dict[str, Any] = {
        "cores": cpus,
        "cores_usable": usable,
        "python": python_build(),
        "platform": platform.platform(),
        "start_methods": methods,
        "default_start_method": default,
        "switch_interval_ms": sys.getswitchinterval() * 1000,
        "terminal": terminal(),
        "cpu_source": cpu_source(),
        "measured": measure(budget_s),
    }
    info["warnings"] = warnings(info)
    return info


def warnings(info: dict[str, Any]) -> list[str]:
    out = []
    if info["cores_usable"] < 2:
        out.append("only one usable core: no model can show parallelism above 1")
    py = info["python"]
    if not py["gil_enabled"]:
        out.append("the GIL is off (free-threaded build): CPU-bound threads run in parallel here")
    elif py["free_threaded_build"]:
        out.append("free-threaded build running with the GIL on (PYTHON_GIL=1 or an extension)")
    term = info["terminal"]
    if term["columns"] < MIN_COLUMNS or term["lines"] < MIN_LINES:
        out.append(f"terminal is {term['columns']}x{term['lines']}: {MIN_COLUMNS}x{MIN_LINES} "
                   "or more shows every pane at a readable size")
    if term["colors"] in ("none", "16"):
        out.append(f"{term['colors']} colours: set COLORTERM=truecolor if the terminal supports it")
    ratio = info["measured"].get("probe_overhead_ratio")
    if ratio is not None and ratio < 0.97:
        out.append(f"probe overhead {1 - ratio:.1%} (a busy machine? re-run when it is quiet)")
    return out


def _ms(value: float | None) -> str:
    if value is None:
        return "not available"
    return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"


def format_report(info: dict[str, Any]) -> str:
    py = info["python"]
    term = info["terminal"]
    m = info["measured"]
    build = "free-threaded build" if py["free_threaded_build"] else "standard build"
    methods = ", ".join(f"{x} (default)" if x == info["default_start_method"] else x
                        for x in info["start_methods"])
    ratio = m["probe_overhead_ratio"]
    rows = [
        ("cores", f"{info['cores']} logical, {info['cores_usable']} usable by this process"),
        ("python", f"{py['version']} {py['implementation']}, GIL {'on' if py['gil_enabled'] else 'off'} ({build})"),
        ("start methods", methods),
        ("switch interval", f"{info['switch_interval_ms']:g} ms (sys.getswitchinterval)"),
        ("terminal", f"{term['columns']}x{term['lines']}, {term['colors']} colours"
                     + ("" if term["isatty"] else ", output is not a terminal")),
        ("CPU numbers", info["cpu_source"]),
    ]
    lines = [f"concviz doctor: {info['platform']}", ""]
    lines += [f"  {k:<18}{v}" for k, v in rows]
    lines += ["", f"  measured here in {m['seconds']:.1f} s:"]
    lines += [f"  {k:<18}{v}" for k, v in (
        ("probe overhead", f"{max(0.0, 1 - ratio):.1%} (throughput with the probe / without: {ratio:.3f})"),
        ("thread start", _ms(m["thread_start_ms"])),
        ("fork start", _ms(m["fork_start_ms"])),
        ("forkserver start", _ms(m["forkserver_start_ms"])),
        ("spawn start", _ms(m["spawn_start_ms"])),
    )]
    lines.append("")
    if info["warnings"]:
        lines += [f"  ! {w}" for w in info["warnings"]]
    else:
        lines.append("  ready: nothing to fix")
    return "\n".join(lines)


def doctor(as_json: bool = False, budget_s: float = BUDGET_S) -> int:
    """Print the report (or one JSON object); always exits 0: it is advice, not a test."""
    info = collect(budget_s)
    print(json.dumps(info, indent=2) if as_json else format_report(info))
    return 0
