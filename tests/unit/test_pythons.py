"""``--python PATH`` (issue 16): the experiment under another CPython while the CLI stays on
this one, with every Python this machine has (pyenv's; absent versions are skipped), and the
bad paths (no file, no program, no Python, too old: one line, exit 2).

The fake Pythons of the bad-input table live in test_bad_input.py; here the real ones run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from concviz.engine import pythons

from .helpers import children, pythons_here, wait_no_leftovers

HERE = pythons_here()
VERSIONS = ["3.10", "3.11", "3.12", "3.13"]


def concviz(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    already = children()
    done = subprocess.run([sys.executable, "-m", "concviz", *args], capture_output=True, text=True,
                          timeout=timeout)
    assert not wait_no_leftovers(before=already), "the command left processes behind"
    return done


def python(version: str) -> str:
    if version not in HERE:
        pytest.skip(f"no CPython {version} here")
    return HERE[version]


@pytest.mark.parametrize("version", VERSIONS)
def test_describe_tells_what_a_python_is_and_has(version):
    facts = pythons.describe(python(version))
    assert facts.version.startswith(version + ".") and facts.implementation == "CPython"
    assert facts.gil is True and facts.free_threaded_build is False  # (no free-threaded build here)
    # an interpreter with its own GIL from 3.12 on (PEP 684), whichever API offers it
    assert bool(facts.interpreters) == (version >= "3.12"), facts
    assert pythons.describe(python(version)) is facts  # asked once, then remembered


@pytest.mark.parametrize("version", VERSIONS)
def test_run_under_each_python(version):
    """The experiment runs under that Python from this package's source (nothing installed in
    it: pyenv's Pythons have no psutil, which the experiment does not need), and --json says
    which Python it was."""
    path = python(version)
    has_psutil = subprocess.run([path, "-c", "import psutil"], capture_output=True).returncode == 0
    done = concviz("run", "--python", path, "-m", "threads", "-w", "cpu", "-n", "2", "--scale", "0.05", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["python"]["version"] == pythons.describe(path).version
    assert out["python"]["executable"] == path
    assert out["python"]["gil_enabled"] is True and out["python"]["free_threaded_build"] is False
    assert out["done"] == 2 and out["failed"] == 0
    # every figure is there, psutil or not (the sampler runs in this process, not that one)
    assert out["per_core"] and out["per_task"][0]["cpus"], (has_psutil, out)


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_the_interpreters_model_under_3_12_and_3_13(version):
    done = concviz("run", "--python", python(version), "-m", "interpreters", "-w", "cpu", "-n", "4", "--scale", "0.2",
                   "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["done"] == 4 and out["failed"] == 0 and out["gil_switches"] == 0
    assert len({t["pid"] for t in out["per_task"]}) == 1  # one process
    assert all(t["spawn_ms"] > 0 for t in out["per_task"])  # each interpreter's start cost


@pytest.mark.parametrize("version", ["3.10", "3.11"])
def test_the_interpreters_model_is_refused_before_3_12_in_one_line(version):
    path = python(version)
    done = concviz("run", "--python", path, "-m", "interpreters")
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("concviz: error: the interpreters model needs Python 3.12 or newer")
    assert f"this is Python {pythons.describe(path).version}" in line


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.9"])
def test_a_python_too_old_is_refused_in_one_line(version):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = sorted(p for p in (os.path.join(root, "versions", d, "bin", "python")
                               for d in (os.listdir(os.path.join(root, "versions"))
                                         if os.path.isdir(os.path.join(root, "versions")) else ())
                               if d.startswith(version + ".")) if os.access(p, os.X_OK))
    if not found:
        pytest.skip(f"no Python {version} here")
    done = concviz("run", "--python", found[-1])
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert f"Python {version}." in line and "is too old: the experiment needs 3.10 or newer" in line


def test_compare_ranks_the_same_models_across_pythons():
    """Rows labelled by model and Python; a model one of them cannot run is skipped in one line."""
    old, new = python("3.11"), python("3.13")
    done = concviz("compare", "--python", old, "--python", new, "--models", "threads,interpreters", "-w", "io",
                   "-n", "2", "--scale", "0.1", "--rounds", "1", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    v_old, v_new = pythons.describe(old).version, pythons.describe(new).version
    labels = {r["label"] for r in out["rows"]}
    assert labels == {f"threads@{v_old}", f"threads@{v_new}", f"interpreters@{v_new}"}
    assert {(r["model"], r["python"]) for r in out["rows"]} == {("threads", v_old), ("threads", v_new),
                                                                  ("interpreters", v_new)}
    assert list(out["skipped"]) == [f"interpreters@{v_old}"] and out["pythons"] == [v_old, v_new]
    assert "needs Python 3.12 or newer" in out["skipped"][f"interpreters@{v_old}"]
    table = concviz("compare", "--python", old, "--python", new, "--models", "threads", "-w", "io", "-n", "2",
                    "--scale", "0.1", "--rounds", "1")
    assert table.returncode == 0, table.stderr
    assert f"Python {v_old}, {v_new}" in table.stdout
    assert f"threads@{v_old}" in table.stdout and f"threads@{v_new}" in table.stdout


def test_the_engine_reaches_another_python_by_its_path():
    env = pythons.engine_env({"PYTHONPATH": "/somewhere"})
    assert env["PYTHONPATH"].split(os.pathsep) == [pythons.ROOT, "/somewhere"]
    assert os.path.isfile(os.path.join(pythons.ROOT, "concviz", "engine", "experiment.py"))


def test_compare_labels_each_python_by_what_it_is(monkeypatch):
    """3.13.0 and 3.13.0t are told apart; two Pythons of one version get #2."""
    facts = {"/a/python3.13": pythons.PythonFacts("/a/python3.13", "3.13.0"),
             "/b/python3.13t": pythons.PythonFacts("/b/python3.13t", "3.13.0", gil=False, free_threaded_build=True),
             "/c/python3.13": pythons.PythonFacts("/c/python3.13", "3.13.0")}
    monkeypatch.setattr(pythons, "describe", lambda path: facts[path])
    assert pythons.labelled(list(facts)) == {"/a/python3.13": "3.13.0", "/b/python3.13t": "3.13.0t",
                                                 "/c/python3.13": "3.13.0#2"}
