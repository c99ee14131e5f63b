"""The experiment process, ``python -m concviz.engine.experiment_child SPEC FD ALIVE_FD LOCK``.

It runs one RunSpec and writes everything the run produces (the header, the workers' batches,
the summary) to the pipe ``FD``; :class:`concviz.engine.experiment.Experiment` starts it and
reads that pipe. It runs in a session of its own, so its workers are in its process group; if
the parent dies, however it dies, the whole group is killed (:func:`watch_parent`).

It never imports the UI.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection

from concviz.engine.experiment import machine_info
from concviz.engine.spec import RunSpec


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
    """Entry point of the experiment process; ``argv``: SPEC_JSON FD ALIVE_FD LOCK_PATH."""
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
