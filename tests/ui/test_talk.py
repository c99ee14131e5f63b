"""The talk screen (issue 14 s.1), driven by keys with recorded runs in place of live ones: every
scene of the built-in deck goes narration, question, runs, reveal; the reveal's answer and
takeaway are the runs' own figures; back, again, quit and a run that cannot start."""

from __future__ import annotations

from concviz.session import ReplaySession
from concviz.talk.control import Step
from concviz.talk.deck import default_deck
from concviz.talk.figures import MISSING, format_number
from concviz.talk.screen import TalkApp
from concviz.widgets.stack import StackView
from tests.fixtures.recorded_runs import Recordings


def text(app, name: str) -> str:
    widget = app.screen.query_one(f"#talk-{name}")
    return str(widget.render()) if widget.display else ""


async def test_the_built_in_deck_from_the_first_scene_to_the_last():
    deck = default_deck()
    made = Recordings()
    app = TalkApp(deck, start=made, cpus=2, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        talk = app.talk
        for k, scene in enumerate(deck.scenes):
            assert talk.step is Step.NARRATION
            assert f"{k + 1} / {len(deck.scenes)}" in text(app, "head") and scene.title in text(app, "head")
            assert scene.narration.render(cpus=2)[:40] in text(app, "narration")
            await pilot.press("space")
            assert talk.step is Step.PREDICTION
            assert scene.prediction.question.render(cpus=2) in text(app, "question")
            await pilot.press("2")  # the room's answer: the runs start at once
            assert talk.step is Step.RAN  # (recorded runs end as they start)
            walls = [format_number(f.stats["wall_s"], "s") for f in talk.frames]
            assert all(wall in text(app, "hint") for wall in walls)
            blocks = [b for b in app.screen.query_one(StackView).blocks if b.display]
            assert [b.label.render().plain.split()[0] for b in blocks] == [r.name for r in scene.runs]
            await pilot.press("space")
            assert talk.step is Step.REVEAL
            takeaway = text(app, "takeaway")
            assert MISSING not in takeaway and takeaway.startswith(scene.takeaway.render(talk.figures(), 2)[:30])
            assert any(wall in takeaway for wall in walls)  # its numbers are the runs' own
            answer = scene.prediction.answer(talk.figures(), 2)
            assert answer is not None
            expected = scene.prediction.choices[answer].text.render(cpus=2)
            assert f"Measured: ({answer + 1}) {expected}" in text(app, "question")
            assert ("✓ right" if answer == 1 else "✗") in text(app, "question")
            await pilot.press("space")
        assert talk.step is Step.END and "That was the talk" in text(app, "narration")
        assert len(made.made) == sum(len(s.runs) for s in deck.scenes)
        await pilot.press("q")
    assert app.return_code == 0


async def test_back_a_scene_again_and_a_skipped_question():
    made = Recordings()
    app = TalkApp(default_deck(), start=made, cpus=2, live_ticks=False)
    async with app.run_test(size=(80, 24)) as pilot:
        talk = app.talk
        await pilot.press("space", "space", "space")  # the question, skipped (the runs), the reveal
        assert talk.step is Step.REVEAL and talk.chosen is None
        assert "No answer from the room" in text(app, "question") and "✓" not in text(app, "question")
        await pilot.press("space", "space", "3")  # scene 2, its question answered
        assert talk.index == 1 and talk.chosen == 2 and len(made.made) == 4
        await pilot.press("r")  # again: the same runs once more, the answer kept
        assert talk.step is Step.RAN and talk.chosen == 2 and len(made.made) == 6
        await pilot.press("left")  # back a scene: to the first one's start
        assert talk.index == 0 and talk.step is Step.NARRATION and talk.chosen is None
        assert not app.screen.query_one(StackView).runs  # the runs of scene 2 are gone
        await pilot.press("left")  # the first scene: back to its own start
        assert talk.index == 0 and talk.step is Step.NARRATION


async def test_a_live_run_sweeps_space_waits_for_it_and_q_stops_it():
    made = Recordings(held=("one",))
    app = TalkApp(default_deck(), start=made, cpus=2, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        talk = app.talk
        await pilot.press("space", "1")
        assert talk.step is Step.RUNNING and talk.running_index == 0
        assert "running one (1 of 2)" in text(app, "hint")
        await pilot.press("space")  # the runs are still going: the step stays
        assert talk.step is Step.RUNNING
        block = app.screen.query_one(StackView).blocks[0]
        assert block.lanes.note.startswith("▶ ")  # sweeping: a short window at the live edge
        session = made.made[0]
        await pilot.press("q")
    assert session.closed  # quitting let the run go (a live one: its processes are ended)


async def test_a_run_that_cannot_start_is_said_and_its_figures_are_missing():
    class NoProcess(ReplaySession):
        def start(self) -> None:
            raise OSError("no more processes")

    made = Recordings()

    def start(run):
        session = made(run)
        return NoProcess(session.header, session.events, instant=True) if run.name == "four" else session

    app = TalkApp(default_deck(), start=start, cpus=2, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("space", "1", "space")
        talk = app.talk
        assert talk.step is Step.REVEAL
        assert "four: could not start: no more processes" in text(app, "takeaway")
        assert MISSING in text(app, "takeaway")
        assert "the runs do not settle it" in text(app, "question")


async def test_the_many_connections_scene_draws_each_runs_memory_on_one_scale():
    deck = default_deck()
    at = next(i for i, s in enumerate(deck.scenes) if s.runs[0].spec.workload == "net-slow")
    app = TalkApp(deck, start=Recordings(), cpus=2, scene=at, live_ticks=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("space", "3", "space")
        assert app.talk.step is Step.REVEAL
        blocks = [b for b in app.screen.query_one(StackView).blocks if b.display]
        assert len(blocks) == 2 and all(b.memory.display for b in blocks)
        peaks = [max(b.memory.frame.resources.memory.bytes[:b.memory.frame.resources.n_memory]) for b in blocks]
        rows = [b.memory.render_lane(0, b.memory.draw_width) for b in blocks]
        assert all(row[0].text.strip() == "memory" for row in rows)
        for row, block in zip(rows, blocks):  # the note: the run's peak, as the takeaway says it
            assert row[2].text.strip() == f"{block.memory.frame.stats['mem_peak_mb']:.1f} MB"
            assert row[2].text.strip() in text(app, "takeaway")
        # one scale: only the run that held the most reaches the top block
        tops = [max(row[1].text.replace(" ", "")) for row in rows]
        highest = peaks.index(max(peaks))
        assert tops[highest] == "█" and all(t < "█" for i, t in enumerate(tops) if i != highest)
        # the CPU-bound scenes before it have no memory row
        await pilot.press("left", "space", "space", "space")
        assert not any(b.memory.display for b in app.screen.query_one(StackView).blocks)
