"""The results pane: this session's complete runs with the settings shown, ranked; "a" runs
every model in turn to fill it."""

from __future__ import annotations

import dataclasses

import psutil
import pytest

from concviz.app import ConcvizApp
from concviz.engine.spec import MODEL_NAMES, RunSpec, models_for
from concviz.results import Results
from concviz.widgets.results import ResultsPane, results_text


def stats(wall: float, failed: int = 0, tasks: int = 4) -> dict:
    return {"wall_s": wall, "busy_s": wall, "parallelism": 1.0, "concurrency_max": tasks,
            "concurrency_mean": 1.0, "gil_switches": 0, "spawn_ms_median": 0.1, "failed": failed,
            "done": tasks - failed, "tasks": tasks}


def spec(model: str, **changes) -> RunSpec:
    return dataclasses.replace(RunSpec(model=model, workload="cpu", tasks=4), **changes).validate()


def test_results_rank_the_runs_of_the_settings_shown():
    results = Results()
    assert results.add(spec("sequential"), stats(2.0))
    assert results.add(spec("threads"), stats(2.2))
    assert results.add(spec("threads"), stats(1.9))
    assert results.add(spec("processes"), stats(1.0))
    assert results.add(spec("processes", tasks=8), stats(5.0))  # other settings: another table
    rows = results.rows(spec("asyncio"))
    assert [r["model"] for r in rows] == ["processes", "sequential", "threads"]
    threads = rows[2]
    assert threads["rounds"] == 2 and threads["wall_s"] == pytest.approx(2.05)  # the median
    assert rows[1]["rank"] == 2 and threads["rank"] == 2  # 1.9-2.2 overlaps 2.0: shared rank
    assert rows[0]["speedup"] == pytest.approx(2.0)
    assert results.not_run(spec("asyncio")) == ["pool", "thread-pool", "process-pool", "asyncio"] + [
        m for m in ("dask",) if m in models_for()]
    assert [r["model"] for r in results.rows(spec("threads", tasks=8))] == ["processes"]


def test_results_keep_only_runs_that_measured_the_model():
    results = Results()
    assert not results.add(spec("threads"), stats(1.0, failed=1))  # a task failed
    assert not results.add(spec("threads", fail_task=1), stats(1.0))  # a fault was injected
    assert not results.add(spec("threads"), {**stats(1.0), "done": 3})  # a task never finished
    assert results.rows(spec("threads")) == []
    results.add(spec("pool", workers=3), stats(1.0))  # a pool of 3 is not the default pool
    assert [r["model"] for r in results.rows(spec("pool"))] == ["pool ×3"]


def test_results_text_and_verdict():
    results = Results()
    assert "No complete run" in results_text(spec("threads"), [], list(MODEL_NAMES))
    results.add(spec("sequential"), stats(2.0))
    results.add(spec("processes"), stats(1.0))
    rows = results.rows(spec("threads"))
    text = results_text(spec("threads"), rows, results.not_run(spec("threads")))
    assert "processes" in text and "1.00 s" in text and "2.00" in text  # wall and speed-up
    assert "Not run yet: threads, pool" in text
    assert "Rule of thumb: CPU-bound" in text
    assert "processes: 1.00 s, rank 1 of the 2 models" in results.verdict(spec("processes"))
    assert "fastest: processes" in results.verdict(spec("sequential"))


@pytest.mark.slow
async def test_a_runs_every_model_in_turn_and_s_ends_the_sequence():
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    app = ConcvizApp(RunSpec(model="threads", workload="io", tasks=2, scale=0.05).validate())
    MODEL_NAMES = models_for()  # (every model this Python can run the experiment of)
    started: list[str] = []
    start = app.runs.start

    def start_and_note() -> None:
        started.append(app.runs.spec.model)
        start()
        if len(started) == len(MODEL_NAMES) + 1:  # the second sequence's first run: "s" now
            app.simulate_key("s")

    app.runs.start = start_and_note
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("a")
        assert app.query_one("#results", ResultsPane).display
        for _ in range(300):
            await pilot.pause(0.1)
            if len(app.runs.results.rows(app.runs.spec)) == len(MODEL_NAMES) and not app.runs.session.running:
                break
        rows = app.runs.results.rows(app.runs.spec)
        assert sorted(r["model"] for r in rows) == sorted(MODEL_NAMES)
        assert all(r["rounds"] == 1 for r in rows)
        assert started == list(MODEL_NAMES)  # in turn, sequential (the baseline) first
        assert app.runs.spec.model == MODEL_NAMES[-1] and app.runs.queue == []
        shown = str(app.query_one("#results-text").render())
        assert all(m in shown for m in MODEL_NAMES)
        times = [float(line.split()[0]) for line in app.query_one("#log").lines]
        assert times and times == sorted(times)  # the last run's event log, in time order
        # again, stopped during its first run: the sequence ends there
        await pilot.press("a")  # "s" follows as soon as its first run has started
        for _ in range(50):
            await pilot.pause(0.1)
            if not app.runs.session.running:
                break
        await pilot.pause(0.5)
        assert not app.runs.session.running and app.runs.queue == []
        assert len(started) < 2 * len(MODEL_NAMES)  # the second sequence did not run to its end
        # and it began a model later than the first, as compare's rounds do
        assert started[len(MODEL_NAMES)] == MODEL_NAMES[1]
        await pilot.press("q")
    ours = [p for p in me.children(recursive=True) if p.pid not in before]
    assert not psutil.wait_procs(ours, timeout=3)[1]


async def test_a_with_a_fault_set_or_too_many_tasks():
    app = ConcvizApp(RunSpec(model="threads", workload="io", tasks=4, fail_task=2).validate(), live_ticks=False)
    started: list[str] = []
    app.runs.start = lambda: started.append(app.runs.spec.model)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("a")
        assert started == []  # a fault run says nothing about a model's speed: not ranked, not run
        assert any("fault is set" in n.message for n in app._notifications)
        app.runs.change(model="pool", fail_task=None, tasks=100, workers=3)  # over the 64 processes allowed
        await pilot.press("a")
        assert started == ["sequential"]  # the first; the others follow as each run ends
        assert [s.model for s in app.runs.queue] == [m for m in models_for() if m not in ("sequential", "processes")]
        assert app.runs.spec.workers is None  # sequential has no pool...
        app.runs.run_next()
        assert started[-1] == "threads" and app.runs.spec.workers is None
        app.runs.run_next()
        assert started[-1] == "pool" and app.runs.spec.workers == 3  # ...but the pools keep the size chosen
