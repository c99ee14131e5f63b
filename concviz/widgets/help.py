"""The help screen: what each pane means, the legend, and the keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# concviz: what you are looking at

Everything on screen is **measured** inside the workers (timestamps from `perf_counter_ns`,
the core from `sched_getcpu`), never simulated.

**Tasks**: one lane per task, time left to right. A block's height is the share of that
slice of time the task was *running* Python code. `▒` waiting for the GIL (another thread of
the same process ran meanwhile), `░` waiting for a CPU (the OS ran something else), `·` sleeping
on I/O, `-` queued (spawned, not yet picked up by a pool worker). The note says how it ended:
`✓` done, `✗` failed (raised, or its process died), `■` stopped (cut short by `s`). A lane ends
where the task's own reports end: what a task did after its last report is left blank.

**GIL holder**: for threads of one process, which task's thread held the GIL in each slice
(its character, in its colour). Each change is a hand-off; the switch interval
(`sys.setswitchinterval`, 5 ms by default) decides how often a busy thread is asked to let go.

**Cores**: one lane per logical CPU: how busy it was with task work and with which task
(colour). `OS%` is the live utilisation psutil reports for the whole machine. The *in parallel*
row adds the cores up: its height is the share of all cores busy with task work, drawn bright
where more than one core's worth ran at the same instant (true parallelism).

**Memory** and **connections** (under the cores): the run's memory over time, read from
outside (PSS of its processes, the loopback server left out), and the connections the server of
a net workload has open. The figures give *mem/task*: what the run grew by, per task.

**Figures**: *parallelism* = busy CPU time / wall time (how many cores' worth ran at once);
*concurrency* = tasks started and not finished (now / max). Sync code has concurrency 1;
async code has many tasks in flight, with or without parallelism.

**A traced program** (`concviz trace -- COMMAND`, `concviz attach PID`) is read from outside,
through `/proc`, at the rate in the title: a lane per thread (a process's main thread by its
PID, its other threads `└TID` under it). Running and waiting for a CPU (`░`) are *measured*
(schedstat, exact); what a blocked thread waits for is *inferred* from the system call it is
in: `▒` the GIL (a futex its sibling threads wait on in turn, in Python's own memory), `╫` a
lock (any other futex), `·` I/O (sleep, poll, read, recv...), `~` another call; `?` unknown,
with the reason in the log (`l`), e.g. another user's process, whose calls cannot be read. The
GIL lane is the inferred holder: the thread that ran while its siblings waited for the GIL.

**Results** (`t`): this session's complete runs with the settings shown, one row per model,
ranked by the median of its wall times; `±` is half their range. Models whose ranges overlap
share a rank (`1=`): the measurement cannot tell them apart. `a` runs every model in turn.

| key | action | key | action |
|---|---|---|---|
| r | run with the settings shown | s | stop the run |
| a | run every model in turn, ranked in the results | t | results: this session's runs, ranked |
| A | advise: the rule's three cases (CPU, net-fast, net-slow), measured and judged | | |
| m / M | next / previous model | w / W | next / previous workload |
| + / - | more / fewer tasks | k / K | more / fewer pool workers |
| \\] / \\[ | scale up / down (net: the server's latency) | i / I | switch interval up / down |
| > / < | zoom in / out | ← / → | pan when zoomed |
| f | follow the live edge | 0 | fit the whole run |
| c | code of the model | l | event log |
| x | inject a fault into the next run: raise, SIGKILL (processes), hang, kill the server (net) | v | stack the last runs (up to 4) on one time axis; in the footer once two have ended |
| e | export trace (.jsonl + Perfetto .json) | S | save a screenshot (SVG) |
| ctrl+p | command palette | q | quit (stops the run) |

Rule of thumb: CPU-bound work wants processes; I/O with few connections, threads; slow I/O
with many connections, asyncio. `A` (or `concviz advise`) measures it on this machine.
"""


class HelpScreen(ModalScreen[None]):
    """Modal help; any of escape, q or ? closes it."""

    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss()
