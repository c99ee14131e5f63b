"""The net workloads in the TUI (issue 12): w brings each preset with its size, [ ] set the
server's latency, x can kill the server, the memory and the server are on screen (in replays
too), and A runs the rule's three cases into the results pane."""

from __future__ import annotations

import psutil
import pytest

from concviz import run_control
from concviz.app import ConcvizApp
from concviz.engine.events import MEMORY, SERVER, read_trace
from concviz.engine.limits import LimitCheck
from concviz.engine.spec import MODEL_NAMES, RunSpec
from concviz.results import Results
from concviz.widgets.resource_lanes import ResourceLanes
from concviz.widgets.results import advice_text

from .helpers import FIXTURES


def replay(name: str) -> ConcvizApp:
    header, events = read_trace(FIXTURES / f"{name}.jsonl")
    return ConcvizApp(replay=(header, events), instant=True, live_ticks=False)


def controls(app: ConcvizApp) -> str:
    return str(app.query_one("#controls").render())


async def test_w_brings_each_net_preset_with_its_size_and_back():
    app = ConcvizApp(RunSpec(model="threads", workload="mixed", tasks=6).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        seen = []
        for _ in range(3):
            await pilot.press("w")
            s = app.runs.spec
            seen.append((s.workload, s.tasks, s.requests, s.latency_ms))
        assert seen == [("net", 16, 10, 50.0), ("net-fast", 8, 200, 2.0), ("net-slow", 2000, 1, 1000.0)]
        assert "Latency" in controls(app) and "Scale" not in controls(app)
        await pilot.press("w")  # net-slow -> io: the task count used there before
        s = app.runs.spec
        assert (s.workload, s.tasks, s.requests, s.latency_ms) == ("io", 6, None, None)
        assert "Scale" in controls(app)


async def test_brackets_set_the_latency_of_a_net_workload():
    app = ConcvizApp(RunSpec(model="asyncio", workload="net-fast", tasks=8).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("right_square_bracket")
        assert app.runs.spec.latency_ms == 5.0 and app.runs.spec.scale == 1.0
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        assert app.runs.spec.latency_ms == 0.0
        assert "Latency 0 ms" in " ".join(controls(app).split())


async def test_x_can_kill_the_server_on_a_net_workload_only():
    app = ConcvizApp(RunSpec(model="threads", workload="net-fast", tasks=8).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        kinds = []
        for _ in range(4):
            await pilot.press("x")
            s = app.runs.spec
            kinds.append("server" if s.kill_server else next(iter(s.faults.values()), None))
        assert kinds == ["fail", "hang", "server", None]
        await pilot.press("x", "x", "x")
        assert app.runs.spec.kill_server and "kill server" in controls(app)
        await pilot.press("w")  # net-slow: still a net workload, the fault holds
        assert app.runs.spec.kill_server
        await pilot.press("w")  # io: no server to kill
        assert not app.runs.spec.kill_server and app.runs.spec.workload == "io"


async def test_a_model_that_cannot_end_in_time_is_given_fewer_connections():
    """Sequential on net-slow would take 2,000 s: the keys keep what can end within the time
    limit (60 one-second connections, one at a time) and say so."""
    app = ConcvizApp(RunSpec(model="asyncio", workload="net-slow", tasks=2000).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(len(MODEL_NAMES)):  # asyncio -> (interpreters, dask, where offered) -> sequential
            await pilot.press("m")
            if app.runs.spec.model == "sequential":
                break
        assert app.runs.spec.model == "sequential" and app.runs.spec.tasks == 60
        # (from 1000, or from fewer where a model on the way, dask's 2 workers, held fewer)
        assert any("can hold 60 of" in n.message and "connections" in n.message for n in app._notifications)


async def test_r_refuses_a_run_this_machine_cannot_hold(monkeypatch):
    problem = "2000 connections under threads needs about 2064 open files; this shell allows 256 (...)"
    monkeypatch.setattr(run_control, "prepare_run", lambda spec: LimitCheck(problem))
    app = ConcvizApp(RunSpec(model="threads", workload="net-slow", tasks=2000).validate(), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("r")
        assert app.runs.session is None
        assert any(n.message == problem and n.severity == "error" for n in app._notifications)


async def test_memory_and_the_server_are_on_screen_in_a_replay():
    app = replay("asyncio-net-slow")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        stats = " ".join(str(app.query_one("#stats").render()).split())
        assert "mem 32.3 MB 8.1 KB/task" in stats and "server 0 open, max 2000" in stats
        lanes = app.query_one(ResourceLanes)
        assert lanes.kinds() == ["memory", "connections"] and lanes.size.height == 2
    app = replay("asyncio-net-slow")
    async with app.run_test(size=(200, 36)) as pilot:  # room for the server's own work too
        await pilot.pause()
        stats = " ".join(str(app.query_one("#stats").render()).split())
        assert "server: 2,000 replies, CPU 170 ms" in stats
    app = replay("threads-cpu")  # recorded before memory was measured: no row, no figure
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        assert app.query_one(ResourceLanes).lane_count() == 0
        assert "mem " not in str(app.query_one("#stats").render())


async def test_A_queues_the_rule_cases_and_the_pane_judges_them():
    app = ConcvizApp(RunSpec(model="threads", workload="cpu", tasks=4).validate(), live_ticks=False)
    started = []
    app.runs.start = lambda: started.append((app.runs.spec.workload, app.runs.spec.model))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("A")
        assert app.main.results_shown and app.runs.advising
        queued = started + [(s.workload, s.model) for s in app.runs.queue]
        by_case = {w: [m for c, m in queued if c == w] for w in ("cpu", "net-fast", "net-slow")}
        assert len(by_case["cpu"]) == len(by_case["net-fast"]) == 7
        assert sorted(by_case["net-slow"]) == ["asyncio", "threads"]  # the others cannot hold 2,000
        assert any("sitting out" in n.message and "net-slow: sequential" in n.message for n in app._notifications)
        assert "The rule of thumb, measured here" in app.query_one("#results").border_title
        await pilot.press("w")  # a setting changed: "A" stops, the pane shows that setting's table
        assert not app.runs.advising and app.runs.queue == []
        assert app.query_one("#results").border_title.startswith("Results: ")


def test_the_advice_pane_judges_what_this_session_measured():
    from concviz.advise import CASES

    results = Results()
    walls = {"cpu": {"processes": 1.0, "threads": 2.0}, "net-slow": {"asyncio": 1.2, "threads": 1.9}}
    mems = {"asyncio": 8.0, "threads": 18.0, "processes": 900.0}
    for case in CASES:
        for model, wall in walls.get(case.name, {}).items():
            stats = {"wall_s": wall, "busy_s": 0.0, "parallelism": 1.0, "concurrency_max": 4,
                     "concurrency_mean": 1.0, "gil_switches": 0, "spawn_ms_median": 0.1, "failed": 0,
                     "done": case.spec.tasks, "tasks": case.spec.tasks, "mem_per_task_kb": mems[model]}
            assert results.add(case.spec.for_model(model), stats)
    text = advice_text(results, {"cpu": ["processes", "threads"], "net-slow": ["asyncio", "threads", "pool"]})
    lines = text.splitlines()
    assert lines[1].startswith("cpu       processes  processes") and "yes" in lines[1]
    assert lines[2].startswith("net-fast  threads") and "not run yet" in lines[2]
    assert lines[3].startswith("net-slow  asyncio") and "measuring: 2 of 3 models" in lines[3]
    assert "net-slow:" not in text  # no verdict before every model queued for it has run
    text = advice_text(results, {})
    assert "net-slow  asyncio    asyncio" in text and "8.0 KB" in text
    assert "asyncio held a connection for the least memory, 8.0 KB (threads 18.0 KB)" in text


@pytest.mark.slow
async def test_a_live_net_run_shows_and_keeps_its_memory_and_server(tmp_path, monkeypatch):
    """A real run from the TUI: the memory row and the server's figures fill in, the export
    holds them (MEMORY and SERVER events), and nothing of the run is left."""
    monkeypatch.chdir(tmp_path)
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    app = ConcvizApp(RunSpec(model="threads", workload="net", tasks=6, requests=5, latency_ms=40.0).validate())
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("r")
        for _ in range(100):
            await pilot.pause(0.1)
            if app.runs.session is not None and not app.runs.session.running:
                break
        await pilot.pause(0.3)
        frame = app.main.frame
        assert frame.ended == "ok" and frame.stats["done"] == 6
        assert frame.stats["server"]["requests"] == 30 and frame.stats["mem_peak_mb"] > 5
        assert app.query_one(ResourceLanes).kinds() == ["memory", "connections"]
        await pilot.press("e")
        await pilot.pause(0.2)
        await pilot.press("q")
    header, events = read_trace(next(tmp_path.glob("concviz-threads-net-*.jsonl")))
    kinds = {e[0] for e in events}
    assert MEMORY in kinds and SERVER in kinds and header["server"]["port"] > 0
    ours = [p for p in me.children(recursive=True) if p.pid not in before]
    assert not psutil.wait_procs(ours, timeout=3)[1]


async def test_a_failed_connection_says_why_in_its_lane_note():
    """The note of a task whose connection failed names the OS's reason in a word; the event
    log has it whole."""
    from concviz.engine.events import ERROR, SPAWN, START

    spec = RunSpec(model="threads", workload="net", tasks=3).validate()
    header = {"model": "threads", "workload": "net", "spec": spec.to_dict(), "machine": {"cpus": 2}, "t0_ns": 0}
    reasons = ["ConnectionRefusedError: [Errno 111] Connection refused (connecting to 127.0.0.1:9)",
               "ConnectionResetError: [Errno 104] Connection reset by peer (talking to 127.0.0.1:9)",
               "ServerClosed: the server at 127.0.0.1:9 closed the connection after 0 of 10 replies"]
    events = []
    for task, reason in enumerate(reasons):
        events += [(SPAWN, task, 1, 1, 100, 100, -1, None), (START, task, 1, 2 + task, 200, 200, 0, None),
                   (ERROR, task, 1, 2 + task, 5_000_000, 5_000_000, -1, reason)]
    app = ConcvizApp(replay=(header, events), instant=True, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        lanes = app.query_one("#tasks")
        notes = [lanes.note_for(t, 10).text.strip() for t in app.main.frame.tasks]
        assert notes == ["✗ refused", "✗ reset", "✗ closed"]
        await pilot.press("l")
        await pilot.pause()
        log = "\n".join(str(line) for line in app.query_one("#log").lines)
        assert all(reason in log for reason in reasons)
