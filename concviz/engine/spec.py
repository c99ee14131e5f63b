"""RunSpec: what to run, and its validation (one clear line per mistake)."""

from __future__ import annotations

import difflib
import math
import multiprocessing
import os
from dataclasses import asdict, dataclass, field

from concviz.engine.workloads import WORKLOADS, WorkParams

MODEL_NAMES = ("sequential", "threads", "processes", "pool", "thread-pool", "process-pool", "asyncio", "interpreters")
POOL_MODELS = ("pool", "thread-pool", "process-pool")
PROCESS_MODELS = ("processes", "pool", "process-pool")
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
}
# (model, workload) -> a ceiling other than the model's own, for workloads whose tasks cost less
# (or more) than CPU work does
TASK_LIMIT_BY_WORKLOAD: dict[tuple[str, str], int] = {}
ALL_START_METHODS = ("fork", "spawn", "forkserver")  # what some platform offers
MAX_WORKERS = 64
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


class Unavailable(SpecError):
    """The experiment's Python cannot run the chosen model (see unavailable)."""


def unavailable(model: str, python: str | None = None) -> str:
    """Why the Python at ``python`` (None: this one) cannot run ``model``, in one line; "" when
    it can. Only the interpreters model needs more than CPython 3.10 (subinterpreters with a
    GIL of their own); bad paths raise SpecError (pythons.describe)."""
    if model != "interpreters":
        return ""
    from concviz.engine.pythons import describe
    from concviz.engine.subinterp import why_unavailable

    facts = describe(python)
    return why_unavailable(facts.version, facts.interpreters)


def models_for(python: str | None = None) -> tuple[str, ...]:
    """The models the Python at ``python`` can run, in the registry's order."""
    return tuple(m for m in MODEL_NAMES if not unavailable(m, python))


def task_limit(model: str, workload: str) -> int:
    """The most tasks a run of ``model`` on ``workload`` may have."""
    return TASK_LIMIT_BY_WORKLOAD.get((model, workload), MAX_TASKS[model])


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
    python: str | None = None  # the experiment's interpreter (an absolute path); None: this one
    faults: dict = field(default_factory=dict, repr=False)

    @property
    def has_pool(self) -> bool:
        return self.model in POOL_MODELS

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
        if self.workers is not None:
            if not self.has_pool:
                raise NotApplicable(
                    f"--workers is only for pool models ({', '.join(POOL_MODELS)}); "
                    f"{self.model!r} starts one worker per task"
                )
            check_number("workers", self.workers, 1, MAX_WORKERS, integer=True)
            self.workers = int(self.workers)
        check_number("scale", self.scale, 0, MAX_SCALE, exclusive=True)
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
        if self.python is not None and (not isinstance(self.python, str) or not os.path.isabs(self.python)):
            raise SpecError(f"python must be an absolute path, got {self.python!r}")
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
        return self

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
