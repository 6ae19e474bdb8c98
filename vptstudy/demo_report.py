"""The demo's markdown report: accuracies, distances, quadrants, agreement with the paper, figures."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from vptstudy.study import Study

FT, VPT = "ft", "vpt-deep"
# What the paper (section 4.3, Figure 1) predicts for each quadrant of data and task similarity.
PAPER_RULE = {
    ("similar data", "similar task"): "vpt",
    ("similar data", "different task"): "vpt",
    ("different data", "different task"): "vpt",
    ("different data", "similar task"): "ft",
}


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.fmean(values):.1f} ± {100 * std:.1f}"


def _winner(ms: dict[str, list[float]]) -> str:
    if FT not in ms or VPT not in ms:
        return "-"
    ft, vpt = statistics.fmean(ms[FT]), statistics.fmean(ms[VPT])
    return "VPT" if vpt > ft else ("FT" if ft > vpt else "tie")


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
    return [
        f"Backbone: `toy-vit` ({shape}), pretrained by `vptstudy pretrain-toy` on the synthetic upstream task "
        f"({card.get('upstream_task', {}).get('num_classes', '?')} classes); upstream top-1 {acc_text} on a "
        "fresh held-out sample (card: `vptstudy/assets/toy_vit.json`).",
        "",
    ]


def demo_report(
    main: Study,
    summaries: list[dict[str, Any]],
    size_summaries: list[dict[str, Any]],
    accs: dict[str, dict[str, list[float]]],
    fid: dict[str, Any],
    table: Any,
    outputs: Any,
    quick: bool,
) -> str:
    """The whole report as markdown."""
    from vptstudy.analysis.quadrant import summary_lines, to_markdown
    from vptstudy.analysis.tables import collect, overfitting_lines
    from vptstudy.data.toy_tasks import TOY_QUADRANTS

    run = main.run
    lines = ["# vptstudy demo: FT vs VPT-deep on the toy quadrants", ""]
    if quick:
        lines += ["**Quick mode**: a smoke test (1 seed, 1 lr, 2 epochs, 40 training images); numbers mean little.", ""]
    lines += _card_lines()
    lines += [
        f"Protocol: train size {run.get('train_size', 800)} (val = 1/4 of it), {run.get('epochs')} epochs, "
        f"batch {run.get('batch_size')}, {run.get('num_prompts')} prompts; lr searched on val with seed "
        f"{main.seeds[0]} over {', '.join(f'{m}: {list(g[0])}' for m, g in main.grid.items())}; final runs on "
        f"train+val with seeds {list(main.seeds)}, evaluated on the whole test set. Wall time of this invocation "
        f"{outputs.seconds / 60:.1f} min (finished runs are reused, not trained again).",
        "",
    ]
    dist = {row.task: row for row in fid["rows"]}
    lines += [
        "## Accuracy and distance per task",
        "",
        "Final test top-1 (%), mean ± std over seeds. Distance: Fréchet distance between the task's "
        "train+val images and held-out upstream images, in toy-vit's pre-logit feature space.",
        "",
        "| task | quadrant (data, task) | disparity | distance | FT | VPT-deep | winner | paper expects |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    agree = total = 0
    for task in main.tasks:
        ms = accs.get(task, {})
        quadrant = TOY_QUADRANTS.get(task, ("?", "?"))
        expected = PAPER_RULE.get(quadrant, "?")
        winner = _winner(ms)
        if winner in ("VPT", "FT"):
            total += 1
            agree += winner.lower() == expected
        row = dist.get(task)
        cells = [
            task,
            f"{quadrant[0]}, {quadrant[1]}",
            row.disparity if row else "?",
            f"{row.fid:.2f}" if row else "-",
            _mean_std(ms[FT]) if FT in ms else "-",
            _mean_std(ms[VPT]) if VPT in ms else "-",
            winner,
            expected.upper(),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"**Agreement with the paper**: the winner matches the paper's prediction on {agree} of {total} "
        "decided tasks. The toy study is small and its verdicts are what the runs gave; where it disagrees "
        "with the paper, that is the result.",
        "",
    ]
    lines += [
        "## Quadrants by measured distance",
        "",
        "The same tasks split by the measured distance (above/below the median) and the registry's task "
        "disparity, as in the paper's Figure 3.",
        "",
        to_markdown(table),
        "",
    ]
    lines += [f"- {line}" for line in summary_lines(table)[1:]] + [""]
    lines += ["## Learning-rate search", "", "| unit | chosen lr | chosen wd |", "|---|---:|---:|"]
    for s in summaries:
        lr, wd = s["chosen"] if s["chosen"] else ("-", "-")
        lines.append(f"| {s['unit']} | {lr} | {wd} |")
    lines.append("")
    if size_summaries:
        lines += ["## Data size (toy/count, fixed lr)", "", "| train size | method | test % |", "|---:|---|---:|"]
        for s in size_summaries:
            ok = [r["final"]["test_acc"] for r in s["results"] if r.get("status") == "ok"]
            lines.append(f"| {s['unit'].split('n=')[-1]} | {s['method']} | {_mean_std(ok) if ok else s['note']} |")
        lines.append("")
    report = collect(outputs.out_dir / "runs" / main.name)
    for t in report.tables:
        lines += ["## Overfitting", "", *overfitting_lines(t)]
    if report.failed:
        lines += ["## Failed runs", ""] + [f"- {r.get('run_dir')}: {r.get('reason')}" for r in report.failed] + [""]
    lines += ["## Figures", ""] + [f"- `{Path(f).relative_to(outputs.out_dir)}`" for f in outputs.figures] + [""]
    if outputs.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in outputs.notes] + [""]
    return "\n".join(lines)
