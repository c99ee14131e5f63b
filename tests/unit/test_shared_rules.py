"""Rules kept in one place and used by the app and the CLI alike: the per-model task ceiling
(spec.task_limit), the typed errors that tell "not for this model" from a mistake, and the order
of a comparison's rounds (ranking.round_order)."""

from __future__ import annotations

import pytest

from concviz import cli, ranking
from concviz.engine import spec as spec_module
from concviz.engine.spec import (
    MAX_TASKS,
    MODEL_NAMES,
    NotApplicable,
    OverTaskLimit,
    RunSpec,
    SpecError,
    task_limit,
)
from concviz.engine.workloads import WORKLOADS


def test_task_limit_is_the_models_ceiling_unless_the_workload_has_its_own(monkeypatch):
    for model in MODEL_NAMES:
        for workload in WORKLOADS:
            expected = spec_module.TASK_LIMIT_BY_WORKLOAD.get((model, workload), MAX_TASKS[model])
            assert task_limit(model, workload) == expected
    monkeypatch.setitem(spec_module.TASK_LIMIT_BY_WORKLOAD, ("threads", "io"), 5000)
    assert task_limit("threads", "io") == 5000
    assert task_limit("threads", "cpu") == MAX_TASKS["threads"]


def test_the_ceilings_of_issue_12():
    """Threads and asyncio hold 10,000 waiting tasks (asyncio 100,000 sleeps); CPU work keeps
    the model's own ceiling; processes stay at 64 and the pools as they were, on every workload."""
    for workload in ("io", "net", "net-fast", "net-slow"):
        assert task_limit("threads", workload) == 10_000
    assert task_limit("asyncio", "io") == 100_000
    for workload in ("net", "net-fast", "net-slow", "cpu"):
        assert task_limit("asyncio", workload) == 10_000
    assert task_limit("threads", "cpu") == task_limit("threads", "mixed") == 1000
    for workload in WORKLOADS:
        assert task_limit("processes", workload) == 64
        for pool in ("pool", "thread-pool", "process-pool"):
            assert task_limit(pool, workload) == MAX_TASKS[pool] == 10_000


def test_validate_reads_the_ceiling_of_the_workload(monkeypatch):
    monkeypatch.setitem(spec_module.TASK_LIMIT_BY_WORKLOAD, ("threads", "io"), 5000)
    RunSpec(model="threads", workload="io", tasks=5000).validate()
    with pytest.raises(OverTaskLimit, match="tasks must be at most 1000 under threads, got 5000"):
        RunSpec(model="threads", workload="cpu", tasks=5000).validate()


@pytest.mark.parametrize("fields, error", [
    ({"model": "processes", "tasks": 65}, OverTaskLimit),
    ({"model": "threads", "kill_task": 0}, NotApplicable),
    ({"model": "asyncio", "workers": 2}, NotApplicable),
])
def test_errors_that_depend_on_the_model_have_their_own_type(fields, error):
    with pytest.raises(error):
        RunSpec(**fields).validate()


@pytest.mark.parametrize("fields", [
    {"model": "processes", "tasks": 0},
    {"model": "processes", "tasks": 2, "kill_task": 7},
    {"scale": 0},
])
def test_mistakes_are_plain_spec_errors(fields):
    with pytest.raises(SpecError) as caught:
        RunSpec(**fields).validate()
    assert not isinstance(caught.value, (NotApplicable, OverTaskLimit))


def test_compare_skips_by_the_type_of_the_error(monkeypatch, capsys):
    """compare leaves out a model a setting does not apply to, whatever the message says, and
    runs the others."""
    seen = {}

    def fake_compare(specs, skipped, **_):
        seen.update(specs=sorted(specs), skipped=dict(skipped))
        return 0

    monkeypatch.setattr(ranking, "compare", fake_compare)
    monkeypatch.setitem(spec_module.MAX_TASKS, "threads", 5)
    assert cli.main(["compare", "--models", "threads,asyncio,processes", "-n", "6", "--kill-task", "1"]) == 0
    assert seen["specs"] == ["processes"]
    assert set(seen["skipped"]) == {"threads", "asyncio"}
    assert "at most 5 under threads" in seen["skipped"]["threads"]
    assert "needs a process model" in seen["skipped"]["asyncio"]


def test_compare_refuses_a_mistake_instead_of_skipping_every_model(capsys):
    assert cli.main(["compare", "-n", "2", "--kill-task", "7"]) == 2
    assert capsys.readouterr().err == "concviz: error: --kill-task 7 is outside the run (tasks are 0..1)\n"


def test_each_round_starts_a_model_later():
    models = ("sequential", "threads", "asyncio")
    assert ranking.round_order(models, 0) == ["sequential", "threads", "asyncio"]
    assert ranking.round_order(models, 1) == ["threads", "asyncio", "sequential"]
    assert ranking.round_order(models, 2) == ["asyncio", "sequential", "threads"]
    assert ranking.round_order(models, 3) == ranking.round_order(models, 0)
    assert ranking.round_order((), 5) == []
