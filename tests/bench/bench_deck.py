"""How long each scene of the built-in talk deck takes to run here (issue 14: "each scene's runs
a few seconds at most on 2 cores"), with its measured answer and takeaway.

    python tests/bench/bench_deck.py [--quick]

Each scene's runs are run one after another, as talk mode runs them, and timed from the caller's
side (process start to the last event). The reference in the same run is a bare
``python -c pass`` started the same way, so a slow spell of this shared machine shows in both.
Figures are printed, never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import common  # noqa: F401  (puts the repository first on sys.path)
from common import Background, median, run

from concviz.engine.experiment import machine_info
from concviz.talk.deck import default_deck


def python_start_s(repeats: int = 3) -> float:
    """The reference: starting a bare interpreter, the fixed cost under every run."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
    return median(times)


def bench_deck(quick: bool = False) -> dict:
    deck = default_deck()
    cpus = machine_info()["cpus"]
    reference = python_start_s()
    scenes = []
    for scene in deck.scenes:
        figures, walls = {}, {}
        t0 = time.perf_counter()
        with Background() as load:
            for deck_run in scene.runs:
                result = run(deck_run.spec)
                figures[deck_run.name] = result.stats
                walls[deck_run.name] = round(result.wall_s, 3)
        took = time.perf_counter() - t0
        answer = scene.prediction.answer(figures, cpus) if scene.prediction else None
        scenes.append({
            "title": scene.title,
            "scene_s": round(took, 3),
            "runs_s": walls,
            "other_load_cores": round(load.cores, 2),  # CPU other processes used meanwhile
            "answer": None if answer is None else scene.prediction.choices[answer].text.render(cpus=cpus),
            "takeaway": scene.takeaway.render(figures, cpus) if scene.takeaway else "",
        })
    longest = max(s["scene_s"] for s in scenes)
    return {
        "figures": {"deck_scene_s_max": round(longest, 3), "deck_total_s": round(sum(s["scene_s"] for s in scenes), 3)},
        "notes": {"deck_scene_s_max": f"reference: a bare python start {reference * 1000:.0f} ms"},
        "details": {"scenes": scenes, "python_start_s": round(reference, 4)},
    }


BENCHMARKS = {"deck": bench_deck}


def main() -> int:
    result = bench_deck(quick="--quick" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
        return 0
    for scene in result["details"]["scenes"]:
        runs = ", ".join(f"{name} {s:.2f} s" for name, s in scene["runs_s"].items())
        print(f"{scene['scene_s']:6.2f} s  {scene['title']}  ({runs}; other processes used "
              f"{scene['other_load_cores']:.1f} cores meanwhile)")
        print(f"          answer: {scene['answer']}")
        print(f"          {scene['takeaway']}")
    figures, notes = result["figures"], result["notes"]
    print(f"longest scene {figures['deck_scene_s_max']:.2f} s, whole deck {figures['deck_total_s']:.2f} s "
          f"({notes['deck_scene_s_max']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
