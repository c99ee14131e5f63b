"""What the outside view produces besides concviz events: the records a Timeline cannot hold yet.

A :class:`TraceBatch` is what one sweep added. Its ``events`` are ordinary concviz events
(:mod:`concviz.engine.events`: START, RUN, PROGRESS, SLEEP_OPEN, SLEEP, FINISH), which a
Timeline folds as they are. The rest is new data, for phase 2 of issue 15 to fold and draw:

* :class:`StateSpan`: every stretch a thread did not run, named: ``cpu`` (runnable, waiting for
  a CPU: measured, schedstat's second field), ``gil`` (waiting for the GIL, inferred), ``lock``
  (waiting on a lock, inferred), ``io`` (sleeping in I/O, inferred from the call; also sent as
  SLEEP events), ``other`` (blocked in another named call) and ``unknown`` (with the reason).
  Today a Timeline counts any time a thread neither runs nor sleeps as a GIL wait when a sibling
  ran, else a CPU wait: a lock wait would show as a GIL wait, and a GIL wait while the holder
  was preempted as a CPU wait. It needs a per-task list of these spans (or event kinds for
  them: WAIT with the state in ``info``), per-column shares of each state for the task lanes,
  legend entries saying "inferred", and figures (GIL wait, lock wait, CPU wait) that use them
  when a source provides them;
* :class:`GilSpan`: the inferred GIL holder over time, per process. The GIL lane today derives
  the holder from the RUN intervals of sibling threads; from outside, a GIL waiter's brief
  re-checks (it runs a few microseconds every switch interval, inside ``take_gil``) are RUN
  intervals too (laid out together, at most every 50 ms), which that lane would count as
  hand-offs. GilSpans leave them out, and are marked inferred;
* :class:`HolderAt`: the holder rule at each reading (or why there is none);
* :class:`Renamed`: a thread's name after its START (Python names threads after they start);
  a Timeline sets a task's label at START only;
* ``notes``: processes that came and went, for the event log.

Also for phase 2: tasks are threads, grouped by ``pid`` (a process lane per pid, its name from
the notes); a trace has no RunSpec, so a header for it (machine facts, the command, the sampler
rate) and a trace-file form for the spans are to be designed with the Timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from concviz.engine.sources.infer import Holder


class StateSpan(NamedTuple):
    """A stretch of a thread's time that it did not run, as the outside view names it."""

    task: int
    pid: int
    tid: int
    t0: int
    t1: int
    state: str  # one of infer.LABELS
    detail: str  # the system call, or why it is unknown
    inferred: bool


class GilSpan(NamedTuple):
    """A thread of ``pid`` ran while siblings waited on its GIL futex: it held the GIL
    (inferred)."""

    pid: int
    tid: int
    t0: int
    t1: int


class HolderAt(NamedTuple):
    """The GIL holder of ``pid`` at the instant of a reading (see infer.gil_holder)."""

    pid: int
    t_ns: int
    holder: Holder


class Renamed(NamedTuple):
    """A thread's name changed after its START (Python names threads after they start)."""

    task: int
    t_ns: int
    name: str


@dataclass
class TraceBatch:
    """What one sweep added."""

    t_ns: int = 0
    events: list = field(default_factory=list)
    spans: list = field(default_factory=list)
    gil: list = field(default_factory=list)
    holders: list = field(default_factory=list)
    renamed: list = field(default_factory=list)
    notes: list = field(default_factory=list)  # (t_ns, text): processes that came and went
