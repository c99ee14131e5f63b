"""The guard of a traced command: ends the command's process group once concviz is gone.

``concviz trace`` starts the command in a process group of its own and this guard beside it
(``python -m concviz.engine.sources.guard PGID FD``). ``FD`` is the read end of a pipe whose only
write end concviz holds and never writes: the read returns EOF exactly when concviz exits,
however it exits (SIGKILL included). The guard then ends the group (TERM, then KILL after a
grace period). It leaves on its own once the group is empty. The same idea as the experiment's
parent watch (concviz.engine.experiment.watch_parent), in a process of its own because the
traced command is any program, which cannot run a watcher thread for us.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

POLL_S = 0.5  # how often the guard checks that the group still has a process
GRACE_S = 1.0  # between TERM and KILL


def group_alive(pgid: int) -> bool:
    """Some process of group ``pgid`` still runs. A zombie does not count: an orphan that
    ended is reaped by PID 1, which in some containers never does it."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        names = os.listdir("/proc")
    except OSError:
        return True  # (no /proc: the signal's answer is all there is)
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def end_group(pgid: int, grace_s: float = GRACE_S) -> None:
    """TERM the group, then KILL what is left of it after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            if not group_alive(pgid):
                return
            time.sleep(0.05)


def guard(pgid: int, fd: int) -> None:
    """Wait for EOF on ``fd`` (concviz gone), then end group ``pgid``; return early if the
    group empties first."""
    while True:
        ready, _, _ = select.select([fd], [], [], POLL_S)
        if ready:
            try:
                data = os.read(fd, 1)
            except OSError:
                data = b""
            if not data:
                end_group(pgid)
                return
        elif not group_alive(pgid):
            return


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)  # only the pipe's EOF ends the guard's watch
    guard(int(argv[0]), int(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
