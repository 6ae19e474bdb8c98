"""The demo's markdown report: accuracies, paired verdicts per quadrant, agreement with the paper, data size."""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vptstudy.analysis.paired import UNDECIDED, PairedResult, crossover, paired
from vptstudy.study import Study

FT, VPT = "ft", "vpt-deep"
METHOD_NAMES = {"ft": "FT", "vpt-deep": "VPT-deep", "mixed": "Mixed", "ft-then-pt": "FT-then-PT"}
# What the paper (section 4.3, Figure 1) predicts for each quadrant of data and task similarity.
PAPER_RULE = {
    ("similar data", "similar task"): VPT,
    ("similar data", "different task"): VPT,
    ("different data", "different task"): VPT,
    ("different data", "similar task"): FT,
}
SeedAccs = Mapping[int, float]


@dataclass(frozen=True)
class Verdict:
    """One task's FT vs VPT-deep comparison, paired over seeds, against the paper's expectation."""

    task: str
    quadrant: tuple[str, str]
    result: PairedResult
    expected: str  # "ft", "vpt-deep" or "?"

    @property
    def agreement(self) -> str:
        return self.result.agreement(self.expected) if self.expected != "?" else "no verdict"


def verdicts(tasks: list[str] | tuple[str, ...], accs: Mapping[str, Mapping[str, SeedAccs]]) -> list[Verdict]:
    """FT vs VPT-deep on every task that has both, paired by seed (see :mod:`vptstudy.analysis.paired`)."""
    from vptstudy.data.toy_tasks import TOY_QUADRANTS

    out = []
    for task in tasks:
        ms = accs.get(task, {})
        if FT not in ms or VPT not in ms:
            continue
        quadrant = TOY_QUADRANTS.get(task, ("?", "?"))
        out.append(Verdict(task, quadrant, paired(FT, ms[FT], VPT, ms[VPT]), PAPER_RULE.get(quadrant, "?")))
    return out


def agreement_line(rows: list[Verdict]) -> str:
    """How many quadrants are decided, and how many decided ones agree with the paper."""
    decided = [v for v in rows if v.result.winner != UNDECIDED]
    agree = [v for v in decided if v.agreement == "agrees"]
    disagree = [v.task for v in decided if v.agreement == "disagrees"]
    undecided = [v.task for v in rows if v.result.winner == UNDECIDED]
    text = (
        f"**Agreement with the paper**: {len(decided)} of {len(rows)} comparisons are decided (paired t-test over "
        f"seeds, p < {rows[0].result.alpha:g})"
        if rows
        else "**Agreement with the paper**: no comparison to make"
    )
    if rows:
        text += f"; the winner agrees with the paper on {len(agree)} of {len(decided)} decided"
        if disagree:
            text += f", and disagrees on {', '.join(disagree)}"
        if undecided:
            text += f"; undecided (difference within seed noise): {', '.join(undecided)}"
        text += "."
    return text


def _mean_std(values: SeedAccs | list[float]) -> str:
    vals = list(values.values()) if isinstance(values, Mapping) else values
    std = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{100 * statistics.fmean(vals):.1f} ± {100 * std:.1f}"


def _name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def _card_lines() -> list[str]:
    from vptstudy.models.toy import load_card

    card = load_card()
    if not card:
        return ["The toy backbone's card is missing: rebuild it with `vptstudy pretrain-toy`.", ""]
    arch = card.get("architecture", {})
    shape = ", ".join(
        f"{k} {arch[k]}" for k in ("img_size", "patch_size", "embed_dim", "depth", "num_heads") if k in arch
    )
    upstream = card.get("upstream_accuracy", {})
    top1 = upstream.get("top1") if isinstance(upstream, dict) else upstream
    acc_text = f"{100 * top1:.1f}%" if isinstance(top1, float) else "unknown"
    steps, minutes = _pretraining(card)
    return [
        f"Backbone: `toy-vit` ({shape}), pretrained by `vptstudy pretrain-toy` on the synthetic upstream task "
        f"({card.get('upstream_task', {}).get('num_classes', '?')} classes; {steps}, {minutes} on CPU); "
        f"upstream top-1 {acc_text} on a fresh held-out sample (card: `vptstudy/assets/toy_vit.json`).",
        "",
    ]


def _pretraining(card: Mapping[str, Any]) -> tuple[str, str]:
    """("7000 + 6000 steps of batch 64", "110 min") over every stage the card lists."""
    training = card.get("training", {})
    stages = card.get("stages") or [card.get("command", "")]
    counts = [m.group(1) for m in (re.search(r"--steps (\d+)", str(c)) for c in stages) if m]
    steps = f"{' + '.join(counts) or training.get('steps')} steps of batch {training.get('batch_size')}"
    every = card.get("train_seconds_all_stages")
    earlier = (card.get("init") or {}).get("train_seconds")
    seconds = [every] if every is not None else [card.get("train_seconds"), earlier]
    known = [x for x in seconds if isinstance(x, (int, float))]
    minutes = f"{sum(known) / 60:.0f} min" if known else "?"
    return (steps if training else "?"), minutes


def _accuracy_table(main: Study, accs: Mapping[str, Mapping[str, SeedAccs]]) -> list[str]:
    from vptstudy.data import TASKS
    from vptstudy.data.toy_tasks import TOY_QUADRANTS

    methods = list(main.methods)
    lines = [
        "| task | quadrant (data, task) | chance | " + " | ".join(_name(m) for m in methods) + " |",
        "|---|---|---:|" + "---:|" * len(methods),
    ]
    for task in main.tasks:
        ms = accs.get(task, {})
        quadrant = TOY_QUADRANTS.get(task, ("?", "?"))
        spec = TASKS.get(task)
        chance = f"{100 / spec.num_classes:.1f}" if spec and spec.num_classes else "-"
        cells = [f"{_mean_std(ms[m])} ({len(ms[m])})" if m in ms else "-" for m in methods]
        lines.append(f"| {task} | {quadrant[0]}, {quadrant[1]} | {chance} | " + " | ".join(cells) + " |")
    return lines


def _verdict_table(rows: list[Verdict], fid: dict[str, Any]) -> list[str]:
    dist = {row.task: row for row in fid["rows"]}
    lines = [
        "| task | quadrant (data, task) | distance | VPT-deep − FT (pts, mean ± std) | seeds | p | winner "
        "| paper expects | agreement |",
        "|---|---|---:|---:|---:|---:|---|---|---|",
    ]
    for v in rows:
        r = v.result
        row = dist.get(v.task)
        cells = [
            v.task,
            f"{v.quadrant[0]}, {v.quadrant[1]}",
            f"{row.fid:.2f}" if row else "-",
            f"{100 * r.mean_diff:+.1f} ± {100 * r.std_diff:.1f}",
            str(r.n),
            "-" if r.p_value is None else f"{r.p_value:.3f}",
            _name(r.winner) if r.winner != UNDECIDED else "undecided",
            _name(v.expected),
            v.agreement,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _variant_lines(main: Study, accs: Mapping[str, Mapping[str, SeedAccs]]) -> list[str]:
    """Mixed and FT-then-PT against VPT-deep (paper section 5.2), paired over seeds."""
    lines = []
    for task in main.tasks:
        ms = accs.get(task, {})
        for other in ("mixed", "ft-then-pt"):
            if other in ms and VPT in ms:
                res = paired(other, ms[other], VPT, ms[VPT])
                winner = _name(res.winner) if res.winner != UNDECIDED else "undecided"
                lines.append(f"- {task}: {res.describe()}: {winner}")
    return lines


def size_table(size_summaries: list[dict[str, Any]]) -> dict[str, dict[str, dict[int, dict[int, float]]]]:
    """``{task: {method: {train size: {seed: test accuracy}}}}`` of the finished data-size runs."""
    out: dict[str, dict[str, dict[int, dict[int, float]]]] = {}
    for s in size_summaries:
        for r in s["results"]:
            if r.get("status") != "ok" or r.get("train_size") is None:
                continue
            by_size = out.setdefault(s["task"], {}).setdefault(s["method"], {})
            by_size.setdefault(int(r["train_size"]), {})[int(r["seed"])] = float(r["final"]["test_acc"])
    return out


def datasize_lines(size_summaries: list[dict[str, Any]]) -> list[str]:
    """Per task: FT and VPT-deep at each size, their paired difference, and where FT overtakes VPT."""
    table = size_table(size_summaries)
    lines: list[str] = []
    for task, methods in sorted(table.items()):
        if FT not in methods or VPT not in methods:
            continue
        sizes = sorted(set(methods[FT]) & set(methods[VPT]))
        lines += [
            f"### {task}",
            "",
            "| train size | FT | VPT-deep | FT − VPT-deep (pts) | p | winner |",
            "|---:|---:|---:|---:|---:|---|",
        ]
        diffs = []
        for n in sizes:
            res = paired(VPT, methods[VPT][n], FT, methods[FT][n])
            diffs.append(res.mean_diff)
            winner = _name(res.winner) if res.winner != UNDECIDED else "undecided"
            p = "-" if res.p_value is None else f"{res.p_value:.3f}"
            lines.append(
                f"| {n} | {_mean_std(methods[FT][n])} | {_mean_std(methods[VPT][n])} | "
                f"{100 * res.mean_diff:+.1f} ± {100 * res.std_diff:.1f} | {p} | {winner} |"
            )
        cross = crossover(sizes, diffs)
        if cross is not None:
            text = f"**Crossover**: FT overtakes VPT-deep at about {cross:.0f} training images (marked in the figure)."
        elif diffs and all(d > 0 for d in diffs):
            text = "**No crossover**: FT is ahead on average at every size."
        elif diffs and all(d <= 0 for d in diffs):
            text = "**No crossover**: VPT-deep is ahead (or level) on average at every size."
        else:
            text = "**No crossover** from VPT-deep to FT: the mean difference turns the other way."
        lines += ["", text + " The paper expects FT to close the gap as the data grows.", ""]
    return lines


def demo_report(
    main: Study,
    summaries: list[dict[str, Any]],
    size_summaries: list[dict[str, Any]],
    accs: Mapping[str, Mapping[str, SeedAccs]],
    fid: dict[str, Any],
    table: Any,
    outputs: Any,
    quick: bool,
) -> str:
    """The whole report as markdown."""
    lines = _intro_lines(main, accs, outputs, quick)
    lines += _verdict_lines(main, accs, fid)
    lines += _distance_lines(table)
    lines += _search_lines(summaries)
    if size_summaries:
        lines += [
            "## Data size (fixed lr, train:val 4:1, final runs on train+val)",
            "",
            "Test accuracy (%), mean ± std over seeds; the difference is paired by seed.",
            "",
            *datasize_lines(size_summaries),
        ]
    lines += _run_health_lines(main, outputs)
    lines += _figure_lines(outputs)
    if outputs.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in outputs.notes] + [""]
    return "\n".join(lines)


def _intro_lines(main: Study, accs: Mapping[str, Mapping[str, SeedAccs]], outputs: Any, quick: bool) -> list[str]:
    """Title, the quick-mode warning, the model card, the protocol and the accuracy table."""
    run = main.run
    methods = ", ".join(_name(m) for m in main.methods)
    lines = [f"# vptstudy demo: {methods} on the toy quadrants", ""]
    if quick:
        lines += ["**Quick mode**: a smoke test (1 seed, 1 lr, 2 epochs, 40 training images); numbers mean little.", ""]
    lines += _card_lines()
    lines += [
        f"Protocol: train size {run.get('train_size', 800)} (val = 1/4 of it), {run.get('epochs')} epochs "
        f"(FT-then-PT: that many per phase), batch {run.get('batch_size')}, "
        f"{run.get('num_prompts')} prompt(s) per layer; lr "
        f"searched on val with seed {main.seeds[0]} over "
        f"{', '.join(f'{_name(m)}: {list(g[0])}' for m, g in main.grid.items())}; final runs on train+val with "
        f"seeds {list(main.seeds)}, evaluated on the whole test set. Wall time of this invocation "
        f"{outputs.seconds / 60:.1f} min (finished runs are reused, not trained again).",
        "",
        "## Accuracy per task and method",
        "",
        "Final test top-1 (%), mean ± std over seeds (number of seeds in brackets).",
        "",
        *_accuracy_table(main, accs),
        "",
    ]
    return lines


def _verdict_lines(main: Study, accs: Mapping[str, Mapping[str, SeedAccs]], fid: dict[str, Any]) -> list[str]:
    """The paired FT vs VPT-deep verdicts per task, and the mixed / FT-then-PT comparison when run."""
    rows = verdicts(main.tasks, accs)
    lines = [
        "## Quadrant verdicts: FT vs VPT-deep, paired over seeds",
        "",
        "Per seed, VPT-deep's test accuracy minus FT's (same data, same test set); the winner is decided by a "
        "two-sided paired t-test at p < 0.05, otherwise the comparison is *undecided*. Distance: Fréchet distance "
        "between the task's train+val images and held-out upstream images, in toy-vit's pre-logit feature space.",
        "",
        *_verdict_table(rows, fid),
        "",
        agreement_line(rows)
        + " The toy study is small and its verdicts are what the runs gave; nothing was tuned towards the paper. "
        "Where it disagrees with the paper, that is the result.",
        "",
    ]
    variants = _variant_lines(main, accs)
    if variants:
        lines += ["### Mixed and FT-then-PT against VPT-deep (paper section 5.2)", "", *variants, ""]
    return lines


def _distance_lines(table: Any) -> list[str]:
    """The quadrant table by measured distance, with its summary."""
    from vptstudy.analysis.quadrant import summary_lines, to_markdown

    lines = [
        "## Quadrants by measured distance",
        "",
        "The same tasks split by the measured distance (above/below the median) and the registry's task "
        "disparity, as in the paper's Figure 3 (FT vs VPT-deep; the winner is the paired verdict above).",
        "",
        to_markdown(table),
        "",
    ]
    return lines + [f"- {line}" for line in summary_lines(table)[1:]] + [""]


def _search_lines(summaries: list[dict[str, Any]]) -> list[str]:
    """The chosen lr and wd of each searched unit."""
    lines = ["## Learning-rate search", "", "| unit | chosen lr | chosen wd |", "|---|---:|---:|"]
    for s in summaries:
        lr, wd = s["chosen"] if s["chosen"] else ("-", "-")
        lines.append(f"| {s['unit']} | {lr} | {wd} |")
    return [*lines, ""]


def _run_health_lines(main: Study, outputs: Any) -> list[str]:
    """Overfitting tables and failed runs, read back from the study's run folders."""
    from vptstudy.analysis.tables import collect, overfitting_lines

    lines: list[str] = []
    report = collect(outputs.out_dir / "runs" / main.name)
    for t in report.tables:
        lines += ["## Overfitting", "", *overfitting_lines(t)]
    if report.failed:
        lines += ["## Failed runs", ""] + [f"- {r.get('run_dir')}: {r.get('reason')}" for r in report.failed] + [""]
    return lines


def _figure_lines(outputs: Any) -> list[str]:
    """The figures written, relative to the output folder, and what the attribution / embedding figures show."""
    lines = ["## Figures", ""] + [f"- `{Path(f).relative_to(outputs.out_dir)}`" for f in outputs.figures]
    if getattr(outputs, "attribution", None):
        task, selection = outputs.attribution
        lines.append(f"- attribution: {task}, test images where {selection.replace('-', ' ')}")
    if getattr(outputs, "embedding_task", None):
        lines.append(f"- t-SNE / UMAP: {outputs.embedding_task} (FT and VPT-deep final runs, first seed)")
    return [*lines, ""]
