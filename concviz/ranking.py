"""Comparisons for the headless commands (compare, advise) and the results pane: run every
model on the same workload over rounds, rank the medians, and say what the ranking shows.

One run's text report is in report.py.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
import time
from statistics import median
from typing import Any, Sequence

from concviz.engine.frame import Frame
from concviz.engine.spec import RunSpec
from concviz.report import WAITING_WORKLOADS
from concviz.view import format_kb

RULES = {
    "cpu": "CPU-bound work: use processes (pool / process-pool). Threads and asyncio share one "
           "GIL, so they cannot beat sequential.",
    "io": "I/O-bound work: with fast I/O and few connections, threads; with slow I/O and many "
          "connections, asyncio (one thread, thousands of waits). Processes work too, but each costs a "
          "whole interpreter.",
    "mixed": "Mixed work: the CPU part decides. Processes run the bursts in parallel; threads and "
             "asyncio overlap only the waits.",
    "net": "Network I/O: threads when the connections are few and the replies fast; asyncio when "
           "they are many and slow (one thread holds thousands of waits, for less memory each).",
    "net-fast": "Fast I/O, few connections: threads. Blocking libraries just work, and a few threads "
                "cost little.",
    "net-slow": "Slow I/O, many connections: asyncio. One thread holds thousands of waits, for the "
                "memory of a few objects each; a thread per connection costs a stack each.",
}


DEFAULT_ROUNDS = 3
LONG_ROUND_S = 20.0  # a first round longer than this is not repeated unless --rounds asks


def measure(specs: dict[str, RunSpec], rounds: int | None = None, stop: Any = None,
            progress: Any = None, label: str = "",
            save: str | None = None) -> tuple[dict[str, list[Frame]], int] | None:
    """Run each spec ``rounds`` times (None: DEFAULT_ROUNDS, or one where the first round took
    over LONG_ROUND_S), every model in every round, in the order of round_order. Returns the
    frames of each model and the rounds done; None if ``stop`` (a threading.Event) was set.
    ``progress(text)`` is told what runs now (``label``: which comparison, before it).
    ``save``: a folder where each model's median run is kept as MODEL.jsonl (``concviz stack``
    opens them)."""
    from concviz.engine.experiment import run_to_frame

    names = list(specs)
    frames: dict[str, list[Frame]] = {name: [] for name in names}
    target = rounds or DEFAULT_ROUNDS
    began = time.monotonic()
    done = 0
    while done < target and names:
        for name in round_order(names, done):
            if progress is not None:
                progress(f"{label}round {done + 1}/{target}: {name}")
            # (the trace of a round is asked for only when it is kept)
            keep = {"record": os.path.join(save, f".{name}.round{done}.jsonl")} if save else {}
            frame = run_to_frame(specs[name], stop=stop, **keep)
            if stop is not None and stop.is_set():
                if save:
                    _keep_median_runs(save, {}, done + 1)
                return None
            frames[name].append(frame)
        done += 1
        if rounds is None and done == 1 and time.monotonic() - began > LONG_ROUND_S:
            target = 1
    if save:
        _keep_median_runs(save, frames, done)
    return frames, done


def _python_labels(frames: dict[str, list[Frame]]) -> dict[str, str]:
    """Each compared key's Python, as its first run's header says ("3.13.0", "3.13.0t" for a
    free-threaded build)."""
    out = {}
    for name, runs in frames.items():
        m = runs[0].machine if runs else {}
        out[name] = f"{m.get('python', '?')}{'t' if m.get('free_threaded_build') else ''}"
    return out


def _keep_median_runs(folder: str, frames: dict[str, list[Frame]], rounds: int) -> None:
    """Keep, of each model's round traces in ``folder``, the run of median wall time as
    MODEL.jsonl (the lower of the two middle ones for an even count); remove the others."""
    for name, runs in frames.items():
        walls = sorted(range(len(runs)), key=lambda i: runs[i].stats["wall_s"])
        keep = walls[(len(walls) - 1) // 2]
        os.replace(os.path.join(folder, f".{name}.round{keep}.jsonl"), os.path.join(folder, f"{name}.jsonl"))
    for entry in os.listdir(folder):
        if entry.startswith(".") and any(entry.endswith(f".round{k}.jsonl") for k in range(rounds)):
            os.unlink(os.path.join(folder, entry))


def compare(specs: dict[str, RunSpec], skipped: dict[str, str], as_json: bool = False,
            stop: Any = None, rounds: int | None = None, progress: Any = None,
            save: str | None = None) -> int:
    """Run each spec ``rounds`` times (see measure), then print a table ranked by median wall
    time, with each model's spread and memory per task, and the rule of thumb.

    One run of a short workload moves by tens of percent with the machine's load and clock,
    which is enough to rank asyncio above sequential on CPU-bound work. So every model runs in
    every round, in the order of round_order, and models whose ranges of wall time overlap
    share a rank: the measurement cannot tell them apart.

    ``stop`` cancels the run in progress; nothing is printed then and the caller says why.
    ``save``: see measure.
    """
    measured = measure(specs, rounds, stop, progress, save=save)
    if measured is None:
        return 1
    frames, done = measured
    pythons = _python_labels(frames)
    rows = rank_runs({name: [f.stats for f in runs] for name, runs in frames.items()},
                     {name: (specs[name].model, pythons[name]) for name in frames} if len(set(pythons.values())) > 1
                     else None)
    any_spec = next(iter(specs.values()))
    workload = any_spec.workload
    best = rows[0]["label"] if rows else None
    verdict = _verdict(workload, rows)
    if as_json:
        print(json.dumps({"workload": workload, "tasks": any_spec.tasks, "scale": any_spec.scale,
                          "latency_ms": any_spec.latency_ms, "requests": any_spec.requests,
                          "pythons": list(dict.fromkeys(pythons.values())),
                          "rounds": done, "rows": rows, "skipped": skipped, "fastest": best,
                          "rule_of_thumb": RULES[workload], "measured": verdict}, indent=2))
        return 0
    machine = next(iter(frames.values()))[0].machine if frames else {}
    versions = ", ".join(dict.fromkeys(pythons.values())) or machine.get("python")
    size = (f"{any_spec.tasks} connections x {any_spec.requests} requests x {any_spec.latency_ms:g} ms"
            if any_spec.is_net else f"{any_spec.tasks} tasks, scale {any_spec.scale:g}")
    print(f"concviz compare: {workload} workload, {size}, {done} round{'s' if done != 1 else ''}  "
          f"(Python {versions}, {machine.get('cpus')} CPUs)")
    print()
    # 75 columns with one Python: fits an 80-column terminal; rows of several are named longer
    width = max([13] + [len(r["label"]) + 1 for r in rows] + [len(name) + 1 for name in skipped])
    print(f"  {'rank':<5}{'model':<{width}}{'wall s':>7}{'spread':>7}{'busy s':>7}{'par':>6}{'conc':>6}"
          f"{'speedup':>8}{'fail':>5}{'mem/task':>9}")
    for r in rows:
        sp = f"{r['speedup']:.2f}x" if r["speedup"] else "-"
        spread = f"±{r['spread']:.0%}" if done > 1 else "-"
        print(f"  {r['rank_text']:<5}{r['label']:<{width}}{r['wall_s']:>7.3f}{spread:>7}{r['busy_s']:>7.3f}"
              f"{r['parallelism']:>6.2f}{r['concurrency_max']:>6d}{sp:>8}{r['failed']:>5d}"
              f"{format_kb(r['mem_per_task_kb']):>9}"
              + (f"  ({r['not_started']} not started)" if r["not_started"] else ""))
    for name, why in skipped.items():
        print(f"  -    {name:<{width}}skipped: {why}")
    print()
    if done > 1:
        say(f"wall s: the median of {done} rounds; spread: half their range. A shared rank (1=) "
             "means the ranges overlap: no measured difference. mem/task: the memory (PSS) the "
             "run grew by, per task.")
    elif rounds is None and rows:
        say(f"One round (it took over {LONG_ROUND_S:g} s): no spread measured; --rounds 3 repeats it.")
    say(f"Rule of thumb: {RULES[workload]}")
    say(f"Measured here: {verdict}")
    return 0


def round_order(models: Sequence[str], round_no: int) -> list[str]:
    """The order in which ``models`` run in round ``round_no`` (from 0) of a comparison: the
    first round in the order given (sequential, the baseline of the speed-ups, first), each
    later one starting a model further on, so that a slow spell of the machine falls on
    different models."""
    shift = round_no % len(models) if models else 0
    return [*models[shift:], *models[:shift]]


def say(text: str) -> None:
    """A paragraph under the table, wrapped to the terminal (60-100 columns)."""
    width = max(60, min(100, shutil.get_terminal_size((100, 24)).columns - 1))
    print(textwrap.fill(text, width, initial_indent="  ", subsequent_indent="    "))


def rank_runs(runs: dict[str, list[dict[str, Any]]],
              names: dict[str, tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """Rows of a comparison, fastest first: for each model (``runs``: its runs' Frame.stats),
    the median of its runs, the range of its wall time, its speed-up over sequential (where
    sequential ran) and its rank, shared with models whose ranges overlap (see compare).

    ``names``: where the same models ran under several Pythons, each key's (model, Python):
    its row says both ("label": "threads 3.13.0"), and its speed-up is over sequential on the
    same Python."""
    rows = [_compare_row(name, stats) for name, stats in runs.items() if stats]
    for r in rows:
        r["label"] = r["model"]
        if names is not None:
            r["model"], r["python"] = names[r["label"]]
    base = {r.get("python"): r["wall_s"] for r in rows if r["model"] == "sequential"}
    for r in rows:
        b = base.get(r.get("python"))
        r["speedup"] = (b / r["wall_s"]) if b and r["wall_s"] else None
    rows.sort(key=lambda r: r["wall_s"])
    _rank(rows)
    return rows


def _compare_row(name: str, stats: list[dict[str, Any]]) -> dict[str, Any]:
    """One model's row: medians over its runs, the range of its wall time, the worst failure."""
    walls = [s["wall_s"] for s in stats]
    wall = median(walls)
    spawns = [s["spawn_ms_median"] for s in stats if s["spawn_ms_median"] is not None]
    mems = [s["mem_per_task_kb"] for s in stats if s.get("mem_per_task_kb") is not None]
    kernel = [s["mem_kernel_stacks_per_task_kb_inferred"] for s in stats
              if s.get("mem_kernel_stacks_per_task_kb_inferred") is not None]
    return {"model": name, "wall_s": wall, "wall_min_s": min(walls), "wall_max_s": max(walls),
            "spread": (max(walls) - min(walls)) / 2 / wall if wall else 0.0, "rounds": len(stats),
            "busy_s": median([s["busy_s"] for s in stats]),
            "parallelism": median([s["parallelism"] for s in stats]),
            "concurrency_max": max(s["concurrency_max"] for s in stats),
            "concurrency_mean": median([s["concurrency_mean"] for s in stats]),
            "gil_switches": round(median([s["gil_switches"] for s in stats])),
            "spawn_ms_median": median(spawns) if spawns else None,
            "failed": max(s["failed"] for s in stats),
            "not_started": max(s.get("not_started", 0) for s in stats),
            "mem_per_task_kb": median(mems) if mems else None,
            "mem_kernel_kb_inferred": median(kernel) if kernel else None}


def _rank(rows: list[dict[str, Any]]) -> None:
    """Competition ranks over ``rows`` (sorted by median wall): a row whose range of wall time
    overlaps that of the first row of the rank above shares its rank ("2=")."""
    lead = None
    for i, r in enumerate(rows):
        if lead is None or r["wall_min_s"] > lead["wall_max_s"]:
            lead = r
            r["rank"] = i + 1
        else:
            r["rank"] = lead["rank"]
    for r in rows:
        shared = sum(1 for o in rows if o["rank"] == r["rank"]) > 1
        r["rank_text"] = f"{r['rank']}=" if shared else str(r["rank"])


def fastest(rows: list[dict[str, Any]]) -> list[str]:
    """The models sharing the first rank of ``rows`` (rank_runs): no measured difference."""
    return [r.get("label", r["model"]) for r in rows if r["rank"] == 1]


def _tied(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """The ranges of wall time of two rows overlap: no measured difference between them."""
    return a["wall_min_s"] <= b["wall_max_s"] and b["wall_min_s"] <= a["wall_max_s"]


def _verdict(workload: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "nothing ran."
    best = rows[0]
    tops = fastest(rows)
    if len(rows) == 1:  # nothing to be faster than
        head = f"only {best['label']} ran ({best['wall_s']:.3f} s"
    elif len(tops) > 1:
        head = f"fastest were {_words(tops)}, with no measured difference between them ({best['label']} {best['wall_s']:.3f} s"
    else:
        head = f"fastest was {best['label']} ({best['wall_s']:.3f} s"
    if best.get("speedup"):
        head += f", {best['speedup']:.2f}x sequential"
    head += f", parallelism {best['parallelism']:.2f}"
    if best["failed"]:  # a run cut short is quick for the wrong reason
        head += f"; but {best['failed']} of its tasks failed"
    parts = [head + ")"]
    by = {r["label"]: r for r in rows}  # (under one Python, the labels are the models)
    if workload == "cpu" and "threads" in by and "sequential" in by:
        threads, seq = by["threads"], by["sequential"]
        parts.append(f"threads reached parallelism {threads['parallelism']:.2f} "
                     f"({threads['wall_s'] / seq['wall_s']:.2f}x the sequential time"
                     + (", no measured difference)" if threads["rounds"] > 1 and _tied(threads, seq) else ")"))
    if workload in WAITING_WORKLOADS and "asyncio" in by and "threads" in by:
        parts.append(f"asyncio {by['asyncio']['wall_s']:.3f} s vs threads {by['threads']['wall_s']:.3f} s "
                     f"with {by['asyncio']['concurrency_max']} tasks in flight")
    return "; ".join(parts) + "."


def _words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
