"""Run a RunSpec in its own process and stream its events back.

:class:`Experiment` starts ``python -m concviz.engine.experiment_child`` (the experiment
process, experiment_child.py) in a new session (its own process group), handing it the write
end of one pipe. Everything the run produces comes back on that pipe. Worker processes are
started by the experiment, inside its process group, so cancelling is one ``killpg``. If this
side dies, however it dies, the experiment kills its whole process group
(:func:`concviz.engine.experiment_child.watch_parent`: a second pipe, whose only write end
this side holds, reads EOF).

Also here: the facts about this interpreter that both sides report (:func:`machine_info`).
"""

from __future__ import annotations

import atexit
import json
import multiprocessing
import os
import pickle
import platform
import select
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from multiprocessing.connection import Connection
from typing import Any, Callable

from concviz.engine.spec import RunSpec

KILL_GRACE_S = 0.5


def gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def machine_info(start_method: str | None = None) -> dict[str, Any]:
    """Facts about this interpreter and machine, for trace headers and the UI's title bar."""
    return {
        "cpus": os.cpu_count() or 1,
        "python": platform.python_version(),
        "executable": sys.executable,
        "implementation": platform.python_implementation(),
        "gil": gil_enabled(),
        # The build (3.13t: Py_GIL_DISABLED), not the state: a free-threaded build can run with
        # the GIL back on (PYTHON_GIL=1), and a run without the GIL is from such a build.
        "free_threaded_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")) or not gil_enabled(),
        "platform": sys.platform,
        "start_method": start_method or multiprocessing.get_start_method(allow_none=True)
        or multiprocessing.get_context().get_start_method(),
        "switch_interval_ms": sys.getswitchinterval() * 1000,
    }


class Experiment:
    """One run of a RunSpec in a child process, with its events streamed back: :meth:`start`
    it, then :meth:`pump` (or :meth:`pump_to_end`) hands each message to a callback.

    Args:
        spec: a validated RunSpec.
    """

    def __init__(self, spec: RunSpec) -> None:
        self.spec = spec
        self._lock_path = ""
        self.proc: subprocess.Popen | None = None
        self.reader: Connection | None = None
        self.header: dict[str, Any] | None = None
        self.summary: dict[str, Any] | None = None
        self.started_ns = 0
        self._stderr = tempfile.TemporaryFile()
        self._lock = threading.Lock()
        self.cancelled = False
        # Write end of the "parent alive" pipe (see watch_parent); never written, closed when the
        # experiment is over. Not inheritable, so other children of this process do not hold it.
        self._alive_w: int | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        from concviz.engine.pythons import engine_env

        r, w = os.pipe()
        env = engine_env()  # the child imports this very package, under whichever Python
        self.started_ns = time.perf_counter_ns()
        alive_r, self._alive_w = os.pipe()
        # the writers' lock file: made (and removed, in close) by this side, which outlives them
        fd, self._lock_path = tempfile.mkstemp(prefix="concviz-", suffix=".lock")
        os.close(fd)
        _LOCK_FILES.add(self._lock_path)
        try:
            self.proc = subprocess.Popen(
                [self.spec.python or sys.executable, "-m", "concviz.engine.experiment_child", json.dumps(self.spec.to_dict()), str(w),
                 str(alive_r), self._lock_path],
                pass_fds=(w, alive_r), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, start_new_session=True, env=env,
            )
        except BaseException:
            os.close(r)
            self._close_alive()
            raise
        finally:
            os.close(w)
            os.close(alive_r)
        self.reader = Connection(r, writable=False)

    def _close_alive(self) -> None:
        if self._alive_w is not None:
            os.close(self._alive_w)
            self._alive_w = None

    def pump(self, on_message: Callable[[str, Any], None], stop: threading.Event | None = None,
             timeout_s: float | None = None) -> str:
        """Read messages until the pipe closes; return how the run ended.

        Returns one of ``"ok"``, ``"error"``, ``"timeout"``, ``"cancelled"``, ``"crashed"``.
        Every message is handed to ``on_message(tag, payload)`` as it arrives.
        """
        assert self.reader is not None and self.proc is not None
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.spec.timeout_s)
        reader = self.reader
        loads = pickle.loads
        status = None
        # one poll object for the whole run (Connection.poll builds a selector on every call,
        # which would be most of this thread's cost when messages are few)
        poller = select.poll()
        poller.register(reader.fileno(), select.POLLIN)
        while True:
            if stop is not None and stop.is_set():
                self.cancel()
                status = "cancelled"
                break
            if time.monotonic() > deadline:
                self.kill()
                status = "timeout"
                break
            try:
                if not poller.poll(50):
                    if self.proc.poll() is None:
                        continue
                    # The experiment has exited but the pipe is still open: worker processes
                    # that outlived it (Pool workers have no death signal) hold its write end,
                    # so EOF would only come at the deadline. Everything the experiment wrote
                    # before it exited is readable now; kill the rest of its group, drain, stop.
                    self._kill_group_leftovers()
                    if not poller.poll(200):
                        break
                tag, payload = loads(reader.recv_bytes())
            except (EOFError, OSError):
                break
            if tag == "H":
                self.header = payload
                # the time limit is the run's: a cluster's start-up (already over) is not in it
                start = (payload.get("cluster") or {}).get("start_ns")
                if start:
                    deadline += (start[1] - start[0]) / 1e9
            elif tag == "D":
                self.summary = payload
                status = payload["status"]
            on_message(tag, payload)
        self.reap()
        if status is None:
            status = "cancelled" if self.cancelled else "crashed"
        return status

    def pump_to_end(self, on_message: Callable[[str, Any], None],
                    stop: threading.Event | None = None) -> tuple[str, str, int | None]:
        """Pump until the run is over, then close; return (status, message, stopped_ns).

        ``stopped_ns`` is when a run that did not end normally (time limit, cancel, crash) was
        given up on: the tasks it cut short end then, not at their last event, so wall time
        includes the wait. For a crashed run the message is the last line it wrote to stderr,
        read before close() discards it.
        """
        try:
            status = self.pump(on_message, stop=stop)
            stopped_ns = time.perf_counter_ns() if status != "ok" else None
            message = (self.summary or {}).get("message", "")
            if status == "crashed":
                lines = self.stderr_text().strip().splitlines()
                message = lines[-1] if lines else "the experiment process exited without a word"
        finally:
            self.close()
        return status, message, stopped_ns

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    def cancel(self) -> None:
        """Stop the run: SIGTERM the experiment's process group, SIGKILL what is left."""
        self.cancelled = True
        self.kill()

    def kill(self) -> None:
        proc = self.proc
        if proc is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            try:
                proc.wait(KILL_GRACE_S if sig == signal.SIGTERM else 2)
            except subprocess.TimeoutExpired:
                continue
        self._kill_group_leftovers()

    def _kill_group_leftovers(self) -> None:
        # Workers can outlive the experiment (which is the group leader) for a moment.
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def reap(self) -> None:
        """Wait for the experiment to exit and make sure nothing of its group is left."""
        if self.proc is None:
            return
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._kill_group_leftovers()
        self._close_alive()
        if self.reader is not None:
            self.reader.close()
            self.reader = None

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        self.reap()
        self._stderr.close()
        if self._lock_path:
            try:
                os.unlink(self._lock_path)
            except FileNotFoundError:
                pass
            _LOCK_FILES.discard(self._lock_path)
            self._lock_path = ""


# Writers' lock files of experiments not closed yet. A parent that exits without closing one (an
# unhandled error, or the pump's daemon thread stopped at interpreter exit after the experiment
# had already ended, so its own watcher is gone) still removes them on its way out.
_LOCK_FILES: set[str] = set()


@atexit.register
def _remove_lock_files() -> None:
    for path in list(_LOCK_FILES):
        try:
            os.unlink(path)
        except OSError:
            pass
    _LOCK_FILES.clear()


# run_to_frame lives in headless.py; callers import it from here too
from concviz.engine.headless import run_to_frame  # noqa: E402,F401
