"""Regenerate screenshots/*.svg from the recorded traces in tests/fixtures/.

Usage: ``python screenshots/generate.py [NAME ...]``. Each SVG is the app replaying one real,
recorded run (the same traces the snapshot tests use), at 120x36.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from concviz.app import ConcvizApp  # noqa: E402
from concviz.engine.events import read_trace  # noqa: E402
from tests.fixtures.record import load_results  # noqa: E402

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
    "failed-task": ("threads-failed", ["l"]),
    "code-pane": ("processes-cpu", ["c"]),
    "results": ("sequential-cpu", ["t"], "results-cpu"),
}


async def shoot(name: str, trace: str, keys: list[str], results: str | None = None,
                size: tuple[int, int] = (120, 36)) -> Path:
    header, events = read_trace(FIXTURES / f"{trace}.jsonl")
    app = ConcvizApp(replay=(header, events), instant=True, live_ticks=False)
    if results:
        load_results(app.runs.results, results)
    async with app.run_test(size=size) as pilot:
        for key in keys:
            await pilot.press(key)
        await pilot.pause()
        path = app.save_screenshot(f"{name}.svg", path=str(OUT))
    return Path(path)


def main(names: list[str]) -> int:
    for name, (trace, keys, *results) in SHOTS.items():
        if names and name not in names:
            continue
        print("wrote", asyncio.run(shoot(name, trace, keys, *results)).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
