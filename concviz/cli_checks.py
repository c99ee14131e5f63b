"""What a command checks before it does any work, and the guard a headless run goes under.

The checks (an output path, a folder to save into, the machine's limits) refuse bad input in
one line (SpecError) before anything runs; :class:`SignalStop` turns ctrl+c, SIGTERM and SIGHUP
into a cancel of the run, so that nothing it started outlives concviz.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from concviz.engine.spec import SpecError


class Stopped(Exception):
    """A signal (ctrl+c, SIGTERM, SIGHUP) stopped a headless run; the run was cancelled."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


class SignalStop:
    """While active, SIGINT / SIGTERM / SIGHUP set ``event`` instead of killing concviz.

    The experiment runs in its own session, so a terminal's ctrl+c or hang-up reaches only us:
    the pump sees the event within ~50 ms and cancels the experiment's whole process group
    (SIGTERM, then SIGKILL), so nothing outlives concviz. (SIGKILL of concviz itself is covered
    by the experiment's parent watchdog.)
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
        self.event.set()

    def __enter__(self) -> "SignalStop":
        for sig in STOP_SIGNALS:
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except (ValueError, OSError):  # not the main thread: leave the defaults alone
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)

    def check(self) -> None:
        """Raise :class:`Stopped` if a signal arrived."""
        if self.signum is not None:
            raise Stopped(self.signum)


def check_limits(spec) -> None:
    """Make room for the run on this machine (raise a soft limit), or refuse it in one line."""
    from concviz.engine.limits import prepare_run

    check = prepare_run(spec)
    if not check.ok:
        raise SpecError(check.problem)


def check_writable(path: str) -> None:
    """Refuse an output path before any work is done (a run's --record, export's -o)."""
    if not path.strip():
        raise SpecError("output path is empty")
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise SpecError(f"cannot write {path}: it is a directory")
    if not os.path.isdir(folder):
        raise SpecError(f"cannot write {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise SpecError(f"cannot write {path}: permission denied")
    # os.access says yes to root everywhere, and knows nothing of read-only or virtual file
    # systems (/proc, /sys): only opening the file tells. Append mode leaves a file as it was.
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise SpecError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not existed:
        os.unlink(path)


def check_folder(path: str) -> None:
    """Refuse a folder to write traces into before any run (compare --save); it is made if
    its parent exists."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SpecError(f"cannot save into {path}: it is not a folder")
    if not os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise SpecError(f"cannot save into {path}: folder {parent} does not exist")
        try:
            os.mkdir(path)
        except OSError as exc:
            raise SpecError(f"cannot make {path}: {exc.strerror or exc}") from None
    probe = os.path.join(path, ".concviz-write-check")
    check_writable(probe)
