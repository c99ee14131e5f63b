"""The bars: a caption is laid out again only when its height can change; the footer of keys
is rebuilt once for a burst of binding changes, and again for a later one."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets._footer import FooterKey

from concviz.widgets.bars import Bar, KeyFooter


class OneBar(App):
    CSS = "Bar { width: 40; height: auto; max-height: 2; }"

    def compose(self) -> ComposeResult:
        yield Bar(id="caption")


async def test_caption_layout_only_when_its_height_changes():
    app = OneBar()
    async with app.run_test(size=(60, 10)) as pilot:
        bar = app.query_one(Bar)
        layouts: list[bool] = []
        update = bar.update
        bar.update = lambda content, layout=False: (layouts.append(layout), update(content, layout=layout))[1]
        short, long = "x" * 20, "y " * 30  # 20 cells; 60 cells: two lines in a bar 40 wide
        bar.set_markup(short, layout=True)
        await pilot.pause()
        assert bar.size.height == 1
        bar.set_markup(short.replace("x", "z"), layout=True)  # new text, still one line
        bar.set_markup(long, layout=True)  # one line -> two
        await pilot.pause()
        assert bar.size.height == 2
        bar.set_markup(long.replace("y", "w"), layout=True)  # new text, still two lines
        bar.set_markup(long.replace("y", "w"), layout=True)  # the same text: no update at all
        bar.set_markup(short, layout=True)  # two lines -> one
        await pilot.pause()
        assert bar.size.height == 1
        assert layouts == [True, False, True, False, True]


class Keys(App):
    BINDINGS = [Binding("r", "bell", "Run"), Binding("q", "quit", "Quit"), Binding("x", "bell", "Hidden", show=False)]

    def compose(self) -> ComposeResult:
        yield KeyFooter(compact=True, show_command_palette=False)


async def test_footer_rebuilds_once_for_a_burst_of_binding_changes():
    app = Keys()
    async with app.run_test(size=(60, 5)) as pilot:
        await pilot.pause()
        footer = app.query_one(KeyFooter)
        assert [key.description for key in footer.query(FooterKey)] == ["Run", "Quit"]
        rebuilds = []
        recompose = footer.recompose

        async def counted() -> None:
            rebuilds.append(1)
            await recompose()

        footer.recompose = counted
        for _ in range(3):  # as at start-up: focus, the terminal's focus report, the screen stack
            app.screen.refresh_bindings()
        await pilot.pause()
        assert len(rebuilds) == 1
        app.screen.refresh_bindings()  # a later change is not lost
        await pilot.pause()
        assert len(rebuilds) == 2
        assert [key.description for key in footer.query(FooterKey)] == ["Run", "Quit"]


class ManyKeys(App):
    BINDINGS = [Binding("r", "ring('run')", "Run"), Binding("q", "quit", "Quit"),
                Binding("f", "ring('follow')", "Follow"), Binding("z", "ring('zoom')", "Zoom"),
                Binding("e", "ring('export')", "Export")]
    rung: list[str] = []

    def action_ring(self, what: str) -> None:
        self.rung.append(what)

    def compose(self) -> ComposeResult:
        yield KeyFooter(compact=True, show_command_palette=False, drop_first=("ring('follow')", "ring('zoom')"))


def shown_keys(footer: KeyFooter) -> list[str]:
    return [key.description for key in footer.query(FooterKey) if key.display]


async def test_a_narrow_footer_leaves_out_whole_keys_in_the_order_given():
    # all five need 6 + 7 + 9 + 7 + 9 = 38 cells
    app = ManyKeys()
    async with app.run_test(size=(38, 5)) as pilot:
        await pilot.pause()
        footer = app.query_one(KeyFooter)
        assert shown_keys(footer) == ["Run", "Quit", "Follow", "Zoom", "Export"]
        await pilot.resize_terminal(37, 5)  # one cell short: the first to drop goes
        await pilot.pause()
        assert shown_keys(footer) == ["Run", "Quit", "Zoom", "Export"]
        await pilot.resize_terminal(24, 5)  # the next goes, and no more than needed
        await pilot.pause()
        assert shown_keys(footer) == ["Run", "Quit", "Export"]
        # what is shown lies wholly on screen
        assert all(key.region.right <= 24 for key in footer.query(FooterKey) if key.display)
        app.rung = []
        await pilot.press("z")  # a key left out of the footer still works
        assert app.rung == ["zoom"]
        await pilot.resize_terminal(60, 5)
        await pilot.pause()
        assert shown_keys(footer) == ["Run", "Quit", "Follow", "Zoom", "Export"]
