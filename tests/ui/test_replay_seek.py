"""A replay stepped through by a script (screenshots/animate.py): each seek, shown with the
figures redrawn at once, puts that instant's figures on screen, with no private state set."""

from __future__ import annotations

from concviz.app import ConcvizApp
from concviz.view import format_time

from .helpers import Recorded


async def test_each_seek_shows_its_own_figures_at_once():
    run = Recorded("threads-cpu")
    app = ConcvizApp(replay=(run.header, run.events), live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        session = app.runs.session
        stats = app.main.w["stats"]
        for fraction in (0.2, 0.3, 0.5):  # steps far closer together than STATS_EVERY_S
            session.seek(int(session.duration_ns * fraction))
            frame = session.snapshot()
            app.main.show(frame)
            app.main.refresh_bars(at_once=True)
            await pilot.pause()
            wall = format_time(frame.stats["wall_s"] * 1e9)
            assert f"wall {wall}" in str(stats.render()), (fraction, wall, stats.render())
