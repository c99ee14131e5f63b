"""Subinterpreters with a GIL of their own (PEP 684), through whatever API this Python has.

Tried in this order:

* ``concurrent.interpreters`` (Python 3.14, PEP 734);
* on 3.13, the PEP 734 backport from PyPI (``interpreters-pep-734``, concviz's ``interpreters``
  extra): the same API as 3.14's, a pure-Python layer over 3.13's own ``_interpreters``;
* ``_interpreters``, the module 3.13 itself ships;
* ``_xxsubinterpreters`` on 3.12 (3.10 and 3.11 have a module of that name too, but there every
  interpreter shares the one GIL: no use for running tasks in parallel). The backport's compiled
  module for 3.12 (``interpreters-3-12``) is never imported: built against other 3.12 internals,
  importing it on 3.12.1 kills the process (SIGSEGV).

Each is wrapped as a :class:`Backend` with three calls (create, run a script, close), so the
model runs every task the same way. Scripts, not functions, cross over: a script is text, which
every API takes, and it imports what it runs from an importable module (concviz.engine.subprobe).

This module only imports the standard library, so that :mod:`concviz.engine.pythons` can ask
another Python which of these it has.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from typing import Any, Callable

MIN_VERSION = (3, 12)  # PEP 684: an interpreter may have its own GIL from 3.12 on
EXTRA = "pip install 'concviz[interpreters]'"  # the backport (3.13), as an extra of concviz's
# the backport's import names (0.5.0 installs interpreters_backport; its page says _backports)
BACKPORT_MODULES = ("interpreters_backport.interpreters", "interpreters_backports.interpreters")


@dataclass(frozen=True)
class Backend:
    """One way to run code in an isolated interpreter.

    Attributes:
        name: what it is, for a user ("concurrent.interpreters", "_interpreters", ...).
        create: makes an interpreter (with its own GIL) and returns a handle to it.
        run: ``run(handle, script)`` executes ``script`` in it, blocking the calling thread
            (not the caller's interpreter: other threads run meanwhile); returns None, or one
            line saying what the script raised.
        close: destroys the interpreter.
    """

    name: str
    create: Callable[[], Any]
    run: Callable[[Any, str], "str | None"]
    close: Callable[[Any], None]


def _one_line(type_name: str, message: str) -> str:
    text = f"{type_name}: {message}" if message else type_name
    return " ".join(text.split())


def _pep734(module: Any, name: str) -> Backend:
    """concurrent.interpreters, or the backport of it: Interpreter objects, exec() raising
    ExecutionFailed."""

    def run(interp: Any, script: str) -> str | None:
        try:
            interp.exec(script)
        except module.ExecutionFailed as exc:
            info = exc.excinfo
            return _one_line(getattr(info.type, "__name__", str(info.type)), info.msg or "")
        return None

    return Backend(name, module.create, run, lambda interp: interp.close())


def _interpreters_313(module: Any) -> Backend:
    """3.13's _interpreters: ids; run_string returns None or a snapshot of the exception."""

    def run(interp: int, script: str) -> str | None:
        info = module.run_string(interp, script)
        if info is None:
            return None
        return _one_line(getattr(info.type, "__name__", str(info.type)), info.msg or "")

    return Backend("_interpreters", lambda: module.create("isolated"), run, module.destroy)


def _xxsubinterpreters_312(module: Any) -> Backend:
    """3.12's _xxsubinterpreters: ids; run_string raises RunFailedError("<class 'T'>: msg")."""

    def run(interp: int, script: str) -> str | None:
        try:
            module.run_string(interp, script)
        except module.RunFailedError as exc:
            text = str(exc)
            if text.startswith("<class '") and "'>" in text:  # "<class 'ValueError'>: boom"
                type_name, _, message = text[len("<class '"):].partition("'>")
                return _one_line(type_name.rsplit(".", 1)[-1], message.lstrip(": "))
            return _one_line(text, "")
        return None

    return Backend("_xxsubinterpreters", lambda: module.create(isolated=True), run, module.destroy)


def _try(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:  # (ModuleNotFoundError, or a backport for another Python version)
        return None


def find_backend(version: tuple[int, ...] | None = None) -> Backend | None:
    """The best way this Python offers to run an interpreter with its own GIL, or None.

    ``version`` stands for ``sys.version_info`` (tests ask as if on another version).
    """
    version = tuple(sys.version_info[:2] if version is None else version[:2])
    if version < MIN_VERSION:
        return None
    module = _try("concurrent.interpreters")
    if module is not None:
        return _pep734(module, "concurrent.interpreters")
    if version == (3, 13):
        for name in BACKPORT_MODULES:
            module = _try(name)
            if module is not None:
                return _pep734(module, "interpreters-pep-734")
        module = _try("_interpreters")
        if module is not None:
            return _interpreters_313(module)
    if version == (3, 12):
        module = _try("_xxsubinterpreters")
        if module is not None:
            return _xxsubinterpreters_312(module)
    return None


def why_unavailable(version: str, backend: str) -> str:
    """One line on why a Python of ``version`` (e.g. "3.11.7") with ``backend`` (a Backend's
    name, "" for none) cannot run the interpreters model; "" when it can."""
    if backend:
        return ""
    parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
    if parts < MIN_VERSION:
        return (f"the interpreters model needs Python 3.12 or newer (an interpreter with its own GIL, "
                f"PEP 684); this is Python {version}: choose one with --python PATH")
    if parts == (3, 13):
        return f"the interpreters model needs subinterpreters, which this Python {version} lacks: {EXTRA}"
    return f"the interpreters model needs subinterpreters: this Python {version} was built without them"
