"""The bars: a caption is laid out again only when its height can change."""

from __future__ import annotations

from textual.app import App, ComposeResult

from concviz.widgets.bars import Bar


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
