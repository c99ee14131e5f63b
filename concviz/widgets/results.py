"""The results pane: this session's complete runs with the settings shown, one row per model,
ranked as ``concviz compare`` ranks them (median wall time; overlapping ranges share a rank)."""

from __future__ import annotations

from typing import Any

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from concviz.engine.spec import RunSpec
from concviz.report import RULES, fastest
from concviz.view import format_time


def results_text(spec: RunSpec, rows: list[dict[str, Any]], not_run: list[str]) -> str:
    """The pane's content, as Textual markup."""
    if not rows:
        return ("No complete run with these settings yet.\n\n"
                "[b $accent]r[/] runs the model shown; [b $accent]a[/] runs every model in turn, and "
                "this table ranks them by their measured wall time.\n\n"
                f"[$text-muted]Rule of thumb: {RULES[spec.workload]}[/]")
    lines = [f"[$text-muted]{'rank':<5}{'model':<15}{'wall':>8}{'±':>5}{'par':>6}{'conc':>5}{'×seq':>7}{'runs':>5}[/]"]
    for r in rows:
        spread = f"{r['spread']:.0%}" if r["rounds"] > 1 else "-"
        speedup = f"{r['speedup']:.2f}" if r["speedup"] else "-"
        line = (f"{r['rank_text']:<5}{r['model']:<15}{format_time(r['wall_s'] * 1e9):>8}{spread:>5}"
                f"{r['parallelism']:>6.2f}{r['concurrency_max']:>5d}{speedup:>7}{r['rounds']:>5d}")
        lines.append(f"[b $success]{line}[/]" if r["rank"] == 1 else line)
    lines.append("")
    tops = fastest(rows)
    if len(rows) > 1:
        lines.append(f"Fastest here: [b]{', '.join(tops)}[/]"
                     + (" (no measured difference between them)" if len(tops) > 1 else ""))
    if any(r["rounds"] == 1 for r in rows):
        lines.append("[$text-muted]One run says little on a busy machine: run a model again (or "
                     "press a again) to measure how much its time moves; a shared rank (1=) means "
                     "the ranges overlap, no measured difference.[/]")
    if not_run:
        lines.append(f"Not run yet: {', '.join(not_run)} ([b $accent]a[/] runs every model).")
    lines.append(f"[$text-muted]Rule of thumb: {RULES[spec.workload]}[/]")
    return "\n".join(lines)


class ResultsPane(VerticalScroll):
    """This session's results for the settings shown (concviz.results.Results)."""

    DEFAULT_CSS = "ResultsPane { height: 1fr; } ResultsPane > Static { width: 1fr; }"

    def compose(self):
        yield Static(id="results-text")

    def show(self, spec: RunSpec, rows: list[dict[str, Any]], not_run: list[str]) -> None:
        self.border_title = f"Results: {spec.workload} · {spec.tasks} tasks · scale {spec.scale:g}"
        self.border_subtitle = "t closes"
        self.query_one("#results-text", Static).update(Content.from_markup(results_text(spec, rows, not_run)))
