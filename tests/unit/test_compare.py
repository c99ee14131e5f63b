"""compare: every model in every round, in a rotating order; medians ranked, and models whose
ranges of wall time overlap share a rank (the measurement cannot tell them apart)."""

from __future__ import annotations

import json

import pytest

from concviz import ranking
from concviz.engine import experiment
from concviz.engine.spec import RunSpec


class FakeFrame:
    machine = {"python": "3.x", "cpus": 2}

    def __init__(self, wall: float, failed: int = 0) -> None:
        self.stats = {"wall_s": wall, "busy_s": wall, "parallelism": 1.0, "concurrency_max": 4,
                      "concurrency_mean": 2.0, "gil_switches": 10, "spawn_ms_median": None, "failed": failed}


def fake_runs(monkeypatch, walls: dict[str, list[float]], calls: list[str]) -> None:
    """run_to_frame gives each model its next wall time from ``walls`` and logs who ran."""
    left = {name: list(ws) for name, ws in walls.items()}

    def run_to_frame(spec, stop=None):
        calls.append(spec.model)
        wall = left[spec.model].pop(0)
        return FakeFrame(abs(wall), failed=int(wall < 0))  # a negative time: a run with a failure

    monkeypatch.setattr(experiment, "run_to_frame", run_to_frame)


def specs(*models: str) -> dict[str, RunSpec]:
    return {m: RunSpec(model=m, workload="cpu", tasks=4) for m in models}


def test_rounds_rotate_the_order_and_rank_medians_with_shared_ranks(monkeypatch, capsys):
    calls: list[str] = []
    fake_runs(monkeypatch, {"sequential": [2.0, 2.6, 2.1], "threads": [2.2, 2.0, 2.3],
                            "processes": [1.0, 1.1, 1.2], "asyncio": [3.0, 3.1, 2.9]}, calls)
    assert ranking.compare(specs("sequential", "threads", "processes", "asyncio"), {}, as_json=True) == 0
    # each round starts one model later, so a slow spell of the machine falls on different models
    assert calls == ["sequential", "threads", "processes", "asyncio",
                     "threads", "processes", "asyncio", "sequential",
                     "processes", "asyncio", "sequential", "threads"]
    out = json.loads(capsys.readouterr().out)
    assert out["rounds"] == 3
    rows = {r["model"]: r for r in out["rows"]}
    assert [r["model"] for r in out["rows"]] == ["processes", "sequential", "threads", "asyncio"]
    assert rows["sequential"]["wall_s"] == 2.1  # the median, not the first or the mean
    assert (rows["sequential"]["wall_min_s"], rows["sequential"]["wall_max_s"]) == (2.0, 2.6)
    assert rows["sequential"]["spread"] == pytest.approx(0.3 / 2.1)
    # threads (2.0-2.3) overlap sequential (2.0-2.6): one rank; asyncio (2.9-3.1) does not
    assert [rows[m]["rank"] for m in ("processes", "sequential", "threads", "asyncio")] == [1, 2, 2, 4]
    assert rows["sequential"]["speedup"] == pytest.approx(1.0)
    assert rows["processes"]["speedup"] == pytest.approx(2.1 / 1.1)
    assert "threads" in out["measured"] and "no measured difference" in out["measured"]


def test_table_marks_shared_ranks_and_the_spread(monkeypatch, capsys):
    fake_runs(monkeypatch, {"pool": [1.0, 1.2], "processes": [1.1, 1.3], "sequential": [2.0, 2.0]}, [])
    ranking.compare(specs("pool", "processes", "sequential"), {}, rounds=2)
    lines = capsys.readouterr().out.splitlines()
    row = {line.split()[1]: line.split() for line in lines if line.strip()[:1].isdigit()}
    assert row["pool"][0] == "1=" and row["processes"][0] == "1=" and row["sequential"][0] == "3"
    assert row["pool"][3] == "±9%"  # (1.2 - 1.0) / 2 / 1.1
    assert any("fastest were pool and processes" in line for line in lines)


def test_a_long_first_round_is_not_repeated_unless_asked(monkeypatch, capsys):
    calls: list[str] = []
    fake_runs(monkeypatch, {"sequential": [1.0] * 4}, calls)
    clock = iter([0.0, ranking.LONG_ROUND_S + 1])  # the first round "took" longer than the limit
    monkeypatch.setattr(ranking.time, "monotonic", lambda: next(clock))
    ranking.compare(specs("sequential"), {})
    assert calls == ["sequential"]
    assert "no spread measured" in capsys.readouterr().out
    calls.clear()
    clock = iter([0.0, ranking.LONG_ROUND_S + 1])
    ranking.compare(specs("sequential"), {}, rounds=3)  # asked for: repeated however long
    assert calls == ["sequential"] * 3


def test_progress_says_what_runs(monkeypatch, capsys):
    fake_runs(monkeypatch, {"threads": [1.0, 1.0]}, [])
    said: list[str] = []
    ranking.compare(specs("threads"), {}, rounds=2, progress=said.append)
    assert said == ["round 1/2: threads", "round 2/2: threads"]


def test_a_fastest_model_whose_tasks_failed_is_called_out(monkeypatch, capsys):
    fake_runs(monkeypatch, {"threads": [-0.4], "sequential": [2.0]}, [])  # threads: cut short
    ranking.compare(specs("threads", "sequential"), {}, as_json=True, rounds=1)
    out = json.loads(capsys.readouterr().out)
    assert out["fastest"] == "threads" and "but 1 of its tasks failed" in out["measured"]


def test_a_model_alone_is_not_called_the_fastest(monkeypatch, capsys):
    # e.g. compare --models processes,threads -n 100: processes is skipped, threads runs alone
    fake_runs(monkeypatch, {"threads": [1.5]}, [])
    ranking.compare(specs("threads"), {"processes": "tasks must be at most 64 under processes, got 100"},
                   as_json=True, rounds=1)
    out = json.loads(capsys.readouterr().out)
    assert out["measured"].startswith("only threads ran (1.500 s") and "fastest" not in out["measured"]
