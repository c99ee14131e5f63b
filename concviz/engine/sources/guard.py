"""The guard of a traced command: starts it, and ends everything it started once concviz is done
with it or gone.

``concviz trace`` starts ``python -m concviz.engine.sources.guard ALIVE STATUS -- COMMAND...``
(in a session of its own), and the guard starts the command (in a session and process group of
its own). ``ALIVE`` is the read end of a pipe whose only write end concviz holds and never
writes: the read returns EOF exactly when concviz closes it or exits, however it exits (SIGKILL
included). ``STATUS`` is a pipe the guard writes lines to: ``started PID SPAWN_NS`` (or
``failed ERRNO`` when the command could not be started), and at the very end ``ended CODE``
(the command's exit status as :attr:`subprocess.Popen.returncode` has it).

Why the guard is the command's parent: the command exists only once the guard knows it (there
is no instant where concviz could die with the command started and nobody to end it), and the
guard is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process of the command that leaves
its process group (``setsid``) and whose parent exits (a daemon's double fork) is re-parented to
the guard, not to PID 1. So every process the command started, however it detached, stays a
descendant of the guard, and at EOF the guard ends exactly those: its descendants, found by
their parent links in ``/proc``, each signalled through a pidfd opened and checked against the
start time it was found with (a PID reused by another program is never signalled). Nothing is
reaped before the end (a traced process's last counters stay readable while it is a zombie);
at the end the guard reaps its children and leaves.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import sys
import threading
import time
from typing import NamedTuple

GRACE_S = 1.0  # between TERM and KILL
PR_SET_CHILD_SUBREAPER = 36


class Proc(NamedTuple):
    """A process as ``/proc/PID/stat`` shows it."""

    pid: int
    ppid: int
    start: int  # clock ticks after boot: with the PID, names one process for good
    zombie: bool


def read_proc(pid: int) -> Proc | None:
    """The process ``pid`` (None if there is none)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return Proc(pid, int(fields[1]), int(fields[19]), fields[0] in (b"Z", b"X"))


def descendants(root: int) -> list[Proc]:
    """Every process below ``root`` in the process tree, parents before their children."""
    children: dict[int, list[Proc]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            p = read_proc(int(name))
            if p is not None:
                children.setdefault(p.ppid, []).append(p)
    out, todo = [], [root]
    while todo:
        for p in children.get(todo.pop(), ()):
            out.append(p)
            todo.append(p.pid)
    return out


def signal_process(p: Proc, sig: int) -> bool:
    """Send ``sig`` to ``p`` if the PID still names that process (same start time); True if it
    was sent. Through a pidfd where the system has them: checked after it is opened, the pidfd
    cannot name another process, so a PID reused in between is never signalled."""
    pidfd = None
    try:
        pidfd = os.pidfd_open(p.pid)
    except ProcessLookupError:
        return False
    except (AttributeError, OSError):
        pass  # no pidfds here: the check and the kill are a moment apart
    try:
        now = read_proc(p.pid)
        if now is None or now.start != p.start:
            return False
        if pidfd is not None:
            signal.pidfd_send_signal(pidfd, sig)
        else:
            os.kill(p.pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False
    finally:
        if pidfd is not None:
            os.close(pidfd)


def end_descendants(root: int, grace_s: float = GRACE_S) -> None:
    """TERM every live descendant of ``root``, then KILL what is left after ``grace_s`` (both
    again and again while new ones appear: a process may fork while it is ended)."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        deadline = time.monotonic() + wait_s
        signalled: set[tuple[int, int]] = set()
        while True:
            live = [p for p in descendants(root) if not p.zombie]
            if not live:
                return
            for p in live:
                if (p.pid, p.start) not in signalled and signal_process(p, sig):
                    signalled.add((p.pid, p.start))
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)


def set_subreaper() -> bool:
    """Make this process its descendants' reaper of last resort (Linux 3.4+); True if it is."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_children(timeout_s: float = 5.0) -> None:
    """Reap every child this process has (the command's are re-parented here at its end), for
    up to ``timeout_s`` (a child stuck in the kernel may outlast a KILL)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() >= deadline:
                return
            time.sleep(0.02)  # a child still ending (killed a moment ago)


# --- concviz's side -----------------------------------------------------------------------------
class GuardedCommand:
    """A command started through a guard (concviz's handle on it).

    Args:
        argv: the command.
        start_timeout_s: how long to wait for the guard to say it started the command.
        **popen: stdin/stdout/stderr/cwd/env for the command (given to the guard, which passes
            them on).

    Raises:
        OSError: the command could not be started (its errno, as Popen would raise it), or the
            guard did not start.
    """

    def __init__(self, argv: list[str], *, start_timeout_s: float = 60.0, **popen) -> None:
        alive_r, self._alive_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            self.guard = subprocess.Popen(
                [sys.executable, "-m", "concviz.engine.sources.guard", str(alive_r), str(status_w), "--", *argv],
                pass_fds=(alive_r, status_w), start_new_session=True, **popen)
        except OSError:
            os.close(self._alive_w)
            os.close(status_r)
            raise
        finally:
            os.close(alive_r)
            os.close(status_w)
        self._status = os.fdopen(status_r, "rb")
        self._lock = threading.Lock()
        self.returncode: int | None = None
        line = self._line(start_timeout_s).split()
        if line[:1] != [b"started"]:
            self.end()
            self.wait(5.0)
            err = int(line[1]) if line[:1] == [b"failed"] else 0
            if err:
                raise OSError(err, os.strerror(err))
            raise OSError(0, "the guard process did not start the command")
        self.pid, self.spawn_ns = int(line[1]), int(line[2])

    def _line(self, timeout_s: float) -> bytes:
        ready, _, _ = select.select([self._status], [], [], timeout_s)
        return self._status.readline() if ready else b""

    def end(self) -> None:
        """Let the guard go: it ends every process the command started, then the command's
        status is known (:meth:`wait`). Returns at once; calling it again does nothing."""
        with self._lock:  # (stop() and the trace's own end may both call it)
            w, self._alive_w = self._alive_w, None
        if w is not None:
            os.close(w)

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Wait for the guard to have ended everything (call :meth:`end` first); the command's
        exit status, or None if the guard did not finish in time."""
        if self.returncode is None and self._status is not None:
            line = self._line(timeout_s if timeout_s is not None else 1e9).split()
            if line[:1] == [b"ended"]:
                self.returncode = int(line[1]) if line[1].lstrip(b"-").isdigit() else None
                self._status.close()
                self._status = None
        try:
            self.guard.wait(timeout_s)
        except subprocess.TimeoutExpired:
            pass
        return self.returncode


def main(argv: list[str]) -> int:
    alive, status = int(argv[0]), int(argv[1])
    command = argv[3:] if argv[2:3] == ["--"] else argv[2:]
    set_subreaper()
    spawn_ns = time.perf_counter_ns()
    try:  # stdin, stdout and stderr are the guard's, as concviz set them
        proc = subprocess.Popen(command, start_new_session=True, close_fds=True)
    except OSError as exc:
        os.write(status, f"failed {exc.errno or 0}\n".encode())
        return 0
    # ignored only now: an ignored signal would stay ignored in the command
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # only the pipe's EOF ends the guard's watch
    os.write(status, f"started {proc.pid} {spawn_ns}\n".encode())
    while True:
        try:
            if not os.read(alive, 1):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    end_descendants(os.getpid())
    try:
        code: int | str = proc.wait(5.0)
    except subprocess.TimeoutExpired:
        code = "unknown"
    reap_children()
    try:
        os.write(status, f"ended {code}\n".encode())
    except OSError:
        pass  # concviz is gone
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
