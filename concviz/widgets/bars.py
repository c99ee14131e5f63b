"""One-line bars: title, controls, stats, caption and legend, and the footer of keys. Text only;
colours come from theme variables in markup, so every built-in theme works."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual import events
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from concviz.engine.frame import Frame
from concviz.engine.sampler import Sample
from concviz.engine.spec import RunSpec
from concviz.report import caption
from concviz.view import format_kb, format_time

if TYPE_CHECKING:
    from concviz.engine.models import ModelInfo


class KeyFooter(Footer):
    """Textual's footer, rebuilt once for however many changes of the bindings arrive before it
    gets to it. Textual's Footer queues a rebuild (every key widget removed and mounted again)
    on each signal: the focus moving, the terminal reporting focus, the screen stack changing.
    At start-up three arrive before the first rebuild runs, and with a dozen keys each rebuild
    delays the first complete screen."""

    _rebuild_queued = False
    BLANK = True  # only its keys draw (see main_screen.Band)

    def __init__(self, *, drop_first: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        # actions whose keys leave the footer, in this order, while the footer is too narrow
        # for all of them (their keys still work, and the help lists every key)
        self.drop_first = drop_first
        self.hidden: frozenset[str] = frozenset()  # actions whose keys it leaves out for now

    def hide(self, actions: frozenset[str]) -> None:
        """Leave out the keys of ``actions`` (a key that has nothing to act on yet; it still
        works, and says so)."""
        if actions != self.hidden:
            self.hidden = actions
            self.fit(self.size.width)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_queued:
            self._rebuild_queued = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        # this rebuild reads the bindings as they are now; a change from here on queues another
        self._rebuild_queued = False
        await self.recompose()
        self.fit(self.size.width)

    def on_resize(self, event: events.Resize) -> None:
        self.fit(event.size.width)

    def fit(self, width: int) -> None:
        """Show as many keys as fit in ``width`` cells, leaving out the ``drop_first`` ones
        first: a key cut in half ("f" without "Follow") says nothing, and one past the edge is
        not seen at all."""
        keys = list(self.query(FooterKey))
        for key in keys:
            key.display = key.action not in self.hidden
        keys = [key for key in keys if key.action not in self.hidden]
        # a compact key: its key, a space, its description; then a margin of one
        cells = {key: cell_len(key.key_display) + (cell_len(key.description) + 1 if key.description else 0) + 1
                 for key in keys}
        need = sum(cells.values())
        hidden = set()
        for action in self.drop_first:
            if need <= width:
                break
            for key in keys:
                if key.action == action:
                    hidden.add(key)
                    need -= cells[key]
        for key in keys:
            key.display = key not in hidden


class Bar(Static):
    """A Static that skips the update when its text did not change (the tick calls it often)."""

    DEFAULT_CSS = "Bar { height: 1; width: 1fr; }"
    _last: str | None = None  # the markup shown
    _lines: int | None = None  # its height when last laid out (1, or 2 and more)

    def set_markup(self, markup: str, layout: bool = False) -> None:
        """Show ``markup``; ``layout`` only for a bar whose height can change (a layout pass
        costs as much as drawing the whole screen, so the per-tick bars skip it), and then only
        when the text goes from one line to more or back (a caption whose figures change as
        tasks finish keeps its height)."""
        if markup != self._last:
            self._last = markup
            content = Content.from_markup(markup)
            if layout:
                lines = 1 if content.cell_length <= self.content_region.width else 2
                layout = lines != self._lines or not self.content_region.width
                self._lines = lines
            self.update(content, layout=layout)


def title_markup(frame: Frame | None, spec: RunSpec, source: str, width: int = 200,
                 machine: dict | None = None) -> str:
    """'concviz  threads · cpu · 4 tasks   ...   Python 3.11 · GIL on · switch 5 ms · 2 cores'.

    The right side describes the machine and the Python the shown run was measured on (from the
    trace header), or, before any run, those of the next run (``machine``: its Python's facts,
    which ``--python`` chooses); "Python 3.13.0 free-threaded · GIL off" for a 3.13t. A traced
    program: what was traced and how often it was read ('concviz  trace · python cpu_threads.py ·
    5 threads   sampled at 200 Hz   ...  2 cores')."""
    if frame is not None and "trace" in frame.header:
        return trace_title_markup(frame, source, width)
    model = frame.model if frame and frame.header else spec.model
    workload = frame.workload if frame and frame.header else spec.workload
    n = len(frame.tasks) if frame and frame.tasks else spec.tasks
    left = f"[b]concviz[/b]  [b $accent]{model}[/] · {workload} · {n} tasks  [dim]{source}[/]"
    m = frame.machine if frame and frame.machine else (machine or {})
    if m:
        # which Python ran it: its version, a free-threaded build, the GIL on or off
        build = " free-threaded" if m.get("free_threaded_build") else ""
        gil = "GIL on" if m.get("gil", True) else "[b $warning]GIL off[/]"
        cores = m.get("cpus", "?")
        right = (f"Python {m.get('python', '?')}{build} · {gil} · switch {m.get('switch_interval_ms', 5):g} ms"
                 f" · {cores} cores · {m.get('start_method', '?')}")
        if _plain_len(left) + _plain_len(right) + 3 > width:
            version = ".".join(str(m.get("python", "?")).split(".")[:2]) + ("t" if build else "")
            right = f"Py {version} · {gil} · {m.get('switch_interval_ms', 5):g} ms · {cores} cores"
    else:
        right = ""
    return f"{left}[dim]   {right}[/]" if right else left


def trace_title_markup(frame: Frame, source: str, width: int) -> str:
    from concviz.engine.sources.program import describe

    pids = {t.pid for t in frame.tasks if t.pid is not None}
    what = "trace" if frame.workload == "command" else "attach"
    counts = f"{len(frame.tasks)} threads" + (f" in {len(pids)} processes" if len(pids) > 1 else "")
    right = f"{frame.machine.get('cpus', '?')} cores · from /proc"
    room = width - len(what) - len(counts) - len(source) - 20
    if room - _plain_len(right) - 3 >= 24:  # the machine's side, where the command still has room
        room -= _plain_len(right) + 3
    left = (f"[b]concviz[/b]  [b $accent]{what}[/] · {describe(frame.header, max(8, room))} · {counts}"
            f"  [dim]{source}[/]")
    return f"{left}[dim]   {right}[/]" if _plain_len(left) + _plain_len(right) + 3 <= width else left


def unread(frame: Frame) -> str | None:
    """Why some waits of a traced program could not be read, if they could not (the unknowns
    every trace has a little of, a thread's last moments and a wake between two readings, are
    in the log only)."""
    from concviz.engine.sources.tracer import BETWEEN_READINGS, ENDED_UNMEASURED

    return next((w for w in frame.unknown if w not in (BETWEEN_READINGS, ENDED_UNMEASURED)), None)


def trace_controls_markup(frame: Frame, running: bool, width: int = 200) -> str:
    """A traced program's bar: its state, where its output goes, what the keys do."""
    trace = frame.header.get("trace") or {}
    if running:
        state = "[b $success]● tracing[/]"
    else:
        state = "[dim]○ ended[/]" if frame.ended == "ok" else f"[dim]○ {frame.ended or 'ended'}[/]"
    parts = [state]
    why = unread(frame) if frame.unknown else None
    if why:  # what could not be read, and why: said, not guessed
        parts.append(f"[b]?[/] unknown: {why}")
    if trace.get("output"):
        parts.append(f"output [b]{trace['output']}[/]")
    if running:
        parts.append("[dim]s[/] ends the command" if trace.get("command") else "[dim]s[/] stops watching")
    parts.append("[dim]GIL, lock and I/O waits are inferred (? explains)[/]")
    return fit(parts, width, sep="   ")


def controls_markup(spec: RunSpec, running: bool, live: bool, width: int = 200) -> str:
    """The settings of the next run, each with its key; what does not fit is left out."""
    state = "[b $success]● running[/]" if running else "[dim]○ idle[/]"
    if not live and running:
        state = "[b $accent]▶ replaying[/]"
    parts = [
        state,
        f"Model [b]‹{spec.model}›[/] [dim]m[/]",
        f"Workload [b]‹{spec.workload}›[/] [dim]w[/]",
        f"Tasks [b]{spec.tasks}[/] [dim]+/-[/]",
    ]
    if spec.has_pool:
        parts.append(f"Workers [b]{spec.pool_size}[/] [dim]k/K[/]")
    fault = next(iter(spec.faults.items()), None) if spec.faults else None
    if spec.kill_server:
        parts.append("Fault [b $error]kill server[/] [dim]x[/]")
    elif fault:
        parts.append(f"Fault [b $error]{fault[1]} T{fault[0]}[/] [dim]x[/]")
    if spec.is_net:  # the server's delay takes the place of the scale (its keys too)
        parts.append(f"Latency [b]{spec.latency_ms:g} ms[/] [dim]\\[ ][/]")
        parts.append(f"Requests [b]{spec.requests}[/]")
    else:
        parts.append(f"Scale [b]{spec.scale:g}[/] [dim]\\[ ][/]")
    switch = f"{spec.switch_interval_ms:g} ms" if spec.switch_interval_ms else "default"
    parts.append(f"Switch [b]{switch}[/] [dim]i/I[/]")
    if not fault and not spec.kill_server:
        parts.append("Fault [dim]none x[/]")
    return fit(parts, width, sep="   ")


def fit(parts: list[str], width: int, sep: str = "  ") -> str:
    """Join ``parts`` in order, leaving out those that would overflow ``width`` cells (measured
    on the plain text: parsing markup per candidate would cost more than the bar)."""
    out, used = parts[0], _plain_len(parts[0])
    for part in parts[1:]:
        n = _plain_len(part) + len(sep)
        if used + n <= width:
            out, used = f"{out}{sep}{part}", used + n
    return out


def stats_markup(frame: Frame, sample: Sample | None, width: int = 200) -> str:
    """The run's figures, most important first; what does not fit ``width`` is left out."""
    s = frame.stats
    parts = [
        f"wall [b]{format_time(s['wall_s'] * 1e9)}[/]",
        f"parallelism [b $accent]{s['parallelism']:.2f}[/]",
        f"concurrency [b]{s['concurrency_now']}/{s['concurrency_max']}[/]",
        f"busy [b]{format_time(s['busy_s'] * 1e9)}[/]",
        f"GIL switches [b]{s['gil_switches']}[/]" if frame.gil else "[b $warning]GIL off[/]",
        f"done [b $success]{s['done']}[/]"
        + (f" failed [b $error]{s['failed'] - s['stopped']}[/]" if s["failed"] > s["stopped"] else "")
        + (f" stopped [b]{s['stopped']}[/]" if s["stopped"] else "")
        + (f" not started [b]{s['not_started']}[/]" if s["not_started"] else ""),
        # a Dask task's SPAWN is its submit: what it measures there is the time it queued
        f"{'queued' if s.get('cluster') else 'spawn'} [b]{s['spawn_ms_median']:.1f} ms[/]",
    ]
    if "trace" in frame.header:  # a traced program: its threads and processes, not spawn times
        pids = {t.pid for t in frame.tasks if t.pid is not None}
        parts[-2:] = [f"threads [b]{s['running']}[/] alive of {len(frame.tasks)}, processes [b]{len(pids)}[/]"]
    # a net run's memory and connections come right after its concurrency (they are its point);
    # another run's memory after its GIL figures
    at = 3 if s["server"] is not None else 5
    if s["mem_peak_mb"] is not None:  # measured from outside, the server left out
        res = frame.resources
        now = res.memory.bytes[res.n_memory - 1] / 2**20
        parts.insert(at, f"mem [b]{now:.1f} MB[/] [b $accent]{format_kb(s['mem_per_task_kb'])}[/]/task")
        at += 1
    server = s["server"]
    if server is not None:
        state = "" if server["state"] in ("running", "stopped") else f" [b $error]{server['state']}[/]"
        parts.insert(at, f"server [b]{server['open_now']}[/] open, max [b]{server['max_open']}[/]{state}")
        # last: its work is not the run's (its CPU is not in busy)
        parts.append(f"server: {server['requests']:,} replies, CPU [b]{format_time(server['cpu_s'] * 1e9)}[/]")
    cluster = s.get("cluster")
    if cluster is not None:  # a Dask run: where it ran, and what its cluster cost to start
        # short, right after the concurrency (they say where it ran: it fits 80 columns); the
        # start-up cost after the GIL figures
        parts.insert(3, f"workers [b]{cluster['workers']}[/] hosts [b]{len(cluster['hosts'])}[/]"
                     + ("" if cluster["clock_uncertainty_ms"] is None
                        else f" clocks ±[b]{cluster['clock_uncertainty_ms']:.1f} ms[/]"))
        parts.insert(6, f"start [b]{cluster['start_s']:.1f} s[/]")
    if sample is not None and sample.processes:
        if s["mem_peak_mb"] is None:
            parts.append(f"RSS [b]{sample.rss_bytes / 2**20:.0f} MB[/]")
        parts.append(f"threads {sample.threads} procs {sample.processes}")
    return fit(parts, width)


def _plain_len(markup: str) -> int:
    return len(_TAG.sub("", markup.replace("\\[", "[")))


_TAG = re.compile(r"\[[^\]]*\]")


def caption_markup(frame: Frame) -> str:
    if not frame.header:
        return "[dim]starting the experiment process…[/]"
    if "trace" in frame.header:
        return trace_caption_markup(frame)
    if frame.running and frame.stats["done"] + frame.stats["failed"] == 0:
        return f"[b]▶[/] running {frame.model} on the {frame.workload} workload…"
    text = caption(frame).replace("[", "\\[")
    if frame.ended and frame.ended != "ok":
        text += f" [b $error](run {frame.ended})[/]"
    return f"[b]▶[/] {text}"


def welcome_markup(spec: RunSpec, info: ModelInfo, machine: dict | None = None) -> str:
    """The start screen: what the chosen model is (``info``, its registry entry), what the
    workload does, what to press; and, where the experiment's Python (``machine``) runs without
    the GIL, that what the explanation says of the GIL does not hold there."""
    from concviz.engine.workloads import WORKLOAD_TITLES

    no_gil = ""
    if machine and not machine.get("gil", True):
        no_gil = (f"[b $warning]Python {machine.get('python', '?')} here is a free-threaded build with the GIL "
                  "off: threads run Python in parallel, and nothing waits for a GIL.[/]\n\n")
    return (
        f"[b $accent]{info.title}[/]\n\n{no_gil}{info.explanation}\n\n"
        f"[b]Workload[/]: {WORKLOAD_TITLES[spec.workload]}.\n\n"
        f"Press [b $success]r[/] to run {spec.tasks} tasks and watch them; [b]m[/] and [b]w[/] "
        f"choose another model or workload, [b]c[/] shows the code, [b]?[/] explains the screen.\n\n"
        "[dim]Rule of thumb: CPU-bound work wants processes; I/O with few connections, threads; "
        "slow I/O with many connections, asyncio.[/] [b $success]A[/] measures it on this machine; "
        "[b $success]a[/] runs every model on this workload and ranks them."
    )


def trace_caption_markup(frame: Frame) -> str:
    """What a traced program shows, from the measured numbers and the inferred waits."""
    s = frame.stats
    if not frame.tasks:
        return "[b]▶[/] reading the program from /proc…"
    p = s["parallelism"]
    pids = {t.pid for t in frame.tasks if t.pid is not None}
    waits = {"I/O": sum(t.sleep_ns for t in frame.tasks)}
    for t in frame.tasks:
        for state, ns in t.wait_ns:
            waits[state] = waits.get(state, 0) + ns
    busy = s["busy_s"] * 1e9
    text = (f"{len(frame.tasks)} threads in {len(pids)} process{'es' if len(pids) != 1 else ''}: "
            f"parallelism {p:.2f}")
    if p >= 1.4:
        text += ". Threads ran at the same instant on different cores: true parallelism."
    elif frame.thread_pids and waits.get("gil", 0) > busy:
        text += f". One thread ran at a time: the others waited for the GIL ({s['gil_switches']} hand-offs, inferred)."
    elif p < 0.5:
        most = max(("I/O", "lock", "other"), key=lambda k: waits.get(k, 0))
        text += f". Mostly waiting, not computing: {WAIT_WORDS[most]}."
    else:
        text += "."
    if frame.ended and frame.ended != "ok":
        text += f" [b $error](trace {frame.ended})[/]"
    return f"[b]▶[/] {text}"


WAIT_WORDS = {"I/O": "in I/O (inferred)", "lock": "on locks (inferred)", "other": "in other system calls"}


LEGEND_SHORT = ("[$success]█[/] run  [$error]▒[/] GIL wait  [$warning]░[/] CPU wait  [$primary]·[/] sleep  "
                "[dim]-[/] queued  [$success]✓[/] done  [$error]✗[/] failed")
LEGEND = ("[$success]█[/] running  [$error]▒[/] waiting for the GIL  [$warning]░[/] waiting for a CPU  "
          "[$primary]·[/] sleeping (I/O)  [dim]-[/] queued  [$success]✓[/] done  [$error]✗[/] failed")
LEGEND_WIDE = 104  # columns from which the legend's long words fit


TRACE_LEGEND_SHORT = ("[$success]█[/] run  [$error]▒[/] GIL* [$warning]░[/] CPU  [$secondary]╫[/] lock*  "
                      "[$primary]·[/] I/O*  [dim]~[/] other  [dim]?[/] unknown  [dim]*inferred[/]")
TRACE_LEGEND = ("[$success]█[/] running  [$error]▒[/] waiting for the GIL (inferred)  [$warning]░[/] waiting "
                "for a CPU  [$secondary]╫[/] on a lock (inferred)  [$primary]·[/] I/O (inferred)  "
                "[dim]~[/] other call  [dim]?[/] unknown")


def legend_markup(width: int, traced: bool = False) -> str:
    """The legend of the lanes' glyphs, in long words where ``width`` has room for them
    (``traced``: a traced program's states, the inferred ones said so)."""
    if traced:
        return TRACE_LEGEND if width >= len(_TAG.sub("", TRACE_LEGEND)) + 2 else TRACE_LEGEND_SHORT
    return LEGEND if width >= LEGEND_WIDE else LEGEND_SHORT
