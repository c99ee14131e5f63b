"""Regenerate screenshots/*.svg from the recorded traces in tests/fixtures/.

Usage: ``python screenshots/generate.py [NAME ...]``. Each SVG is the app replaying one real,
recorded run (the same traces the snapshot tests use), at 120x36; the talk screenshots give the
built-in deck's scenes with recorded runs in place of live ones, and the stack opens recorded
runs as ``concviz stack`` does.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from concviz.app import ConcvizApp  # noqa: E402
from concviz.engine.events import read_trace  # noqa: E402
from concviz.talk.deck import default_deck  # noqa: E402
from concviz.talk.screen import TalkApp  # noqa: E402
from tests.fixtures.record import load_results  # noqa: E402
from tests.fixtures.recorded_runs import Recordings  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
OUT = ROOT / "screenshots"
# screenshot name -> (trace, keys to press first[, recorded results to load first])
SHOTS = {
    "sequential-cpu": ("sequential-cpu", []),
    "sequential-io": ("sequential-io", []),
    "threads-cpu": ("threads-cpu", []),
    "threads-io": ("threads-io", []),
    "processes-cpu": ("processes-cpu", []),
    "processes-io": ("processes-io", []),
    "pool-cpu": ("pool-cpu", []),
    "thread-pool-cpu": ("thread-pool-cpu", []),
    "thread-pool-mixed": ("thread-pool-mixed", []),
    "process-pool-cpu": ("process-pool-cpu", []),
    "asyncio-cpu": ("asyncio-cpu", []),
    "asyncio-io": ("asyncio-io", []),
    "threads-net-fast": ("threads-net-fast", []),
    "asyncio-net-slow": ("asyncio-net-slow", []),
    "interpreters-cpu": ("interpreters-cpu", []),
    "dask-cpu": ("dask-cpu", []),
    "failed-task": ("threads-failed", ["l"]),
    "code-pane": ("processes-cpu", ["c"]),
    "results": ("sequential-cpu", ["t"], "results-cpu"),
    # concviz trace of examples/ (a program seen from outside, through /proc)
    "trace-cpu-threads": ("trace-cpu-threads", []),
    "trace-process-pool": ("trace-process-pool", []),
}


# talk mode: screenshot name -> (scene of the built-in deck, from 1; keys; runs held part-way)
TALK_SHOTS = {
    "talk-question": (3, ["space"], ()),
    "talk-live": (3, ["space", "3"], ("threads",)),
    "talk-reveal": (3, ["space", "3", "space"], ()),
    "talk-connections": (7, ["space", "3", "space"], ()),
}
# the stack of recorded runs (concviz stack): screenshot name -> traces
STACK_SHOTS = {
    "stack": ("threads-cpu", "processes-cpu"),
}


async def shoot(name: str, trace: str, keys: list[str], results: str | None = None,
                size: tuple[int, int] = (120, 36)) -> Path:
    header, events = read_trace(FIXTURES / f"{trace}.jsonl")
    app = ConcvizApp(replay=(header, events), instant=True, live_ticks=False)
    if results:
        load_results(app.runs.results, results)
    return await save(app, name, keys, size)


async def shoot_talk(name: str, scene: int, keys: list[str], held: tuple[str, ...],
                     size: tuple[int, int] = (120, 36)) -> Path:
    app = TalkApp(default_deck(), start=Recordings(held), cpus=2, scene=scene - 1, live_ticks=False)
    return await save(app, name, keys, size)


async def shoot_stack(name: str, traces: tuple[str, ...], size: tuple[int, int] = (120, 36)) -> Path:
    app = ConcvizApp(stack=[read_trace(FIXTURES / f"{t}.jsonl") for t in traces], live_ticks=False)
    return await save(app, name, [], size)


async def save(app, name: str, keys: list[str], size: tuple[int, int]) -> Path:
    async with app.run_test(size=size) as pilot:
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        path = app.save_screenshot(f"{name}.svg", path=str(OUT))
    return Path(path)


def main(names: list[str]) -> int:
    jobs = {name: lambda args=args, name=name: shoot(name, *args) for name, args in SHOTS.items()}
    jobs.update({name: lambda args=args, name=name: shoot_talk(name, *args) for name, args in TALK_SHOTS.items()})
    jobs.update({name: lambda traces=traces, name=name: shoot_stack(name, traces)
                 for name, traces in STACK_SHOTS.items()})
    for name, job in jobs.items():
        if names and name not in names:
            continue
        print("wrote", asyncio.run(job()).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
