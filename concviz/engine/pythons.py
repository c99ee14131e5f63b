"""Which Python runs the experiment: this one, or another CPython given with ``--python PATH``.

The experiment process can run under any CPython 3.10 or newer while the UI stays where it is.
Nothing is installed into that interpreter: concviz's own code reaches it through PYTHONPATH
(:func:`engine_env`, the one place that rule lives), and what it has is asked of it once, by
running it (:func:`describe`, cached): its version, whether it is a free-threaded build and
has the GIL on, which subinterpreter API it offers. The experiment needs no package of its own
(psutil is only used by the UI's process, to sample the experiment from outside).

Bad input is refused in one line (a SpecError): a path that is no executable, a program that is
no Python, a Python that is not CPython, or one older than 3.10.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

MIN_PYTHON = (3, 10)
DESCRIBE_TIMEOUT_S = 20.0
# the package root: the folder that holds concviz/, put first on the other Python's path
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Asked of another Python with ``-c``: written so that any Python answers (2.7 included), and
# only one new enough to run concviz imports it to report the rest.
_DESCRIBE = """\
import json, platform, sys
facts = {"version": platform.python_version(), "version_info": list(sys.version_info[:3]),
         "implementation": platform.python_implementation(), "executable": sys.executable}
if facts["implementation"] == "CPython" and tuple(sys.version_info[:2]) >= (3, 10):
    from concviz.engine.pythons import local_facts
    facts.update(local_facts())
sys.stdout.write("concviz-facts " + json.dumps(facts) + "\\n")
"""


@dataclass(frozen=True)
class PythonFacts:
    """What the experiment's Python is and has.

    Attributes:
        executable: its path.
        version: e.g. "3.13.0".
        implementation: "CPython" (anything else is refused).
        gil: the GIL is on (False only on a free-threaded build running without it).
        free_threaded_build: built with Py_GIL_DISABLED (3.13t), whether or not the GIL is on.
        interpreters: the subinterpreter API it offers (subinterp.Backend.name), "" for none.
        dask: the version of Dask's distributed scheduler it can import, "" for none.
    """

    executable: str
    version: str
    implementation: str = "CPython"
    gil: bool = True
    free_threaded_build: bool = False
    interpreters: str = ""
    dask: str = ""

    @property
    def label(self) -> str:
        """"3.13.0", or "3.13.0t" for a free-threaded build, as compare's rows name it."""
        return self.version + ("t" if self.free_threaded_build else "")

    def as_machine(self) -> dict[str, Any]:
        """The facts in the form of a trace header's machine (for the title bar before a run)."""
        from concviz.engine.experiment import machine_info

        machine = machine_info()
        machine.update(python=self.version, implementation=self.implementation, gil=self.gil,
                       free_threaded_build=self.free_threaded_build, executable=self.executable)
        return machine


def local_facts() -> dict[str, Any]:
    """This interpreter's facts beyond its version (run here, or inside the Python described)."""
    from concviz.engine.experiment import machine_info
    from concviz.engine.subinterp import find_backend

    machine = machine_info()
    backend = find_backend()
    return {"gil": machine["gil"], "free_threaded_build": machine["free_threaded_build"],
            "interpreters": backend.name if backend else "", "dask": _distributed_version()}


def _distributed_version() -> str:
    """The version of the ``distributed`` package this interpreter would import ("" if none),
    read from its metadata: importing it takes a second."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        return ""
    from importlib import metadata

    try:
        return metadata.version("distributed")
    except metadata.PackageNotFoundError:
        return "?"


def engine_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a process that must import this very concviz (the experiment, under
    whichever Python): ``env`` (default os.environ) with the package root first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


_THIS: PythonFacts | None = None
_CACHE: dict[tuple[str, float], PythonFacts] = {}


def this_python() -> PythonFacts:
    """The facts of the Python running now (no process started)."""
    global _THIS
    if _THIS is None:
        _THIS = PythonFacts(executable=sys.executable, version=platform.python_version(),
                            implementation=platform.python_implementation(), **local_facts())
    return _THIS


def resolve(path: str) -> str:
    """``path`` as an absolute path: a bare name ("python3.13") is looked up on PATH."""
    from concviz.engine.spec import SpecError

    if not path or not path.strip():
        raise SpecError("--python is empty: give the path of a CPython 3.10+ executable")
    if os.sep not in path:
        found = shutil.which(path)
        if found is None:
            raise SpecError(f"--python {path}: no such command on PATH")
        path = found
    return os.path.abspath(path)


def describe(python: str | None) -> PythonFacts:
    """The facts of ``python`` (an absolute path; None: this one), asked of it once per file
    version; SpecError (one line) when it is not a CPython 3.10+ executable."""
    from concviz.engine.spec import SpecError

    # the same path, not the same file: a venv's python is a link to its base Python's, with
    # other packages on its path
    if python is None or os.path.abspath(python) == os.path.abspath(sys.executable):
        return this_python()
    if not os.path.exists(python):
        raise SpecError(f"--python {python}: no such file")
    if os.path.isdir(python) or not os.access(python, os.X_OK):
        raise SpecError(f"--python {python}: not an executable file")
    key = (os.path.realpath(python), os.stat(python).st_mtime)
    if key not in _CACHE:
        _CACHE[key] = _ask(python)
    return _CACHE[key]


def _ask(python: str) -> PythonFacts:
    from concviz.engine.spec import SpecError

    try:
        out = subprocess.run([python, "-c", _DESCRIBE], capture_output=True, text=True, env=engine_env(),
                             stdin=subprocess.DEVNULL, timeout=DESCRIBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise SpecError(f"--python {python}: gave no answer in {DESCRIBE_TIMEOUT_S:g} s") from None
    except OSError as exc:
        raise SpecError(f"--python {python}: cannot run it ({exc.strerror or exc})") from None
    line = next((x for x in out.stdout.splitlines() if x.startswith("concviz-facts ")), None)
    try:
        facts = json.loads(line[len("concviz-facts "):]) if line else None
    except ValueError:
        facts = None
    if not isinstance(facts, dict) or "version" not in facts:
        raise SpecError(f"--python {python}: not a Python interpreter (run with -c, it did not tell its version)")
    version = str(facts["version"])
    implementation = str(facts.get("implementation"))
    if implementation != "CPython":
        raise SpecError(f"--python {python}: {implementation} {version}, not CPython (concviz's probe "
                        "and the GIL it shows are CPython's)")
    if tuple(facts.get("version_info", [0, 0])[:2]) < MIN_PYTHON:
        raise SpecError(f"--python {python}: Python {version} is too old: the experiment needs 3.10 or newer")
    if "gil" not in facts:
        last = (out.stderr.strip().splitlines() or [""])[-1][:200]
        raise SpecError(f"--python {python}: Python {version} could not load concviz's engine ({last})")
    return PythonFacts(executable=python, version=version, implementation=implementation,
                       gil=bool(facts["gil"]), free_threaded_build=bool(facts["free_threaded_build"]),
                       interpreters=str(facts.get("interpreters") or ""), dask=str(facts.get("dask") or ""))


def labelled(paths: list[str] | None) -> dict[str | None, str]:
    """The Pythons ``compare --python`` names (None: this one), each with the label its rows
    get ("threads@3.13.0"; "3.13.0t" for a free-threaded build, "3.13.0#2" for a second Python
    of one version). A bad one is a SpecError, before anything runs."""
    found: dict[str | None, str] = {}
    for path in paths or [None]:
        python = resolve(path) if path is not None else None
        if python not in found:
            label = describe(python).label
            same = sum(1 for other in found.values() if other.split("#")[0] == label)
            found[python] = f"{label}#{same + 1}" if same else label
    return found
