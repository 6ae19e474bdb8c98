"""``vptstudy demo``: the embedded mini-study end to end, offline, on CPU.

Runs ``studies/demo.toml`` (FT, VPT-deep, Mixed and FT-then-PT on one toy task per quadrant of the paper's
Figure 1, lr search then final seeds) and ``studies/demo-datasize.toml`` (FT vs VPT-deep against training-set
size), measures each toy task's Fréchet distance from the toy backbone's upstream data in that backbone's feature
space, and writes one folder: the run directories, a markdown report (accuracy per task and method, each
quadrant's winner by a paired comparison over seeds, agreement with the paper, the data-size crossover,
overfitting verdicts) and the figures (curves, data size, quadrant, attribution, t-SNE, hyperbolic UMAP).
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vptstudy import runs
from vptstudy.errors import UserError
from vptstudy.executors import ExecutorSpec
from vptstudy.study import Study, load_study, with_run
from vptstudy.sweep import run_studies

# package data, so an installed vptstudy (not only a checkout) runs the demo; studies/demo*.toml are copies of these
STUDIES_DIR = Path(__file__).resolve().parent / "assets" / "studies"
FT, VPT = "ft", "vpt-deep"
QUICK_TASKS = ("toy/shapes-new", "toy/sprites-scale")  # one similar-data and one different-data task
QUICK_METHODS = (FT, VPT)
Callback = Callable[[str, dict[str, Any]], None]
# {task: {method: {seed: final test accuracy}}}
SeedAccuracies = dict[str, dict[str, dict[int, float]]]


@dataclass
class DemoOutputs:
    out_dir: Path
    report: Path
    figures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    attribution: tuple[str, str] | None = None  # (task, selection) of the attribution figure
    embedding_task: str | None = None


def demo_studies(out_dir: Path, quick: bool, studies_dir: Path = STUDIES_DIR) -> list[Study]:
    """The demo's studies, writing under ``out_dir/runs``; ``quick`` shrinks them to a smoke test."""
    files = [studies_dir / "demo.toml", studies_dir / "demo-datasize.toml"]
    for file in files:
        if not file.is_file():
            raise UserError(
                f"demo study {str(file)!r} not found",
                str(studies_dir),
                "reinstall vptstudy (the demo's studies ship in vptstudy/assets/studies/)",
            )
    main, sizes = (load_study(f) for f in files)
    main = dataclasses.replace(main, grid=grid_by_optimizer(main))
    runs_dir = str(out_dir / "runs")
    main = with_run(main, "demo", out_dir=runs_dir)
    sizes = with_run(sizes, "demo", out_dir=runs_dir)
    if not quick:
        return [main, sizes]
    grid = {m: (lrs[:1], wds[:1]) for m, (lrs, wds) in main.grid.items() if m in QUICK_METHODS}
    main = dataclasses.replace(
        main,
        tasks=QUICK_TASKS,
        methods=QUICK_METHODS,
        seeds=main.seeds[:1],
        grid=grid,
    )
    return [with_run(main, "demo --quick", epochs=2, warmup_epochs=0, train_size=40, test_subsample=100)]


def grid_by_optimizer(study: Study) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """The study's grids, plus one for each method without its own: the grid of the first method that searches
    with the same optimizer (e.g. Mixed takes FT's grid while it trains with AdamW, VPT-deep's once it is SGD)."""
    from vptstudy.methods import get_method

    grid = dict(study.grid)
    for method in study.methods:
        if method in grid:
            continue
        optimizer = get_method(method).optimizer
        same = [m for m in study.methods if m in study.grid and get_method(m).optimizer == optimizer]
        if same:
            grid[method] = study.grid[same[0]]
    return grid


def seed_accuracies(summaries: list[dict[str, Any]]) -> SeedAccuracies:
    """Final test accuracy of every finished final run, by task, method and seed."""
    accs: SeedAccuracies = {}
    for s in summaries:
        ok = {int(r["seed"]): float(r["final"]["test_acc"]) for r in s["results"] if r.get("status") == "ok"}
        if ok:
            accs.setdefault(s["task"], {})[s["method"]] = ok
    return accs


def executor(quick: bool) -> ExecutorSpec:
    """Two CPU workers (one thread each) when there are two cores: small models use one core best."""
    cores = os.cpu_count() or 1
    return ExecutorSpec(workers=1 if quick or cores < 2 else 2)


def _final_run(summaries: list[dict[str, Any]], task: str, method: str) -> Path | None:
    for s in summaries:
        if s["task"] == task and s["method"] == method:
            done = [r for r in s["results"] if r.get("status") == "ok" and r.get("run_dir")]
            if done:
                return Path(done[0]["run_dir"])
    return None


def _distances(tasks: tuple[str, ...], out_dir: Path, quick: bool, callback: Callback) -> dict[str, Any]:
    from vptstudy.fid.compute import FidRequest, compute_fid

    req = FidRequest(
        reference="toy-upstream",
        tasks=tasks,
        features="backbone",
        model="toy-vit",
        device="cpu",
        cache_dir=str(out_dir / "cache"),
        max_images=200 if quick else None,
    )
    result = compute_fid(
        req, lambda label, done, total: callback("fid", {"label": label, "done": done, "total": total})
    )
    return {"rows": result.rows, "extractor": result.extractor}


def run_demo(
    out_dir: str | Path = "demo-out",
    quick: bool = False,
    callback: Callback | None = None,
    studies_dir: Path = STUDIES_DIR,
) -> DemoOutputs:
    """Run the mini-study into ``out_dir``; returns where the report and figures are."""
    from vptstudy.analysis.quadrant import quadrant_table

    start = time.perf_counter()
    callback = callback or (lambda event, info: None)
    out = Path(out_dir)
    studies = demo_studies(out, quick, studies_dir)
    main = studies[0]
    spec = executor(quick)
    summaries, *extras = run_studies(studies, spec, callback)  # one pool: workers start once for both studies
    size_summaries = [s for extra in extras for s in extra]
    callback("stage", {"name": "distances", "runs": len(main.tasks), "units": len(main.tasks)})
    fid = _distances(main.tasks, out, quick, callback)
    accs = seed_accuracies(summaries)
    distances = {row.task: row.fid for row in fid["rows"]}
    means = {t: {m: statistics.fmean(v.values()) for m, v in ms.items() if m in (FT, VPT)} for t, ms in accs.items()}
    both = {t: ms for t, ms in means.items() if FT in ms and VPT in ms}
    table = quadrant_table(distances, both, seeds={t: accs[t] for t in both})
    outputs = DemoOutputs(out, out / "report.md")
    callback("stage", {"name": "figures", "runs": 4 if quick else 6, "units": 1})
    _figures(
        outputs,
        main,
        summaries,
        size_summaries,
        table,
        accs,
        quick,
        lambda: callback("progress", {"done": len(outputs.figures), "total": 4 if quick else 6}),
    )
    outputs.seconds = time.perf_counter() - start
    from vptstudy.demo_report import demo_report

    runs.atomic_write_bytes(
        outputs.report, demo_report(main, summaries, size_summaries, accs, fid, table, outputs, quick).encode()
    )
    return outputs


def _mean(values: dict[int, float]) -> float:
    return statistics.fmean(values.values())


def attribution_order(accs: SeedAccuracies) -> list[str]:
    """Tasks with both methods, VPT's lead over FT first: the paper's case (FT wrong, VPT right) is sought there."""
    both = [t for t, m in accs.items() if FT in m and VPT in m]
    return sorted(both, key=lambda t: _mean(accs[t][FT]) - _mean(accs[t][VPT]))


def embedding_task(accs: SeedAccuracies) -> str | None:
    """The task on which both FT and VPT-deep learned most (the lower of their means is highest): its classes
    are separated by trained models, so the embedding shows structure rather than noise."""
    both = [t for t, m in accs.items() if FT in m and VPT in m]
    return max(both, key=lambda t: min(_mean(accs[t][FT]), _mean(accs[t][VPT])), default=None)


def _figures(
    outputs: DemoOutputs,
    main: Study,
    summaries: list[dict[str, Any]],
    size_summaries: list[dict[str, Any]],
    table: Any,
    accs: SeedAccuracies,
    quick: bool,
    drawn: Callable[[], None],
) -> None:
    from vptstudy.figures.curves import plot_curves
    from vptstudy.figures.quadrant import plot_quadrant
    from vptstudy.figures.select import find_runs

    fig_dir = outputs.out_dir / "figures"
    first_seed = main.seeds[0]
    finals = [
        r
        for r in find_runs([outputs.out_dir / "runs" / main.name], complete=True)
        if r.cfg.split == "final" and r.cfg.seed == first_seed
    ]
    outputs.figures += plot_curves(
        finals,
        fig_dir / "curves",
        scale="log",
        columns=2,
        title=f"Toy tasks: train (solid) / test (dashed) loss, seed {first_seed}",
    )
    drawn()
    outputs.figures += plot_quadrant(
        table,
        fig_dir / "quadrant",
        feature_label="Fréchet distance (toy-vit features)",
        title="Toy tasks: distance from upstream data, coloured by the paired winner",
    )
    drawn()
    if size_summaries:
        from vptstudy.figures.datasize import plot_datasize

        sized = find_runs([outputs.out_dir / "runs" / "demo-datasize"], complete=True)
        outputs.figures += plot_datasize([r for r in sized if r.cfg.split == "final"], fig_dir / "datasize")
        drawn()
    order = attribution_order(accs)
    if not order:
        outputs.notes.append("no task has both FT and VPT results: attribution and embeddings skipped")
        return
    outputs.attribution = _attribution(outputs, summaries, order, fig_dir, 8 if quick else 32)
    drawn()
    _embedding_figures(outputs, summaries, accs, fig_dir, quick, drawn)


def _embedding_figures(
    outputs: DemoOutputs,
    summaries: list[dict[str, Any]],
    accs: SeedAccuracies,
    fig_dir: Path,
    quick: bool,
    drawn: Callable[[], None],
) -> None:
    """t-SNE (and UMAP unless quick) of FT's and VPT-deep's features on the embedding task."""
    from vptstudy.figures.embeddings import embedding_figure

    task = embedding_task(accs)
    assert task is not None
    ft_run, vpt_run = _final_run(summaries, task, FT), _final_run(summaries, task, VPT)
    assert ft_run is not None and vpt_run is not None
    outputs.embedding_task = task
    kinds = ("tsne",) if quick else ("tsne", "umap")
    for kind in kinds:
        outputs.figures += embedding_figure(
            [ft_run, vpt_run], fig_dir / kind, kind=kind, max_points=300 if quick else 1000
        )
        drawn()


def _attribution(
    outputs: DemoOutputs, summaries: list[dict[str, Any]], order: list[str], fig_dir: Path, ig_steps: int
) -> tuple[str, str] | None:
    """Draw the attribution figure for the first task (in ``order``) with an FT-wrong / VPT-right test image;
    only when no task has one, the reverse case. Returns the (task, selection) drawn."""
    from vptstudy.figures.attribution import attribution_figure

    for selection in ("ft-wrong-vpt-right", "vpt-wrong-ft-right"):
        for task in order:
            ft_run, vpt_run = _final_run(summaries, task, FT), _final_run(summaries, task, VPT)
            assert ft_run is not None and vpt_run is not None
            try:
                outputs.figures += attribution_figure(
                    ft_run, vpt_run, fig_dir / "attribution", selection=selection, ig_steps=ig_steps
                )
            except UserError as exc:
                outputs.notes.append(f"attribution on {task} ({selection}) skipped: {exc.line()}")
                continue
            return task, selection
    return None
