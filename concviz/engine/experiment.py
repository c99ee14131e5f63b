"""Run a RunSpec in its own process and stream its events back.

The parent side (:class:`Experiment`) starts ``python -m concviz.engine.experiment`` as a child in
a new session (its own process group), handing it the write end of one pipe. Everything the run
produces comes back on that pipe. Worker processes are started by the experiment, inside its
process group, so cancelling is one ``killpg``. If the parent dies, however it dies, the
experiment kills its whole process group (:func:`watch_parent`: a second pipe, whose only write
end the parent holds, reads EOF).

The child side (:func:`main`) never imports the UI.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
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


def os_cpu_s() -> tuple[float, float]:
    """CPU seconds (user + system) the OS has accounted to this process, and to its children
    that have been waited for (joined worker processes); zeros where there is no getrusage."""
    try:
        import resource
    except ImportError:
        return 0.0, 0.0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


# --- child side --------------------------------------------------------------------------------
def watch_parent(fd: int, lock_path: str | None = None) -> None:
    """SIGKILL this process group (the experiment and every worker) once the parent is gone.

    ``fd`` is the read end of a pipe whose only write end is held by the parent, which never
    writes: the read returns EOF exactly when the parent exits, however it exits (SIGKILL
    included), or closes it. The thread sleeps in read() without the GIL, so it costs the
    measured threads nothing.

    Why not PR_SET_PDEATHSIG here: it fires when the parent *thread* that started the child
    exits, so a UI that starts runs from a short-lived thread would kill its own experiment;
    and it could be set too late (a parent killed during our imports goes unnoticed). The
    process-group kill also takes grandchildren along (forkserver children, the resource
    tracker, Pool workers), which a per-process death signal would not.
    """

    def watch() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            pass
        if lock_path:  # the parent would have removed the writers' lock file; it cannot now
            try:
                os.unlink(lock_path)
            except OSError:
                pass
        if os.getpgrp() == os.getpid():  # our own group (start_new_session): safe to kill it all
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="concviz-parent-watch", daemon=True).start()


def main(argv: list[str]) -> int:
    """Entry point of the experiment process: ``experiment SPEC_JSON FD ALIVE_FD LOCK_PATH``."""
    if len(argv) > 2:
        watch_parent(int(argv[2]), argv[3] if len(argv) > 3 else None)  # first: the parent may be gone
    from concviz.engine.models import MODELS
    from concviz.engine.models.base import RunContext, error_text
    from concviz.engine.probe import Recorder, Sink, WriterLock

    spec = RunSpec.from_dict(json.loads(argv[0])).validate()
    conn = Connection(int(argv[1]), readable=False)
    ctx = multiprocessing.get_context(spec.start_method)
    sink = Sink(conn, WriterLock(argv[3]))
    if spec.switch_interval_ms:
        sys.setswitchinterval(spec.switch_interval_ms / 1000)
    header = {
        "model": spec.model,
        "workload": spec.workload,
        "spec": spec.to_dict(),
        "machine": machine_info(ctx.get_start_method()),
        # False where each task thread runs its own interpreter: no GIL shared between them
        "threads_share_gil": MODELS[spec.model].shares_gil,
        "experiment_pid": os.getpid(),
        "t0_ns": time.perf_counter_ns(),
    }
    status, message = "ok", ""
    params = spec.work_params()
    watch = None
    if spec.is_net:  # the server first: the header names it (its memory is not the run's)
        from concviz.engine.net import ServerError
        from concviz.engine.server_watch import ServerWatch

        watch = ServerWatch(spec, sink)
        try:
            header["server"] = watch.start()
            params = dataclasses.replace(params, net=watch.params())
        except ServerError as exc:
            status, message = "error", str(exc)
    info = MODELS[spec.model]
    rc = RunContext(spec, params, sink, ctx, Recorder(sink))
    if status == "ok" and info.prepare is not None:  # a cluster to start: a cost the header tells
        try:
            facts = info.prepare(rc)
            # the processes the model started itself say how they were started
            header["machine"]["start_method"] = facts.pop("start_method", header["machine"]["start_method"])
            header.update(facts)
        except Exception as exc:  # noqa: BLE001
            status, message = "error", error_text(exc)
    sink.send(("H", header))
    rec = rc.rec
    # Everything made so far lives as long as the run. Frozen, the cyclic GC of a forked worker
    # leaves it alone instead of walking it (each object it touches is a page copied), so a
    # forked worker starts sooner. The Python docs recommend gc.freeze() before fork for the
    # same reason.
    gc.freeze()
    cpu0 = os_cpu_s()
    if status == "ok":
        try:
            if watch is not None:
                watch.watch()
            info.runner(rc)
        except Exception as exc:  # noqa: BLE001 - report, never a traceback on the user's screen
            status, message = "error", error_text(exc)
    rec.flush()
    # What the OS accounted during the model's run: an instrument concviz does not control,
    # for the fidelity benchmark (tests/bench) to check busy_s against.
    os_cpu = [round(b - a, 6) for a, b in zip(cpu0, os_cpu_s())]
    summary = {"status": status, "message": message, "t_ns": time.perf_counter_ns(),
               "os_cpu_s": {"self": os_cpu[0], "children": os_cpu[1]}}
    if watch is not None:
        summary["server"] = watch.stop()  # its CPU is its own: not in os_cpu_s
    sink.send(("D", summary))
    conn.close()
    sys.stdout.flush()
    # Hung daemon threads must not keep the process alive; the model already joined its workers.
    os._exit(0)


# --- parent side -------------------------------------------------------------------------------
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
                [self.spec.python or sys.executable, "-m", "concviz.engine.experiment", json.dumps(self.spec.to_dict()), str(w),
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

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
