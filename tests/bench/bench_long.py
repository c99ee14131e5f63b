"""A long live run, seen from outside: does the UI's cost stay flat as the run grows?

``concviz -m threads -w cpu -n 8 --scale S --switch-interval 1 --run`` in a real terminal
(tmux, bench_ui's Terminal): 8 CPU-bound threads handing the GIL over every millisecond, ~800
RUN intervals a second (the run of issue 13; its ``--scale 12`` ends before the 60th second on
this machine, so S is 20, or more for a longer run, with a time limit past the last window).
The UI process is read with psutil:

* long_ui_cpu_growth: its CPU (share of one core) over a 3 s window at the 60th second of the
  run, over the same at the 10th;
* long_ui_cpu_vs_plain: that 60th-second CPU over a plain Textual screen of the same rows (the
  reference of plain_textual.py: as many lane rows as concviz's screen shows at this size, each
  a new strip on every 10 Hz tick) next to one CPU-bound loop (the GIL-bound threads keep about
  one core busy), measured before and after the run; ``long_ui_cpu_vs_plain_12_rows`` is the
  same over the reference's first form (12 one-row lanes);
* long_rss_mb_per_min: RSS growth from the 10th to the 60th second, per minute;
* long_rss_mb_10min: RSS at the 60th second plus nine more minutes of that growth
  (extrapolated; with ``CONCVIZ_LONG_S=S``, up to 400, the run lasts S seconds, RSS is also
  read then, and the ten minutes are extrapolated from the growth between the 60th second
  and then).

The app's own frame times in each window (CONCVIZ_STATS_FILE) say whether a rise is its frames
(engine and widgets) or the rest of the process.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

import bench_ui
import common
from bench_ui import CONCVIZ, Terminal, cpu_fraction
from common import median



def command(length_s: float) -> list[str]:
    """The run, long enough to last past ``length_s`` and the 60th second (scale 12 lasts
    ~55 s here, and the scale is at most 99: ~7 minutes), with a time limit past that (the
    default limit is 60 s)."""
    length_s = max(length_s, 60.0)
    scale = min(99, max(20, int(length_s / 4 + 10)))
    return CONCVIZ + ["-m", "threads", "-w", "cpu", "-n", "8", "--scale", str(scale), "--switch-interval", "1",
                      "--timeout", str(int(length_s + 60)), "--run"]


WINDOW_S = 3.0
SIZE = (120, 36)
# What concviz draws of this run at SIZE: the 8 task lanes two rows tall, the GIL holder, the
# 2 cores and the "in parallel" row (every one of them changes on every frame of a live run),
# and the two axis rows above the task and the core lanes. live_run counts them on the screen.
TASK_ROWS = 8 * 2
LANE_ROWS = TASK_ROWS + 1 + 2 + 1
SCREEN_ROWS = LANE_ROWS + 2
# the reference's first form: one row a lane (8 tasks, 2 cores and their total, one GIL lane)
OLD_LANES = 8 + 2 + 1 + 1


def plain_share(rows: int) -> float:
    """CPU share of the plain Textual screen of ``rows`` lanes redrawn at 10 Hz (every row a new
    strip every tick) in a SIZE terminal, one CPU-bound loop beside it."""
    cmd = [sys.executable, str(Path(__file__).with_name("plain_textual.py")), str(rows), "24"]
    with common.burners(1), Terminal(cmd, size=SIZE) as term:
        term.wait(lambda s: "^p" in s, 10)
        time.sleep(1.0)
        return cpu_fraction(term.process(), WINDOW_S)


def plain_shares() -> dict[str, float]:
    """The reference of as many rows as concviz's screen, and the first (12 one-row lanes)."""
    return {"same_rows": plain_share(SCREEN_ROWS), "old": plain_share(OLD_LANES)}


def lane_rows(screen: str) -> int:
    """Rows of lanes on concviz's screen: from the task axis to the "in parallel" row, less
    blank rows and the rule above the cores."""
    lines = screen.splitlines()
    top = next((i for i, line in enumerate(lines) if line.startswith(" Tasks")), None)
    end = next((i for i, line in enumerate(lines) if line.startswith(" in parallel")), None)
    if top is None or end is None:
        return 0
    return sum(1 for line in lines[top:end + 1] if line.strip() and not line.startswith("▔"))


def thread_times(proc) -> dict[int, float]:
    """CPU seconds of each thread of ``proc`` so far (the main thread's id is the pid)."""
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def _frames_in(stats: dict, t0: float, t1: float) -> list[float]:
    return [ms for ms, at in zip(stats.get("frame_ms", []), stats.get("frame_at", [])) if t0 <= at <= t1]


def live_run(length_s: float) -> dict:
    """CPU windows centred on the 10th and 60th second, RSS every 2 s, frame times."""
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = os.path.join(tmp, "stats.json")
        # (in the command itself: a tmux server already running gives a new session its own
        # environment, not the client's)
        cmd = ["env", f"CONCVIZ_STATS_FILE={stats_path}", *command(length_s)]
        with Terminal(cmd, size=SIZE) as term:
            if term.wait(lambda s: "● running" in s, 15) is None:
                raise RuntimeError("the run did not start: " + term.screen()[-400:])
            started = time.perf_counter()
            proc = term.process()
            rss: list[tuple[float, float]] = []
            windows = {}
            for mark in (10.0, 60.0, *([length_s] if length_s > 60 else [])):
                while time.perf_counter() - started < mark - WINDOW_S / 2 - 2.0:
                    rss.append((time.perf_counter() - started, proc.memory_info().rss / 2**20))
                    time.sleep(2.0)
                while time.perf_counter() - started < mark - WINDOW_S / 2:
                    time.sleep(0.05)
                w0, p0 = time.time(), time.perf_counter()
                before = thread_times(proc)
                share = cpu_fraction(proc, WINDOW_S)
                after = thread_times(proc)
                wall = time.perf_counter() - p0
                # the main thread builds and draws frames (Textual's loop); the others are the
                # pump (feeding the Timeline) and the sampler
                main = (after.get(proc.pid, 0.0) - before.get(proc.pid, 0.0)) / wall
                windows[mark] = {"cpu": share, "main_thread_cpu": main, "other_threads_cpu": share - main,
                                 "t0": w0, "t1": time.time(), "rss_mb": proc.memory_info().rss / 2**20,
                                 "screen_rows": lane_rows(term.screen()),
                                 # every other thread's share, largest first (pump, sampler, ...)
                                 "other_threads": sorted((round((c - before.get(tid, 0.0)) / wall, 4)
                                                          for tid, c in after.items() if tid != proc.pid),
                                                         reverse=True)}
                rss.append((time.perf_counter() - started, windows[mark]["rss_mb"]))
            still = "● running" in term.screen()
            term.keys("s")  # stop the run, then quit: the app leaves its frame times on exit
            term.wait(lambda s: "○ idle" in s, 15)
            term.keys("q")
            try:
                proc.wait(15)
            except psutil.Error:
                pass
        try:
            with open(stats_path) as f:
                stats = json.load(f)
        except (OSError, ValueError):
            stats = {}
    for w in windows.values():
        frames = _frames_in(stats, w["t0"], w["t1"])
        w["frames"] = len(frames)
        w["frame_ms"] = median(frames) if frames else None
    return {"windows": windows, "rss": rss, "running_to_the_end": still}


def long_run(quick: bool = False) -> dict:
    length_s = min(400.0, float(os.environ.get("CONCVIZ_LONG_S", "0")))
    before = plain_shares()
    run = live_run(length_s)
    after = plain_shares()
    plain = median([before["same_rows"], after["same_rows"]])
    old = median([before["old"], after["old"]])
    w10, w60 = run["windows"][10.0], run["windows"][60.0]
    per_min = (w60["rss_mb"] - w10["rss_mb"]) / ((60.0 - 10.0) / 60.0)
    if length_s > 60:
        last = run["windows"][length_s]["rss_mb"]
        later = (last - w60["rss_mb"]) / ((length_s - 60.0) / 60.0)
        rss10 = last + (600 - length_s) / 60.0 * later
        how = (f"{last:.0f} MB at {length_s:.0f} s ({later:.1f} MB/min after the 60th second), "
               "extrapolated to 600 s")
    else:
        rss10, how = w60["rss_mb"] + 9 * per_min, "extrapolated from the 10th-60th second growth"
    frames = ", ".join(f"{k:.0f} s: {w['cpu'] * 100:.1f}% CPU ({w['main_thread_cpu'] * 100:.1f}% main thread), "
                       f"{w['frames']} frames of {w['frame_ms'] or 0:.2f} ms (median), RSS {w['rss_mb']:.0f} MB"
                       for k, w in run["windows"].items())
    return {
        "figures": {"long_ui_cpu_growth": w60["cpu"] / w10["cpu"] if w10["cpu"] else None,
                    "long_ui_cpu_vs_plain": w60["cpu"] / plain if plain else None,
                    "long_ui_cpu_vs_plain_12_rows": w60["cpu"] / old if old else None,
                    "long_rss_mb_per_min": per_min,
                    "long_rss_mb_10min": rss10},
        "notes": {"long_ui_cpu_growth": f"{' '.join(command(length_s)[3:])}: {frames}"
                                        + ("" if run["running_to_the_end"] else " (the run ended before the last window)"),
                  "long_ui_cpu_vs_plain": (f"plain Textual screen of concviz's {SCREEN_ROWS} rows (it showed "
                                           f"{w10['screen_rows']}) at {SIZE[0]}x{SIZE[1]}, 10 Hz, beside one CPU-bound "
                                           f"loop: {before['same_rows'] * 100:.1f}% before, "
                                           f"{after['same_rows'] * 100:.1f}% after the run; against the first "
                                           f"reference ({OLD_LANES} one-row lanes: {before['old'] * 100:.1f}% before, "
                                           f"{after['old'] * 100:.1f}% after): {w60['cpu'] / old:.2f}x"),
                  "long_rss_mb_10min": how},
        "details": {"long": run},
    }


BENCHMARKS = {"long": long_run} if bench_ui.shutil.which("tmux") else {}
