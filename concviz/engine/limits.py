"""What a run needs from this machine, checked before it starts: open files, threads, memory.

:func:`prepare` runs in the process that will start the experiment (the UI, or the CLI of
``concviz run``): the experiment and the loopback server inherit its limits. Where a soft limit
is too low and the hard one allows it, the soft one is raised to the hard one; where nothing
can be raised, the run is refused with one line saying what to change, never a traceback in
the middle of a run. The decisions are pure functions of the numbers (tested with made-up
machines); :func:`prepare` reads this machine's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

from concviz.engine.spec import POOL_MODELS, PROCESS_MODELS, SKIPPED_ERRORS, RunSpec

# Open files beyond the sockets: the interpreter's own, the run's pipes and lock file, the
# server's listening socket and control pipes, with room to spare.
FD_MARGIN = 64
PIPES_PER_PROCESS = 3
# Threads and processes beyond the tasks: the experiment, its watcher and pump threads, the
# server, a pool's own threads.
TASK_MARGIN = 16
# Memory mappings a thread adds (its stack and the guard page below it), and room to spare.
MAPS_PER_THREAD = 2
MAPS_MARGIN = 256
GB = 2**30
UNLIMITED = -1  # a Decision's raise_to: no limit at all


@dataclass(frozen=True)
class Needs:
    """What a run asks of the machine.

    Attributes:
        fds: open files in its busiest process (the experiment, or the server, which holds
            the other end of every connection open at once).
        threads: threads the run's processes add (each thread and each process is one task
            to the kernel).
        in_process_threads: threads added to one process (their stacks share its mappings).
    """

    fds: int
    threads: int
    in_process_threads: int


@dataclass(frozen=True)
class LimitCheck:
    """The outcome of :func:`prepare`.

    Attributes:
        problem: one line saying what to change, or None when the run can go.
        raised: what was raised to let it go, e.g. ``"open files: 1024 -> 524288"``.
    """

    problem: str | None = None
    raised: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.problem is None


def needs(model: str, tasks: int, pool_size: int | None = None, open_fds: int = 0,
          sockets: bool = True) -> Needs:
    """What ``tasks`` tasks need under ``model``.

    Args:
        pool_size: a pool's workers (default: the CPU count, as the pools do).
        open_fds: files this process holds already (the experiment inherits them).
        sockets: each task holds a connection (the net workloads).
    """
    workers = max(1, pool_size or os.cpu_count() or 1)
    if model == "sequential":
        at_once = 1
    elif model in POOL_MODELS:
        at_once = min(tasks, workers)
    else:  # threads, asyncio, processes: every task at once
        at_once = tasks
    if model in PROCESS_MODELS:
        threads, in_process = at_once, 0
        # the experiment holds a few pipes per worker process (its sentinel, its queues)
        experiment_fds = PIPES_PER_PROCESS * at_once
    elif model in ("asyncio", "sequential"):
        threads = in_process = 0
        experiment_fds = at_once if sockets else 0
    else:
        threads = in_process = at_once
        experiment_fds = at_once if sockets else 0
    # the server holds the other end of every connection open at once
    busiest = max(experiment_fds, at_once if sockets else 0)
    return Needs(busiest + open_fds + FD_MARGIN, threads + TASK_MARGIN, in_process)


# --- the decisions (pure) ------------------------------------------------------------------
def _limit_text(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


class Decision(NamedTuple):
    """Raise a soft limit to ``raise_to`` (None: leave it; UNLIMITED: no limit), or refuse the
    run with ``problem``."""

    raise_to: int | None = None
    problem: str | None = None


def decide_nofile(need: int, soft: int | None, hard: int | None, ceiling: int | None,
                  what: str) -> Decision:
    """Whether the open-files limit must rise, and to what; or why it cannot.

    Args:
        need: open files needed; soft/hard: the limits (None: unlimited); ceiling: what the OS
            accepts as a soft limit at most (Linux: fs.nr_open), None if unknown; what: the
            run, for the message.
    """
    if soft is None or need <= soft:
        return Decision()
    top = hard
    if ceiling is not None and (top is None or top > ceiling):
        top = ceiling
    if top is not None and top >= need:
        return Decision(raise_to=top)
    return Decision(problem=f"{what} needs about {need} open files; this shell allows {soft} (hard "
                            f"limit {_limit_text(hard)}): raise it with `ulimit -n {need}` (a hard "
                            f"limit needs root or limits.conf), or use fewer connections")


def decide_tasks(new: int, current_user: int, soft: int | None, hard: int | None, exempt: bool,
                 what: str) -> Decision:
    """The same for RLIMIT_NPROC: the user's threads and processes, all counted together
    (``exempt``: root, whom the kernel does not hold to it)."""
    need = current_user + new
    if exempt or soft is None or need <= soft:
        return Decision()
    if hard is None:
        return Decision(raise_to=UNLIMITED)
    if hard >= need:
        return Decision(raise_to=hard)
    return Decision(problem=f"{what} adds {new} threads to your {current_user}, and this shell "
                            f"allows {soft} in all (hard limit {hard}): raise it with "
                            f"`ulimit -u {need}`, or use fewer tasks")


def decide_machine(new: int, current: int, threads_max: int | None, pid_max: int | None,
                   what: str) -> str | None:
    """Whether the machine has room for ``new`` more threads (each also takes a pid)."""
    for limit, name in ((threads_max, "/proc/sys/kernel/threads-max"), (pid_max, "/proc/sys/kernel/pid_max")):
        if limit is not None and current + new > limit:
            return (f"{what} adds {new} threads to the {current} this machine runs, over its "
                    f"limit of {limit} ({name}): use fewer tasks, or raise it (as root)")
    return None


def decide_memory(threads: int, maps_now: int, max_maps: int | None, stack_bytes: int,
                  strict_overcommit: bool, commit_free: int | None, what: str) -> str | None:
    """Whether one process can map ``threads`` more thread stacks.

    Each stack is two mappings (stack and guard). Under strict overcommit (vm.overcommit_memory
    = 2) each also reserves its whole size up front, touched or not.
    """
    if threads <= 0:
        return None
    if max_maps is not None and maps_now + MAPS_PER_THREAD * threads + MAPS_MARGIN > max_maps:
        return (f"{what} maps {MAPS_PER_THREAD * threads} thread stacks and guards in one process, "
                f"over this machine's limit of {max_maps} mappings (/proc/sys/vm/max_map_count): "
                f"use fewer threads")
    if strict_overcommit and commit_free is not None and threads * stack_bytes > commit_free:
        return (f"{what} reserves {threads * stack_bytes / GB:.1f} GB of thread stacks and this "
                f"machine's strict overcommit leaves {commit_free / GB:.1f} GB: use fewer threads "
                f"or a smaller stack (`ulimit -s`)")
    return None


# --- this machine ----------------------------------------------------------------------------
def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _meminfo(key: str) -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def _machine_threads() -> int | None:
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        return None


def _user_tasks() -> int:
    """Threads of every process of this user (what RLIMIT_NPROC counts)."""
    import psutil

    uid = os.getuid()
    total = 0
    for p in psutil.process_iter(["uids", "num_threads"]):
        uids, n = p.info.get("uids"), p.info.get("num_threads")
        if uids is not None and uids.real == uid and n:
            total += n
    return total


def _open_fds() -> int:
    for path in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(path))
        except OSError:
            continue
    return 0


def _stack_bytes(resource) -> int:
    import threading

    size = threading.stack_size()
    if size:
        return size
    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return soft if soft != resource.RLIM_INFINITY else 8 * 2**20


def prepare(model: str, tasks: int, pool_size: int | None = None, sockets: bool = True) -> LimitCheck:
    """Make room for a run of ``tasks`` under ``model``, or say why there is none.

    Raises the soft limits of this process (which the experiment and its server inherit) where
    the run needs it and the hard limit allows it. Never raises an exception.

    Args:
        pool_size: a pool's workers; sockets: each task holds a connection (net workloads).
    """
    what = f"{tasks} {'connections' if sockets else 'tasks'} under {model}"
    try:
        import resource
    except ImportError:  # no rlimits to read (Windows): nothing to check or raise
        return LimitCheck()
    need = needs(model, tasks, pool_size, _open_fds(), sockets)
    raised: list[str] = []

    def limit(value: int) -> int | None:
        return None if value == resource.RLIM_INFINITY else value

    def apply(which: int, decision: Decision, name: str, flag: str, need_value: int) -> str | None:
        """Raise ``which`` as decided; the problem (one line) if it cannot be raised."""
        soft, hard = resource.getrlimit(which)
        target = resource.RLIM_INFINITY if decision.raise_to == UNLIMITED else decision.raise_to
        try:
            resource.setrlimit(which, (target, hard))
        except (ValueError, OSError) as exc:
            return (f"{what} needs about {need_value} {name}, and raising this shell's limit of "
                    f"{soft} failed ({exc}): try `ulimit {flag} {need_value}`")
        raised.append(f"{name}: {soft} -> {_limit_text(limit(target))}")
        return None

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    decision = decide_nofile(need.fds, limit(soft), limit(hard), _read_int("/proc/sys/fs/nr_open"), what)
    problem = decision.problem
    if problem is None and decision.raise_to is not None:
        problem = apply(resource.RLIMIT_NOFILE, decision, "open files", "-n", need.fds)
    if problem:
        return LimitCheck(problem, tuple(raised))

    nproc = getattr(resource, "RLIMIT_NPROC", None)
    if nproc is not None:
        soft, hard = resource.getrlimit(nproc)
        exempt = os.geteuid() == 0
        current = 0 if exempt or soft == resource.RLIM_INFINITY else _user_tasks()
        decision = decide_tasks(need.threads, current, limit(soft), limit(hard), exempt, what)
        problem = decision.problem
        if problem is None and decision.raise_to is not None:
            problem = apply(nproc, decision, "threads and processes", "-u", current + need.threads)
        if problem:
            return LimitCheck(problem, tuple(raised))

    machine = _machine_threads()
    if machine is not None:
        problem = decide_machine(need.threads, machine, _read_int("/proc/sys/kernel/threads-max"),
                                 _read_int("/proc/sys/kernel/pid_max"), what)
        if problem:
            return LimitCheck(problem, tuple(raised))

    try:
        with open("/proc/self/maps") as f:
            maps_now = sum(1 for _ in f)
    except OSError:
        maps_now = 0
    commit_limit, committed = _meminfo("CommitLimit"), _meminfo("Committed_AS")
    commit_free = commit_limit - committed if commit_limit is not None and committed is not None else None
    problem = decide_memory(need.in_process_threads, maps_now, _read_int("/proc/sys/vm/max_map_count"),
                            _stack_bytes(resource), _read_int("/proc/sys/vm/overcommit_memory") == 2,
                            commit_free, what)
    return LimitCheck(problem, tuple(raised))


def prepare_run(spec: RunSpec) -> LimitCheck:
    """:func:`prepare` for a validated RunSpec (its tasks hold connections on a net workload)."""
    return prepare(spec.model, spec.tasks, spec.pool_size, sockets=spec.is_net)


def runnable_specs(models: Sequence[str], make: Callable[[str], RunSpec]) -> tuple[dict[str, RunSpec], dict[str, str]]:
    """The validated spec of each model (``make(model)``) that can run here, and why each of the
    others cannot: it does not apply, is over its ceiling, would outlast its time limit, or
    needs more of this machine than its limits allow. They sit out; the others still run
    (``concviz compare``, ``advise``, the TUI's ``a``)."""
    specs, skipped = {}, {}
    for m in models:
        try:
            spec = make(m)
        except SKIPPED_ERRORS as exc:
            skipped[m] = str(exc)
            continue
        check = prepare_run(spec)
        if check.ok:
            specs[m] = spec
        else:
            skipped[m] = check.problem
    return specs, skipped
