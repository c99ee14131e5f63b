"""This session's results: every complete run, grouped by the settings that make runs
comparable, so the TUI can rank the models on this machine as ``concviz compare`` does."""

from __future__ import annotations

from typing import Any

from concviz.engine.spec import RunSpec, models_for
from concviz.ranking import fastest, rank_runs
from concviz.view import format_time


def settings_key(spec: RunSpec) -> tuple:
    """What two runs must share to be compared: the work, and the interpreter and its settings."""
    return (spec.workload, spec.tasks, float(spec.scale), spec.seed, spec.switch_interval_ms, spec.start_method,
            spec.latency_ms, spec.requests, spec.python)


def model_label(model: str, workers: int | None) -> str:
    """A model, with its pool size where the user chose one (a pool of 8 is not a pool of 2)."""
    return model if workers is None else f"{model} ×{workers}"


class Results:
    """Per settings key, per (model, pool size chosen): the Frame.stats of each complete run."""

    def __init__(self) -> None:
        self._runs: dict[tuple, dict[tuple[str, int | None], list[dict[str, Any]]]] = {}
        self._rounds: dict[tuple, int] = {}  # rounds of every model ("a") begun, per settings

    def begin_round(self, spec: RunSpec) -> int:
        """Count a round of every model ("a") begun with ``spec``'s settings, and say how many
        were begun before it."""
        key = settings_key(spec)
        begun = self._rounds.get(key, 0)
        self._rounds[key] = begun + 1
        return begun

    def add(self, spec: RunSpec, stats: dict[str, Any]) -> bool:
        """Keep a run that measured the model as it is: one with a fault injected, or in which a
        task failed or was cut short, is not kept (its time says nothing about the model)."""
        if spec.has_fault or stats["failed"] or stats["done"] != stats["tasks"]:
            return False
        self._runs.setdefault(settings_key(spec), {}).setdefault((spec.model, spec.workers), []).append(stats)
        return True

    def rows(self, spec: RunSpec) -> list[dict[str, Any]]:
        """The runs with ``spec``'s settings, ranked (ranking.rank_runs), by model label."""
        runs = self._runs.get(settings_key(spec), {})
        return rank_runs({model_label(*model): stats for model, stats in runs.items()})

    def not_run(self, spec: RunSpec) -> list[str]:
        """Models with no complete run under ``spec``'s settings yet (of those its Python runs)."""
        done = {model for model, _ in self._runs.get(settings_key(spec), {})}
        return [m for m in models_for(spec.python) if m not in done]

    def verdict(self, spec: RunSpec) -> str:
        """One line on the run of ``spec`` just ended, among the others with its settings ("" if
        it is the only model run with them)."""
        rows = self.rows(spec)
        label = model_label(spec.model, spec.workers)
        me = next((r for r in rows if r["model"] == label), None)
        if me is None or len(rows) < 2:
            return ""
        tops = fastest(rows)
        best = f"fastest: {', '.join(tops)}" if len(tops) > 1 or tops[0] != label else "the fastest"
        return (f"{label}: {format_time(me['wall_s'] * 1e9)}, rank {me['rank_text']} of the "
                f"{len(rows)} models run with these settings ({best})")
