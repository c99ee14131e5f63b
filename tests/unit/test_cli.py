"""The headless CLI, run as a user runs it: ``python -m concviz ...`` in a subprocess.

(A large table of bad inputs lives elsewhere; the few here prove the contract: exit 2, one
line, no traceback.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from concviz.engine.models import MODELS
from concviz.engine.spec import models_for

from .helpers import children, wait_no_leftovers

RUN_KEYS = ("model", "workload", "tasks", "wall_s", "busy_s", "parallelism", "concurrency_max",
            "concurrency_mean", "gil_switches", "switch_interval_ms", "run_interval_ms_median",
            "spawn_ms_median", "failed", "per_task", "per_core", "python")
TASK_KEYS = ("id", "pid", "tid", "status", "start_s", "end_s", "run_s", "sleep_s", "wait_s", "cpus")


def concviz(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    already = children()
    done = subprocess.run([sys.executable, "-m", "concviz", *args], capture_output=True,
                          text=True, timeout=timeout)
    assert not wait_no_leftovers(before=already), "the command left processes behind"
    return done


@pytest.fixture(scope="module")
def run_json():
    done = concviz("run", "-m", "thread-pool", "-w", "mixed", "-n", "5", "--workers", "2",
                   "--scale", "0.1", "--switch-interval", "2", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_run_json_has_every_field(run_json):
    missing = [k for k in RUN_KEYS if k not in run_json]
    assert not missing, f"missing from run --json: {missing}"
    assert run_json["model"] == "thread-pool" and run_json["workload"] == "mixed"
    assert run_json["tasks"] == 5  # a count, not the list
    assert run_json["failed"] == 0
    assert run_json["switch_interval_ms"] == pytest.approx(2.0)
    assert isinstance(run_json["python"], dict)
    assert {"version", "gil_enabled"} <= set(run_json["python"])
    assert run_json["wall_s"] > 0 and run_json["busy_s"] > 0
    assert run_json["parallelism"] == pytest.approx(run_json["busy_s"] / run_json["wall_s"], rel=1e-6)
    assert 1 <= run_json["concurrency_max"] <= 2  # two workers


def test_run_json_per_task_and_per_core(run_json):
    rows = run_json["per_task"]
    assert [r["id"] for r in rows] == list(range(5))
    for row in rows:
        missing = [k for k in TASK_KEYS if k not in row]
        assert not missing, f"missing from per_task: {missing}"
        assert row["status"] == "done"
        assert 0 <= row["start_s"] <= row["end_s"] <= run_json["wall_s"] + 1e-9
        assert row["run_s"] > 0 and row["sleep_s"] > 0 and row["wait_s"] >= 0
        assert isinstance(row["cpus"], list)
    assert len({r["tid"] for r in rows}) <= 2  # five tasks on a pool of two threads
    assert run_json["per_core"] and all({"cpu", "busy_s"} <= set(c) for c in run_json["per_core"])
    per_core = sum(c["busy_s"] for c in run_json["per_core"])
    assert per_core == pytest.approx(run_json["busy_s"], rel=1e-6)


def test_run_prints_a_readable_summary():
    done = concviz("run", "-m", "asyncio", "-w", "io", "-n", "3", "--scale", "0.05")
    assert done.returncode == 0, done.stderr
    for words in ("asyncio", "wall", "parallelism", "concurrency", "3 done, 0 failed"):
        assert words in done.stdout, words


def test_compare_ranks_every_model_by_wall_time():
    done = concviz("compare", "-w", "io", "-n", "4", "--scale", "0.1", "--rounds", "2", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    rows = result["rows"]
    # every model this Python can run, and one line for each it cannot (interpreters before 3.12)
    assert sorted(r["model"] for r in rows) == sorted(models_for())
    assert sorted(result["skipped"]) == sorted(set(MODELS) - set(models_for()))
    assert result["rounds"] == 2 and all(r["rounds"] == 2 for r in rows)
    walls = [r["wall_s"] for r in rows]
    assert walls == sorted(walls)
    assert all(r["wall_min_s"] <= r["wall_s"] <= r["wall_max_s"] for r in rows)
    assert result["fastest"] == rows[0]["model"]
    assert result["workload"] == "io" and result["tasks"] == 4
    assert all(r["failed"] == 0 for r in rows)
    by = {r["model"]: r for r in rows}
    assert by["sequential"]["speedup"] == pytest.approx(1.0)
    # overlapping all the waits beats waiting in turn (the pools, 2 workers here, sit in
    # between and close to sequential at this scale, so their rank is left alone)
    assert by["asyncio"]["speedup"] > 1.3 and by["threads"]["speedup"] > 1.3
    assert "asyncio" in result["rule_of_thumb"] and result["measured"]


BAD = [
    (["run", "-m", "thread"], "did you mean 'threads'"),
    (["run", "-n", "0"], "tasks"),
    (["run", "-m", "threads", "--workers", "2"], "--workers"),
    (["run", "--scale", "-1"], "scale"),
    (["run", "-m", "processes", "-n", "100000"], "at most"),
]


@pytest.mark.parametrize("args,words", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_exits_2_with_one_line(args, words):
    done = concviz(*args, timeout=30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert words in lines[0]
    assert done.stdout == ""
