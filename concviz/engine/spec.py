"""RunSpec: what to run, and its validation (one clear line per mistake)."""

from __future__ import annotations

import difflib
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass, field, replace

from concviz.engine.workloads import NET_PRESETS, NET_WORKLOADS, WORKLOADS, WorkParams

MODEL_NAMES = ("sequential", "threads", "processes", "pool", "thread-pool", "process-pool", "asyncio", "interpreters",
               "dask")
POOL_MODELS = ("pool", "thread-pool", "process-pool", "dask")
PROCESS_MODELS = ("processes", "pool", "process-pool", "dask")
# models whose Python needs a package beyond concviz's own, and the one line saying what to install
EXTRAS = {"dask": "the dask model needs Dask's distributed scheduler: pip install 'concviz[dask]'"}
THREAD_MODELS = ("threads", "thread-pool")
# Per-model ceilings on the number of tasks (read them through task_limit): enough for the scale
# demos, not enough to take the machine down (one OS process per task is heavy; asyncio tasks
# are cheap).
MAX_TASKS = {
    "sequential": 1000,
    "threads": 1000,
    "processes": 64,
    "pool": 10_000,
    "thread-pool": 10_000,
    "process-pool": 10_000,
    "asyncio": 10_000,
    "interpreters": 64,  # an interpreter per task: tens of MB each once the task's code is imported
    "dask": 1000,  # each task's events cross the scheduler: a few ms of its time per task
}
# (model, workload) -> a ceiling other than the model's own, for workloads whose tasks cost less
# (or more) than CPU work does: a thread that waits costs a stack and no CPU, an asyncio task that
# sleeps a few objects (one that holds a connection also holds a socket, hence 10,000)
TASK_LIMIT_BY_WORKLOAD: dict[tuple[str, str], int] = {
    **{("threads", w): 10_000 for w in ("io", *NET_WORKLOADS)},
    ("asyncio", "io"): 100_000,
}
DEFAULT_TASKS = 4  # the tasks of a run when none are given, unless its workload has a preset
MAX_LATENCY_MS = 60_000.0
MAX_REQUESTS = 100_000
ALL_START_METHODS = ("fork", "spawn", "forkserver")  # what some platform offers
MAX_WORKERS = 64
MAX_THREADS_PER_WORKER = 64
DASK_CONNECT_S = 3.0  # how long --scheduler's address is given to answer before the run is refused
MAX_SCALE = 100.0
MAX_SWITCH_MS = 1000.0
MAX_TIMEOUT_S = 3600.0
DEFAULT_TIMEOUT_S = 60.0


class SpecError(ValueError):
    """Bad input; its message is one line meant for the user."""


class NotApplicable(SpecError):
    """A setting that the chosen model has no use for (a pool size without a pool, a SIGKILL of
    a task's process where every task shares one process)."""


class OverTaskLimit(SpecError):
    """More tasks than the chosen model allows on the chosen workload (see task_limit)."""


class TooSlow(SpecError):
    """A run that cannot end within its time limit under the chosen model, whatever the machine
    (see net_floor_s): a pool of 2 workers on 2,000 one-second connections."""
class Unavailable(SpecError):
    """The experiment's Python cannot run the chosen model (see unavailable)."""


# what makes a model sit out a comparison rather than stop it: the others still run
SKIPPED_ERRORS = (NotApplicable, OverTaskLimit, TooSlow, Unavailable)


def scheduler_host_port(address: str) -> tuple[str, int]:
    """(host, port) of a Dask scheduler address ("tcp://host:8786", "host:8786", "host": port
    8786, Dask's default); SpecError for an address concviz cannot connect to."""
    rest = address.split("://", 1)[1] if "://" in address else address
    if "://" in address and not address.startswith("tcp://"):
        raise SpecError(f"--scheduler {address}: only tcp:// addresses are supported")
    host, sep, port = rest.rpartition(":") if rest.count(":") == 1 or rest.startswith("[") else ("", "", rest)
    if not sep:
        host, port = rest, "8786"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SpecError(f"--scheduler {address}: not an address (expected tcp://HOST:PORT)")
    return host, int(port)


def unavailable(model: str, python: str | None = None) -> str:
    """Why the Python at ``python`` (None: this one) cannot run ``model``, in one line; "" when
    it can. The interpreters model needs more than CPython 3.10 (subinterpreters with a GIL of
    their own), the models of an extra (EXTRAS) its package; bad paths raise SpecError
    (pythons.describe)."""
    if model not in EXTRAS and model != "interpreters":
        return ""
    from concviz.engine.pythons import describe

    facts = describe(python)
    if model in EXTRAS:
        return "" if facts.dask else EXTRAS[model]
    from concviz.engine.subinterp import why_unavailable

    return why_unavailable(facts.version, facts.interpreters)


def models_for(python: str | None = None) -> tuple[str, ...]:
    """The models the Python at ``python`` can run, in the registry's order."""
    return tuple(m for m in MODEL_NAMES if not unavailable(m, python))


def task_limit(model: str, workload: str) -> int:
    """The most tasks a run of ``model`` on ``workload`` may have."""
    return TASK_LIMIT_BY_WORKLOAD.get((model, workload), MAX_TASKS[model])


def default_tasks(workload: str) -> int:
    """The tasks of a run of ``workload`` when none are given: its preset's, else DEFAULT_TASKS."""
    preset = NET_PRESETS.get(workload)
    return preset.tasks if preset else DEFAULT_TASKS


def at_once(model: str, tasks: int, pool_size: int | None) -> int:
    """How many tasks ``model`` runs at the same time: one (sequential), the pool's size (at
    least: a dask worker may have several threads), or every task."""
    if model == "sequential":
        return 1
    if pool_size is not None:
        return min(tasks, pool_size)
    return tasks


def net_floor_s(model: str, tasks: int, pool_size: int | None, requests: int, latency_ms: float) -> float:
    """The least wall time a net run can take: its waves of connections (as many at once as
    the model runs), each waiting ``requests`` replies of ``latency_ms``."""
    waves = -(-tasks // at_once(model, tasks, pool_size))
    return waves * requests * latency_ms / 1000


def net_task_ceiling(model: str, pool_size: int | None, requests: int, latency_ms: float,
                     timeout_s: float) -> int | None:
    """The most connections a net run of ``model`` can hold and still end within
    ``timeout_s`` (see net_floor_s); None: no limit from time (every task runs at once)."""
    wave_s = requests * latency_ms / 1000
    if wave_s <= 0 or (model != "sequential" and pool_size is None):
        return None
    return int(timeout_s // wave_s) * (1 if model == "sequential" else pool_size)


def suggest(value: str, choices: tuple[str, ...]) -> str:
    """' (did you mean X?)' when a close name exists, else the list of choices."""
    close = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (choose from: {', '.join(choices)})"


def check_choice(kind: str, value: str | None, choices: tuple[str, ...]) -> str:
    if value is None or not str(value).strip():
        raise SpecError(f"{kind} is empty (choose from: {', '.join(choices)})")
    value = str(value).strip()
    if value not in choices:
        raise SpecError(f"unknown {kind} {value!r}{suggest(value, choices)}")
    return value


def check_number(name: str, value: float | int, low: float, high: float, *, integer: bool = False,
                 exclusive: bool = False, why_high: str = "",
                 too_high: type[SpecError] = SpecError) -> None:
    """Refuse non-numbers, NaN, infinities, values below ``low`` (or equal, if ``exclusive``)
    and values above ``high`` (``why_high``: what that ceiling depends on, said after it;
    ``too_high``: the error raised for those)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"{name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{name} must be a finite number, got {value}")
    if integer and int(value) != value:
        raise SpecError(f"{name} must be a whole number, got {value}")
    if value < low or (exclusive and value == low):
        bound = f"more than {low:g}" if exclusive else f"at least {low:g}"
        raise SpecError(f"{name} must be {bound}, got {value:g}")
    if value > high:
        raise too_high(f"{name} must be at most {high:g}{why_high}, got {value:g}")


@dataclass
class RunSpec:
    """One experiment: a model, a workload and its size, and the knobs around them."""

    model: str = "threads"
    workload: str = "cpu"
    tasks: int = 4
    workers: int | None = None
    scale: float = 1.0
    seed: int = 0
    switch_interval_ms: float | None = None
    start_method: str | None = None
    fail_task: int | None = None
    kill_task: int | None = None
    hang_task: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    latency_ms: float | None = None  # net workloads: the server's delay per reply (None: preset)
    requests: int | None = None  # net workloads: requests per connection (None: preset)
    kill_server: bool = False  # net workloads: the server is killed half-way through the run
    threads_per_worker: int | None = None  # dask: threads in each worker process (None: 1)
    scheduler: str | None = None  # dask: an existing cluster's scheduler address (None: a LocalCluster)
    python: str | None = None  # the experiment's interpreter (an absolute path); None: this one
    faults: dict = field(default_factory=dict, repr=False)

    @property
    def has_pool(self) -> bool:
        return self.model in POOL_MODELS

    @property
    def is_net(self) -> bool:
        return self.workload in NET_WORKLOADS

    @property
    def has_fault(self) -> bool:
        """A fault is injected (a task's, or the server's): the run does not measure the model."""
        return bool(self.faults) or self.kill_server

    @property
    def pool_size(self) -> int | None:
        if not self.has_pool:
            return None
        return self.workers or os.cpu_count() or 1

    def validate(self) -> "RunSpec":
        """Check every field; return self; raise SpecError with one clear line otherwise."""
        self.model = check_choice("model", self.model, MODEL_NAMES)
        self.workload = check_choice("workload", self.workload, WORKLOADS)
        check_number("tasks", self.tasks, 1, task_limit(self.model, self.workload), integer=True,
                     why_high=f" under {self.model}", too_high=OverTaskLimit)
        self.tasks = int(self.tasks)
        self._validate_dask()
        if self.workers is not None:
            if not self.has_pool:
                raise NotApplicable(
                    f"--workers is only for pool models ({', '.join(POOL_MODELS)}); "
                    f"{self.model!r} starts one worker per task"
                )
            check_number("workers", self.workers, 1, MAX_WORKERS, integer=True)
            self.workers = int(self.workers)
        check_number("scale", self.scale, 0, MAX_SCALE, exclusive=True)
        self._validate_net()
        check_number("seed", self.seed, 0, 2**31, integer=True)
        if self.switch_interval_ms is not None:
            check_number("switch interval (ms)", self.switch_interval_ms, 0, MAX_SWITCH_MS, exclusive=True)
        check_number("timeout (s)", self.timeout_s, 0, MAX_TIMEOUT_S, exclusive=True)
        if self.start_method is not None:
            methods = tuple(multiprocessing.get_all_start_methods())
            if str(self.start_method).strip() in ALL_START_METHODS and self.start_method not in methods:
                raise SpecError(f"start method {self.start_method!r} is not available on this platform "
                                f"(available: {', '.join(methods)})")
            self.start_method = check_choice("start method", self.start_method, methods)
        faults: dict[int, str] = {}
        for flag, kind in (("fail_task", "fail"), ("kill_task", "kill"), ("hang_task", "hang")):
            value = getattr(self, flag)
            if value is None:
                continue
            opt = "--" + flag.replace("_", "-")
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.tasks:
                raise SpecError(f"{opt} {value} is outside the run (tasks are 0..{self.tasks - 1})")
            if kind == "kill" and self.model not in PROCESS_MODELS:
                raise NotApplicable(
                    f"--kill-task needs a process model ({', '.join(PROCESS_MODELS)}): every "
                    f"{self.model!r} task runs in one process, and killing it would kill them all"
                )
            if value in faults:
                raise SpecError(f"task {value} is given two faults ({faults[value]} and {kind})")
            faults[value] = kind
        self.faults = faults
        if self.is_net:
            floor = net_floor_s(self.model, self.tasks, self.pool_size, self.requests, self.latency_ms)
            if floor > self.timeout_s:
                raise TooSlow(
                    f"{self.model} needs at least {floor:g} s for {self.tasks} connections "
                    f"({at_once(self.model, self.tasks, self.pool_size)} at a time, {self.requests} x "
                    f"{self.latency_ms:g} ms each), over its time limit of {self.timeout_s:g} s (--timeout)")
        if self.python is not None and (not isinstance(self.python, str) or not os.path.isabs(self.python)):
            raise SpecError(f"python must be an absolute path, got {self.python!r}")
        return self

    def check_reachable(self) -> "RunSpec":
        """Refuse a --scheduler address that does not answer within DASK_CONNECT_S (one line),
        before any run is started. Returns self."""
        if self.scheduler is None:
            return self
        import socket

        host, port = scheduler_host_port(self.scheduler)
        try:
            socket.create_connection((host, port), timeout=DASK_CONNECT_S).close()
        except OSError as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise SpecError(f"cannot reach the Dask scheduler at {self.scheduler}: {why}") from None
        return self

    def check_runnable(self) -> "RunSpec":
        """Check what :meth:`validate` cannot from the settings alone: the experiment's Python
        is a CPython 3.10+ (run once, then cached) and can run the model (Unavailable if not).
        Returns self."""
        from concviz.engine.pythons import describe

        describe(self.python)
        why = unavailable(self.model, self.python)
        if why:
            raise Unavailable(why)
        return self.check_reachable()

    def _validate_dask(self) -> None:
        """The dask model's own settings, refused for the other models."""
        for flag, value in (("--threads-per-worker", self.threads_per_worker), ("--scheduler", self.scheduler)):
            if value is not None and self.model != "dask":
                raise NotApplicable(f"{flag} is only for the dask model; {self.model!r} has no Dask workers")
        if self.threads_per_worker is not None:
            check_number("threads per worker", self.threads_per_worker, 1, MAX_THREADS_PER_WORKER, integer=True)
            self.threads_per_worker = int(self.threads_per_worker)
        if self.scheduler is not None:
            if not isinstance(self.scheduler, str) or not self.scheduler.strip():
                raise SpecError("--scheduler is empty: give an address such as tcp://10.0.0.5:8786")
            self.scheduler = self.scheduler.strip()
            scheduler_host_port(self.scheduler)  # (refuses what is no address)
            for flag, value in (("--workers", self.workers), ("--threads-per-worker", self.threads_per_worker)):
                if value is not None:
                    raise NotApplicable(f"{flag} is for the cluster concviz starts; the one at "
                                        f"{self.scheduler} has its own workers")

    def _validate_net(self) -> None:
        """The net workloads' own settings (their preset's where not given); refused elsewhere."""
        if not self.is_net:
            for flag, value in (("--latency", self.latency_ms), ("--requests", self.requests),
                                ("--kill-server", self.kill_server or None)):
                if value is not None:
                    raise NotApplicable(f"{flag} is only for the net workloads ({', '.join(NET_WORKLOADS)}); "
                                        f"{self.workload!r} talks to no server")
            return
        preset = NET_PRESETS[self.workload]
        if self.latency_ms is None:
            self.latency_ms = preset.latency_ms
        if self.requests is None:
            self.requests = preset.requests
        check_number("latency (ms)", self.latency_ms, 0, MAX_LATENCY_MS)
        self.latency_ms = float(self.latency_ms)
        check_number("requests", self.requests, 1, MAX_REQUESTS, integer=True)
        self.requests = int(self.requests)
        if not isinstance(self.kill_server, bool):
            raise SpecError(f"kill_server must be true or false, got {self.kill_server!r}")
        if self.scale != 1:
            raise NotApplicable(f"--scale is not for the net workloads (got {self.scale:g}): "
                                "--latency and --requests set their size")

    def for_model(self, model: str) -> "RunSpec":
        """These settings under ``model`` (a pool size chosen holds for every pool model),
        validated: what a comparison of every model runs.

        Raises:
            SpecError: the model cannot run them (see SKIPPED_ERRORS).
        """
        dask = model == "dask"
        return replace(self, model=model, workers=self.workers if model in POOL_MODELS else None,
                       threads_per_worker=self.threads_per_worker if dask else None,
                       scheduler=self.scheduler if dask else None, faults={}).validate()

    def work_params(self) -> WorkParams:
        return WorkParams(self.workload, self.tasks, float(self.scale), int(self.seed), dict(self.faults))

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("faults")
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "RunSpec":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "faults"}
        return cls(**known)
