"""psutil sampling of the machine's cores and of the experiment's process tree.

Sampling is independent of the probe: per-core utilisation comes from the OS, so the cores pane
can show it next to the busy time the probe measured (and a mismatch would be visible).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

# psutil itself is imported when a run starts sampling: its import is start-up time that the
# start screen does not need

RESCAN_EVERY = 4  # samples between two searches for the experiment's processes (2 s)


@dataclass(frozen=True)
class Sample:
    """One reading: per-core % (whole machine) and the experiment tree's resources."""

    per_cpu: tuple[float, ...] = ()
    rss_bytes: int = 0
    threads: int = 0
    processes: int = 0
    ctx_switches: int = 0


@dataclass
class Sampler:
    """Samples every ``interval_s`` on a background thread while a run is live."""

    root_pid: int | None = None
    interval_s: float = 0.5
    latest: Sample = field(default_factory=Sample)
    peak_rss: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _procs: list | None = None
    _samples: int = 0
    _thread: threading.Thread | None = None

    def start(self) -> None:
        import psutil

        psutil.cpu_percent(percpu=True)  # prime: the first call has no interval to measure
        self._thread = threading.Thread(target=self._loop, name="concviz-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.latest = self.sample()

    def _tree(self) -> list[psutil.Process]:
        """The experiment's processes. Finding children scans every process on the machine
        (hundreds on a laptop), so the list is found again only every few samples; a process
        started in between is counted from the next scan."""
        import psutil

        self._samples += 1
        if self._procs is None or self._samples % RESCAN_EVERY == 1:
            try:
                root = psutil.Process(self.root_pid)
                self._procs = [root] + root.children(recursive=True)
            except psutil.Error:
                self._procs = []
        return self._procs

    def sample(self) -> Sample:
        import psutil

        per_cpu = tuple(psutil.cpu_percent(percpu=True))
        rss = threads = procs = ctx = 0
        if self.root_pid is not None:
            for p in self._tree():
                try:
                    with p.oneshot():
                        rss += p.memory_info().rss
                        threads += p.num_threads()
                        c = p.num_ctx_switches()
                        ctx += c.voluntary + c.involuntary
                        procs += 1
                except psutil.Error:
                    continue
        self.peak_rss = max(self.peak_rss, rss)
        return Sample(per_cpu, rss, threads, procs, ctx)
