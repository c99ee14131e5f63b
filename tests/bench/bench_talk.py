"""What a frame of talk mode costs while a run sweeps, next to the main screen drawing the same run.

    python tests/bench/bench_talk.py [--quick]

The recorded threads-cpu run (4 threads, 1.6 s) is put at successive instants, as a live run
would be seen at each tick: talk mode draws it sweeping in the third scene of the built-in deck
(the processes run waiting below it), and the main screen, the reference, draws the same frame
its own way. Each frame is timed in CPU time (this process's, all threads) from the call that
hands it over to the end of Textual's repaint of the screen (headless, 120x36): the pilot's wait
for the repaint sleeps about 20 ms, which wall time would count. The two screens run in turn so
that a slow spell of this shared machine falls on both. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import common  # noqa: F401  (puts the repository first on sys.path)
from common import median

from concviz.app import ConcvizApp
from concviz.engine.events import read_trace
from concviz.talk.deck import default_deck
from concviz.talk.screen import TalkApp
from tests.fixtures.recorded_runs import HERE as FIXTURES
from tests.fixtures.recorded_runs import Recordings

SIZE = (120, 36)


async def talk_frames(fractions: list[float]) -> list[float]:
    made = Recordings(held=("threads",))
    app = TalkApp(default_deck(), start=made, cpus=2, scene=2, live_ticks=False)
    out = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("space", "3")
        await pilot.pause()
        session = made.made[0]
        for fraction in fractions:
            session.seek(int(session.duration_ns * fraction))
            t0 = time.process_time()
            app.screen.tick(force=True)
            await pilot.pause()
            out.append((time.process_time() - t0) * 1000)
    return out


async def main_frames(fractions: list[float]) -> list[float]:
    app = ConcvizApp(replay=read_trace(FIXTURES / "threads-cpu.jsonl"), live_ticks=False)
    out = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        session = app.runs.session
        for fraction in fractions:
            session.seek(int(session.duration_ns * fraction))
            t0 = time.process_time()
            app.main.show(session.snapshot())
            await pilot.pause()
            out.append((time.process_time() - t0) * 1000)
    return out


def bench_talk(quick: bool = False) -> dict:
    steps = 20 if quick else 60
    fractions = [0.05 + 0.9 * i / (steps - 1) for i in range(steps)]
    talk, main = [], []
    for _ in range(2 if quick else 4):  # in turn, so that a slow spell falls on both
        talk += asyncio.run(talk_frames(fractions))
        main += asyncio.run(main_frames(fractions))
    t, m = median(talk), median(main)
    return {"figures": {"talk_sweep_frame_ms": round(t, 2), "main_frame_ms": round(m, 2),
                        "talk_over_main": round(t / m, 2)},
            "notes": {"talk_sweep_frame_ms": f"median of {len(talk)} frames, max {max(talk):.1f} ms",
                      "main_frame_ms": f"the same frames on the main screen, max {max(main):.1f} ms"}}


BENCHMARKS = {"talk": bench_talk}

if __name__ == "__main__":
    print(json.dumps(bench_talk(quick="--quick" in sys.argv), indent=2))
