"""The results pane: this session's complete runs with the settings shown, one row per model,
ranked as ``concviz compare`` ranks them (median wall time; overlapping ranges share a rank)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from concviz.engine.spec import RunSpec
from concviz.ranking import RULES, fastest
from concviz.view import format_kb, format_time

if TYPE_CHECKING:
    from concviz.results import Results


def results_text(spec: RunSpec, rows: list[dict[str, Any]], not_run: list[str]) -> str:
    """The pane's content, as Textual markup."""
    if not rows:
        return ("No complete run with these settings yet.\n\n"
                "[b $accent]r[/] runs the model shown; [b $accent]a[/] runs every model in turn, and "
                "this table ranks them by their measured wall time.\n\n"
                f"[$text-muted]Rule of thumb: {RULES[spec.workload]}[/]")
    lines = [f"[$text-muted]{'rank':<5}{'model':<15}{'wall':>8}{'±':>5}{'par':>6}{'conc':>5}{'×seq':>6}"
             f"{'mem/task':>9}{'runs':>5}[/]"]
    for r in rows:
        spread = f"{r['spread']:.0%}" if r["rounds"] > 1 else "-"
        speedup = f"{r['speedup']:.2f}" if r["speedup"] else "-"
        line = (f"{r['rank_text']:<5}{r['model']:<15}{format_time(r['wall_s'] * 1e9):>8}{spread:>5}"
                f"{r['parallelism']:>6.2f}{r['concurrency_max']:>5d}{speedup:>6}"
                f"{format_kb(r.get('mem_per_task_kb')):>9}{r['rounds']:>5d}")
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


def advice_text(results: Results, expected: dict[str, list[str]] | None = None) -> str:
    """The rule's three cases (``A``), as this session measured them, as Textual markup;
    ``expected``: the models queued for each case, a verdict waiting until each has run."""
    from concviz.advise import CASES, judge

    lines = [f"[$text-muted]{'case':<10}{'rule says':<11}{'fastest here':<18}{'wall':>8}{'mem/task':>9}  agrees[/]"]
    verdicts = []
    for case in CASES:
        rows = results.rows(case.spec)
        ran = {r["model"] for r in rows}
        missing = [m for m in (expected or {}).get(case.name, []) if m not in ran]
        v = judge(case, rows) if not missing else None
        if v is None:
            state = f"measuring: {len(ran)} of {len(ran) + len(missing)} models" if ran or missing else "not run yet"
            lines.append(f"{case.name:<10}{case.rule:<11}[$text-muted]{state}[/]")
            continue
        won = ", ".join(v.fastest)
        won = won if len(won) <= 17 else won[:16] + "…"
        colour = {"yes": "$success", "partly": "$warning"}.get(v.agrees, "$error")
        lines.append(f"{case.name:<10}{case.rule:<11}{won:<18}{format_time(v.best['wall_s'] * 1e9):>8}"
                     f"{format_kb(v.best.get('mem_per_task_kb')):>9}  [b {colour}]{v.agrees}[/]")
        rounds = max(r["rounds"] for r in rows)
        verdicts.append(f"[b]{case.name}[/b]: {_plain(v.text)} "
                        f"[$text-muted]({len(rows)} models, {rounds} round{'s' if rounds != 1 else ''})[/]")
    return "\n".join(lines + [""] + verdicts + ["", "[$text-muted]A measures the rule's three cases again (each "
                                                  "model once more); t closes this pane.[/]"])


def _plain(text: str) -> str:
    """``text`` shown as it is (no markup in it)."""
    return text.replace("[", "\\[")


class ResultsPane(VerticalScroll):
    """This session's results for the settings shown (concviz.results.Results)."""

    DEFAULT_CSS = "ResultsPane { height: 1fr; } ResultsPane > Static { width: 1fr; }"

    def compose(self):
        yield Static(id="results-text")

    def show(self, spec: RunSpec, rows: list[dict[str, Any]], not_run: list[str]) -> None:
        size = (f"{spec.latency_ms:g} ms x {spec.requests}" if spec.is_net else f"scale {spec.scale:g}")
        self.border_title = f"Results: {spec.workload} · {spec.tasks} tasks · {size}"
        self.border_subtitle = "t closes"
        self.query_one("#results-text", Static).update(Content.from_markup(results_text(spec, rows, not_run)))

    def show_advice(self, results: Results, expected: dict[str, list[str]]) -> None:
        """The rule's three cases as measured (``A``) instead of one table of settings."""
        self.border_title = "The rule of thumb, measured here"
        self.border_subtitle = "t closes"
        self.query_one("#results-text", Static).update(Content.from_markup(advice_text(results, expected)))
