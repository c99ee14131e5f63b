"""The cores pane of a cluster run (issue 17): grouped by worker, a heading per worker process,
its CPU lanes under it; more workers than fit: the pane scrolls. Other runs: one lane per CPU."""

from __future__ import annotations

from concviz.engine.events import FINISH, RUN, SPAWN, START
from concviz.engine.models import MODELS
from concviz.engine.timeline import Timeline
from concviz.view import Window
from concviz.widgets.core_lanes import CoreLanes

from .helpers import PaneApp, Recorded

MS = 1_000_000


async def lines(frame, size=(80, 24)) -> tuple[list[str], CoreLanes]:
    window = Window(frame.first_ns, frame.t_end, frame.first_ns)
    app = PaneApp(CoreLanes, "cores")
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(CoreLanes)
        pane.styles.max_height = 9  # as concviz.tcss has it
        await pilot.pause()
        pane.show(frame, window, info=MODELS.get(frame.model))
        await pilot.pause()
        rows = pane.header_rows + pane.lane_count() * pane.rows_per_lane
        return [pane._line(y, pane.draw_width, 0).text for y in range(rows)], pane


async def test_a_dask_run_s_cores_are_grouped_by_worker():
    run = Recorded("dask-threads-cpu")
    frame = run.frame_at(run.last)
    text, _ = await lines(frame)
    (pid,) = {t.pid for t in frame.tasks}
    assert text[1].startswith(f" worker 0 (pid {pid}) on ") and "2 threads, 4 tasks" in text[1]
    cpus = sorted({cpu for t in frame.tasks for cpu in t.cpus})
    assert [line.split()[0] for line in text[2:-1]] == [f"cpu{c}" for c in cpus]
    assert all(line.startswith("   cpu") for line in text[2:-1])  # under the heading
    assert text[-1].startswith(" in parallel")
    # each CPU lane's note is that worker's busy time there; the heading's, their sum
    assert all(line.rstrip().endswith("ms") for line in text[1:-1])


async def test_other_runs_keep_one_lane_per_cpu():
    run = Recorded("processes-cpu")
    text, _ = await lines(run.frame_at(run.last))
    assert [line[:5] for line in text[1:]] == [" cpu0", " cpu1", " in p"]


async def test_many_workers_scroll_inside_the_pane():
    """12 single-threaded workers, a task each: 12 headings and their lanes are more rows than
    the pane's height at 80x24; the pane scrolls (as the task lanes do) rather than grow."""
    header = {"model": "dask", "workload": "cpu", "spec": {"tasks": 12},
              "machine": {"cpus": 2, "gil": True}, "cluster": {"local": True, "workers": 12}}
    tl = Timeline(header)
    events = []
    for k in range(12):
        pid = 1000 + k
        events += [(SPAWN, k, 1, 1, 0, 0, -1, None), (START, k, pid, 1, MS, MS, k % 2, f"w{k}@h"),
                   (RUN, k, pid, 1, MS, 5 * MS, k % 2, None), (FINISH, k, pid, 1, 5 * MS, 5 * MS, k % 2, None)]
    tl.feed(events)
    tl.end("ok")
    text, pane = await lines(tl.snapshot())
    assert pane.lane_count() == 12 * 2 + 1
    assert [line.split()[1] for line in text[1:-1:2]] == [str(k) for k in range(12)]
    assert pane.virtual_size.height == 1 + 25 > pane.size.height
    assert pane.max_scroll_y > 0
