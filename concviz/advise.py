"""``concviz advise``: the rule of thumb's three cases, measured on this machine.

The rule: CPU-bound work wants processes; fast I/O on few connections, threads; slow I/O on
many connections, asyncio. Each case runs under every model that can run it here (the others
sit out with the reason: over their ceiling, or unable to end within the time limit, such as a
2-worker pool on 2,000 one-second connections), in rounds as ``compare`` runs them, and is
judged on what was measured: which models share the fastest rank (their ranges of wall time
overlap), and, for the many slow connections, which held them for the least memory. Where the
measurement does not agree with the rule on this machine, the verdict says so.

No widgets here: the CLI prints :func:`advise`'s table, the TUI's results pane shows
:func:`judge`'s verdicts for the runs it made (``A``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

from concviz.engine.limits import runnable_specs
from concviz.engine.spec import PROCESS_MODELS, THREAD_MODELS, RunSpec, default_tasks, models_for
from concviz.ranking import RULES, fastest, measure, rank_runs, say
from concviz.view import format_kb, format_time

YES, PARTLY, NO = "yes", "partly", "no"
# A model run once has no range of wall times to compare: one within this share of the fastest
# is not told apart from it (one run of the same work moves by 10-20% on this shared machine).
ONE_ROUND_MARGIN = 0.10


@dataclass(frozen=True)
class Case:
    """One case of the rule.

    Attributes:
        name: what the table calls it (its workload).
        spec: its settings (the model is set for each run).
        rule: the model the rule names, in a word.
        rule_models: the models that count as following the rule.
        by_memory: the case is also judged on memory per task (the many slow connections).
    """

    name: str
    spec: RunSpec
    rule: str
    rule_models: tuple[str, ...]
    by_memory: bool = False

    @property
    def rule_text(self) -> str:
        return RULES[self.spec.workload]

    def runnable(self) -> tuple[dict[str, RunSpec], dict[str, str]]:
        """The spec of every model that can run this case here, and why the others cannot."""
        models = tuple(m for m in models_for(self.spec.python) if m not in NOT_ADVISED)
        return runnable_specs(models, self.spec.for_model)


# the rule of thumb is about one machine: a cluster (dask) is the step after it, not a case of it
NOT_ADVISED = ("dask",)


def _settings(workload: str) -> RunSpec:
    return RunSpec(model="asyncio", workload=workload, tasks=default_tasks(workload)).validate()


CASES = (
    Case("cpu", _settings("cpu"), "processes", PROCESS_MODELS),
    Case("net-fast", _settings("net-fast"), "threads", THREAD_MODELS),
    Case("net-slow", _settings("net-slow"), "asyncio", ("asyncio",), by_memory=True),
)
CASE_NAMES = tuple(c.name for c in CASES)


@dataclass(frozen=True)
class Verdict:
    """What one case measured, and whether it agrees with the rule.

    Attributes:
        fastest: the models sharing the first rank (no measured difference between them).
        best: the row (ranking.rank_runs) of the fastest model.
        leanest: the row of the model that used the least memory per task (None: not measured).
        agrees: YES, PARTLY or NO.
        text: one or two sentences, plain.
    """

    fastest: list[str]
    best: dict[str, Any]
    leanest: dict[str, Any] | None
    agrees: str
    text: str


def judge(case: Case, rows: list[dict[str, Any]]) -> Verdict | None:
    """The verdict of a case from its ranked rows (ranking.rank_runs); None if nothing ran.

    The fastest are the models sharing the first rank (their ranges of wall time overlap) and,
    for models measured once, those within ONE_ROUND_MARGIN of the fastest."""
    if not rows:
        return None
    best = rows[0]
    tops = fastest(rows) + [r["model"] for r in rows[1:] if r["rank"] != 1 and 1 in (r["rounds"], best["rounds"])
                            and r["wall_s"] <= best["wall_s"] * (1 + ONE_ROUND_MARGIN)]
    by = {r["model"]: r for r in rows}
    followers = [m for m in tops if m in case.rule_models]
    measured = [r for r in rows if r.get("mem_per_task_kb") is not None]
    leanest = min(measured, key=lambda r: r["mem_per_task_kb"]) if measured else None
    ties = f" (tied with {', '.join(m for m in tops if m not in case.rule_models)})" if len(tops) > len(followers) else ""
    if not followers:
        agrees = NO
        ruled = [by[m] for m in case.rule_models if m in by]
        text = (f"does not agree here: {_names(tops)} ran fastest ({_wall(best)})"
                + (f"; {ruled[0]['model']} took {_wall(ruled[0])}" if ruled else f"; {case.rule} did not run"))
    elif case.name == "cpu" and ties:
        agrees = PARTLY
        text = f"partly: {_names(followers)} shared the first rank with models that cannot run in parallel{ties}"
    else:
        agrees = YES
        text = f"agrees: {_names(followers)} ran fastest ({_wall(by[followers[0]])}){ties}"
    if case.by_memory and leanest is not None:
        lean = leanest["model"] in case.rule_models
        mem = f"{leanest['model']} held a connection for the least memory, {format_kb(leanest['mem_per_task_kb'])}"
        others = [r for r in measured if r is not leanest]
        if others:
            mem += " (" + ", ".join(f"{r['model']} {format_kb(r['mem_per_task_kb'])}" + _kernel(r) for r in others) + ")"
        if agrees == YES and not lean:
            agrees, text = PARTLY, f"partly: {text[len('agrees: '):]}, but {mem}"
        elif agrees == NO and lean:
            agrees, text = PARTLY, f"partly: {text}, but {mem}"
        else:
            text += f"; {mem}"
    if 1 in (r["rounds"] for r in rows if r["model"] in tops):
        text += f" (one round: within {ONE_ROUND_MARGIN:.0%} of the fastest is no measured difference)"
    return Verdict(tops, best, leanest, agrees, text + ".")


def _kernel(row: dict[str, Any]) -> str:
    """' + 16.0 KB of kernel stacks, inferred' where the run added threads, else ''."""
    kb = row.get("mem_kernel_kb_inferred")
    return f" + {format_kb(kb)} of kernel stack, inferred" if kb and kb >= 1 else ""


def skipped_text(skipped: dict[str, str]) -> str:
    """Who sat out and why, the models with the same reason together ("pool, thread-pool
    skipped: needs at least ..."), each reason once."""
    by_reason: dict[str, list[str]] = {}
    for model, why in skipped.items():
        reason = why[len(model) + 1:] if why.startswith(model + " ") else why
        by_reason.setdefault(reason, []).append(model)
    return "; ".join(f"{', '.join(models)} skipped: {reason}" for reason, models in by_reason.items())


def _names(models: Sequence[str]) -> str:
    return ", ".join(models)


def _wall(row: dict[str, Any]) -> str:
    spread = f" ±{row['spread']:.0%}" if row["rounds"] > 1 else ""
    return f"{format_time(row['wall_s'] * 1e9)}{spread}"


def _size(spec: RunSpec) -> str:
    if spec.is_net:
        return f"{spec.tasks:,} connections x {spec.requests} x {spec.latency_ms:g} ms"
    return f"{spec.tasks} tasks, scale {spec.scale:g}"


def advise(cases: Sequence[Case] = CASES, rounds: int | None = None, as_json: bool = False,
           stop: Any = None, progress: Any = None) -> int:
    """Run ``cases`` (ranking.measure: every model in every round, ``rounds`` of them, three
    unless a first round takes over 20 s) and print one table, or with ``as_json`` every
    figure. Returns 1 if ``stop`` cancelled it (nothing printed), else 0."""
    results = []
    machine: dict[str, Any] = {}
    for case in cases:
        specs, skipped = case.runnable()
        measured = measure(specs, rounds, stop, progress, label=f"{case.name}: ") if specs else ({}, 0)
        if measured is None:
            return 1
        frames, done = measured
        rows = rank_runs({name: [f.stats for f in runs] for name, runs in frames.items()})
        if frames:
            machine = next(iter(frames.values()))[0].machine
        results.append((case, rows, skipped, done, judge(case, rows)))
    if as_json:
        print(json.dumps({"machine": machine, "cases": [
            {"case": c.name, "workload": c.spec.workload, "tasks": c.spec.tasks, "requests": c.spec.requests,
             "latency_ms": c.spec.latency_ms, "scale": c.spec.scale, "rule": c.rule, "rule_text": c.rule_text,
             "rounds": done, "rows": rows, "skipped": skipped,
             "fastest": v.fastest if v else [], "agrees": v.agrees if v else None,
             "verdict": v.text if v else "nothing ran"}
            for c, rows, skipped, done, v in results]}, indent=2))
        return 0
    print(f"concviz advise: the rule of thumb, measured on this machine  (Python {machine.get('python')}, "
          f"{machine.get('cpus')} CPUs)")
    print()
    print(f"  {'case':<10}{'rule says':<11}{'fastest here':<24}{'wall':>9}{'±':>5}{'mem/task':>10}  agrees")
    for case, rows, _, done, v in results:
        if v is None:
            print(f"  {case.name:<10}{case.rule:<11}{'(nothing could run)':<24}")
            continue
        won = _names(v.fastest)
        won = won if len(won) <= 22 else won[:21] + "…"
        spread = f"{v.best['spread']:.0%}" if done > 1 else "-"
        print(f"  {case.name:<10}{case.rule:<11}{won:<24}{format_time(v.best['wall_s'] * 1e9):>9}{spread:>5}"
              f"{format_kb(v.best['mem_per_task_kb']):>10}  {v.agrees}")
    print()
    for case, rows, skipped, done, v in results:
        say(f"{case.name} ({_size(case.spec)}, {done} round{'s' if done != 1 else ''}): "
             + "; ".join(f"{r['model']} {_wall(r)}, {format_kb(r['mem_per_task_kb'])}" for r in rows)
             + (f"; {skipped_text(skipped)}" if skipped else ""))
        say(f"Rule: {case.rule_text}")
        say(f"Measured here: {v.text if v else 'nothing could run.'}")
        print()
    say("wall: the fastest model's median; ±: half the range of its rounds; mem/task: the memory "
         "(PSS) its run grew by, per task. Models whose ranges of wall time overlap share the first "
         "rank: the measurement cannot tell them apart.")
    return 0
