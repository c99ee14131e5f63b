"""Every model's slide snippet runs as written: pasted into a file, run with this Python, it
exits 0 (issue 2: "the snippet must actually work if pasted into a file")."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys

import pytest

from concviz.engine.models import MODELS
from concviz.engine.spec import POOL_MODELS

TIMEOUT_S = 30


def pep734() -> bool:
    """The interpreters snippet's API is here: 3.14's concurrent.interpreters, or the backport
    (3.13)."""
    def found(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ImportError:
            return False

    return found("concurrent.interpreters") or (sys.version_info[:2] == (3, 13) and found("interpreters_backport"))


# what a snippet needs beyond this Python's standard library, and why it is not run without it
NEEDS = {"interpreters": (pep734, "needs concurrent.interpreters (3.14) or interpreters-pep-734 (3.13)"),
         "dask": (lambda: importlib.util.find_spec("distributed") is not None,
                  "needs Dask's distributed (pip install 'concviz[dask]')")}


def runnable(name: str) -> bool:
    check = NEEDS.get(name)
    return check is None or check[0]()


@pytest.fixture(scope="module")
def snippet_runs(tmp_path_factory):
    """Start every snippet at once (most of their time is sleeping), then collect them:
    name -> (returncode, stdout, stderr)."""
    folder = tmp_path_factory.mktemp("snippets")
    procs = {}
    for name, info in MODELS.items():
        if not runnable(name):
            continue
        script = folder / f"{name.replace('-', '_')}_demo.py"
        script.write_text(info.snippet)
        procs[name] = subprocess.Popen([sys.executable, str(script)], cwd=folder, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    results = {}
    try:
        for name, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=TIMEOUT_S)
                results[name] = (proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                results[name] = (None, out, f"timed out after {TIMEOUT_S} s\n{err}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


@pytest.mark.parametrize("name", list(MODELS))
def test_snippet_runs(name, snippet_runs):
    ast.parse(MODELS[name].snippet)  # a syntax error is reported as such, not as a failed run
    if not runnable(name):
        pytest.skip(f"{name}'s snippet {NEEDS[name][1]}; this is Python {sys.version.split()[0]}")
    code, out, err = snippet_runs[name]
    assert code == 0, f"{name} snippet failed:\n{err[-2000:]}"
    assert out.strip(), f"{name} snippet printed nothing: a slide demo should show something"


@pytest.mark.parametrize("name", list(MODELS))
def test_registry_entry_is_complete(name):
    info = MODELS[name]
    assert info.name == name
    assert info.title and info.explanation and info.snippet
    assert info.kind in ("sync", "thread", "process", "async", "interpreter")
    assert callable(info.runner)
    assert info.has_pool == (name in POOL_MODELS)  # the registry and RunSpec.has_pool agree
    lines = len(info.snippet.splitlines())
    assert lines <= 30, f"{name} snippet is {lines} lines: too long for a slide"
