"""The built-in deck, run for real: every run of every scene completes, and every takeaway and
prediction is filled from what was measured (a figure the engine stopped producing, or renamed,
would show as '?' or leave a prediction without an answer)."""

from __future__ import annotations

import pytest

from concviz.engine.experiment import machine_info
from concviz.talk.deck import default_deck
from concviz.talk.figures import MISSING

from .helpers import run


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(default_deck().scenes)))
def test_each_scene_of_the_built_in_deck_runs_and_fills_its_takeaway(index):
    scene = default_deck().scenes[index]
    cpus = machine_info()["cpus"]
    figures = {}
    for deck_run in scene.runs:
        stats = run(**deck_run.spec.to_dict()).stats
        assert stats["done"] == deck_run.spec.tasks, (scene.title, deck_run.name, stats)
        figures[deck_run.name] = stats
    takeaway = scene.takeaway.render(figures, cpus)
    assert MISSING not in takeaway, takeaway
    answer = scene.prediction.answer(figures, cpus)
    assert answer is not None, (scene.title, {n: f["wall_s"] for n, f in figures.items()})
    print(f"{scene.title}: {scene.prediction.choices[answer].text.render(cpus=cpus)} | {takeaway}")
