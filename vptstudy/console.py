"""Rich rendering shared by the CLI commands: progress callbacks and result tables. (No Typer here.)"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

console = Console(stderr=True)
out = Console()


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def warn(message: str) -> None:
    """One ``vptstudy: warning: ...`` line on stderr, never wrapped."""
    console.print(f"vptstudy: warning: {message}", soft_wrap=True, markup=False, highlight=False)


class LazyProgress(Progress):
    """A Progress that starts drawing at its first task, so an error before any work leaves no empty line."""

    def __enter__(self) -> LazyProgress:
        return self

    def add_task(self, *args: Any, **kwargs: Any) -> TaskID:
        if not self.live.is_started:
            self.start()
        return super().add_task(*args, **kwargs)

    def stop(self) -> None:
        if self.live.is_started:  # rich prints a newline on stop even when nothing was drawn
            super().stop()


def make_progress() -> Progress:
    return LazyProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=False,
    )


class TrainProgress:
    """A fit() callback that drives a rich progress bar: data loading, then steps across all phases."""

    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label
        self.load_task: Any = None
        self.task: Any = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        p = self.progress
        if event == "load":
            if self.load_task is None:
                self.load_task = p.add_task(f"{self.label} decode", total=info["total"], info="")
            p.update(self.load_task, completed=info["done"])
        elif event == "phase":
            total = info["steps"] * info["phases"]
            if self.task is None:
                self.task = p.add_task(self.label, total=total, info="")
            p.update(self.task, completed=info["index"] * info["steps"] + info.get("done_steps", 0))
            p.update(self.task, info=f"phase {info['name']} ({info['index'] + 1}/{info['phases']})")
        elif event == "step":
            p.advance(self.task)
        elif event == "epoch":
            val = "" if info["val_acc"] is None else f" val {pct(info['val_acc'])}%"
            test = "" if info["test_acc"] is None else f" test {pct(info['test_acc'])}%"  # tuning runs: no test
            loss = f"loss {info['train_loss']:.3f}"
            p.update(self.task, info=f"{info['phase']} ep {info['phase_epoch']} {loss}{val}{test}")
        elif event == "resume":
            console.print(f"[cyan]resuming after epoch {info['epoch']}:[/] {info['run_dir']}")
        elif event == "warning":
            warn(info["message"])
        elif event == "skip":
            console.print(f"[yellow]already complete, not run again:[/] {info['run_dir']}")


def results_table(results: list[dict[str, Any]], title: str = "Results") -> Table:
    """One row per run: method, tuned/total parameters, final accuracy / loss per split, time, status."""
    table = Table(title=title, caption="accuracy % / cross-entropy loss; run directories below")
    for col, justify in [
        ("task", "left"),
        ("method", "left"),
        ("tuned / total", "right"),
        ("train", "right"),
        ("val", "right"),
        ("test", "right"),
        ("time", "right"),
        ("status", "left"),
    ]:
        table.add_column(col, justify=justify)
    for r in results:
        f = r.get("final", {})
        table.add_row(
            r["task"],
            r["method"],
            f"{r['trainable_params']:,} / {r['total_params']:,}\n({r['trainable_pct']:.2f}%)",
            *(f"{pct(f.get(k + '_acc'))} / {num(f.get(k + '_loss'), 3)}" for k in ("train", "val", "test")),
            f"{r['wall_seconds']:.1f}s",
            r["status"],
        )
    return table


def print_results(results: list[dict[str, Any]], title: str = "Results") -> None:
    out.print(results_table(results, title))
    for r in results:
        out.print(f"run: {r['run_dir']}", soft_wrap=True)


class SweepProgress:
    """A sweep callback: an overall bar over the runs asked for so far, and a per-run bar driven by fit() events
    when runs train in this process."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.overall: Any = None
        self.run_bar: TrainProgress | None = None

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        p = self.progress
        if event == "stage":
            console.print(f"[bold]stage {info['name']}[/]: {info['runs']} runs over {info['units']} units")
            if self.overall is not None:
                p.remove_task(self.overall)
            self.overall = p.add_task(f"{info['name']} runs", total=info["runs"], info="")
        elif event in {"run", "dispatch"}:
            cfg = info["config"]
            where = f"worker {info['worker']}: " if "worker" in info else ""
            stop = f" to epoch {cfg.stop_epoch}" if cfg.stop_epoch else ""
            p.update(
                self.overall,
                info=f"{where}{cfg.task} {cfg.method} lr={cfg.base_lr:g} wd={cfg.weight_decay:g} seed={cfg.seed}{stop}",
            )
            if event == "run":
                if self.run_bar is not None and self.run_bar.task is not None:
                    p.remove_task(self.run_bar.task)
                self.run_bar = TrainProgress(p, "  run")
        elif event == "progress":
            p.update(self.overall, completed=info["done"], total=info["total"])
        elif event == "submitted":
            console.print(f"submitted {len(info['jobs'])} Slurm job(s); logs in {info['log_dir']}")
        elif event == "warning":
            warn(info["message"])
        elif event == "waiting":
            console.print(f"[yellow]waiting for another process to finish:[/] {info['run_dir']}", soft_wrap=True)
        elif event == "job_failed":
            console.print(f"[red]job {info['job']} failed:[/] {info['reason']}")
        elif self.run_bar is not None and event in {"load", "phase", "step", "epoch", "skip", "resume", "busy", "done"}:
            self.run_bar(event, info)
            if event == "busy":  # (train itself turns a busy run into an error line)
                console.print(f"[yellow]claimed by another worker, skipped:[/] {info['run_dir']}")


def summary_table(summaries: list[dict[str, Any]], title: str = "Sweep summary") -> Table:
    """One row per unit: chosen lr/wd, final test accuracy mean ± std over seeds, run states, notes."""
    import statistics

    table = Table(title=title, caption="test accuracy % over the final seeds")
    for col in ("unit", "lr", "wd", "test acc", "seeds ok", "note"):
        table.add_column(col)
    for s in summaries:
        ok = [r["final"]["test_acc"] for r in s["results"] if r.get("status") == "ok"]
        acc = (
            "-"
            if not ok
            else (f"{100 * statistics.fmean(ok):.2f} ± {100 * (statistics.stdev(ok) if len(ok) > 1 else 0.0):.2f}")
        )
        lr, wd = s["chosen"] if s["chosen"] else ("-", "-")
        states = [r.get("status") for r in s["results"]]
        bad = ", ".join(f"{states.count(k)} {k}" for k in sorted(set(states)) if k != "ok")
        table.add_row(
            s["unit"],
            f"{lr:g}" if lr != "-" else lr,
            f"{wd:g}" if wd != "-" else wd,
            acc,
            f"{len(ok)}/{len(states)}" + (f" ({bad})" if bad else ""),
            s["note"],
        )
    return table


WIDE_TASKS_TABLE = 130  # columns the tasks table needs to hold "how to get it" readably


def print_tasks(root: Any, rows: list[dict[str, Any]], layouts: Any) -> None:
    """``vptstudy tasks``: one row per task; on a narrow terminal preprocessing and how to get the data go below."""
    wide = out.width >= WIDE_TASKS_TABLE  # narrow terminals: preprocessing and how to get the data go below
    table = Table(title=f"Tasks (data root: {root})", caption="; ".join(layouts))
    for col in ("task", "group", "classes", "disparity", "prompts", *(("preprocess",) if wide else ())):
        table.add_column(col, no_wrap=True)  # short values, and task names to copy: never broken
    table.add_column("available here", overflow="fold")
    if wide:
        table.add_column("how to get it", overflow="fold")
    for row in rows:
        prompts = str(row["prompts"] or "-")  # the study's per-task prompt length (VTAB-1k only)
        cells = [row["task"], row["group"], str(row["classes"] or "from data"), row["disparity"], prompts]
        extra = [row["preprocess"], row["available"], row["get_it"]] if wide else [row["available"]]
        table.add_row(*cells, *extra)
    out.print(table)
    if not wide:
        out.print("[bold]preprocessing and how to get the data[/]")
        for row in rows:
            out.print(f"  [bold]{row['task']}[/] ({row['preprocess']}): {row['get_it']}")


def grid_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    """A rich table of strings with no cell broken mid-value."""
    table = Table(title=title)
    for col in header:
        table.add_column(col, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return table


def bench_table(rows: list[dict[str, Any]]) -> Table:
    """The bench figures as a rich table (one row per method)."""
    from rich import box

    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    def rate(value: float) -> str:
        return format(value, ",.0f" if value >= 100 else ".1f")

    first = rows[0]
    table = Table(
        title=f"bench: {first['model']} at {first['input_size']}px, batch {first['batch_size']} "
        f"(eval {first['eval_batch_size']}), "
        f"{first['device']}, {first['threads']} thread(s), {first['clock']} clock",
        caption="images/s; overhead: real epoch / bare compute of the same work; vs FT: bare step time ratio; "
        "warm-up: the untimed first steps (with --compile, mostly compilation)",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("method", no_wrap=True)
    for col in ("bare", "train", "eval", "epoch", "overhead", "vs FT", "warm-up", "peak MB", "MFU %"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            r["method"],
            rate(r["bare_images_per_s"]),
            rate(r["train_images_per_s"]),
            rate(r["eval_images_per_s"]),
            f"{r['epoch_s']:.2f}s",
            fmt(r["overhead_ratio"], ".3f"),
            fmt(r.get("vpt_to_ft_step_ratio"), ".3f"),
            f"{r['warmup_s']:.1f}s",
            fmt(r["peak_memory_bytes"] / 2**20, ",.0f"),
            fmt(None if r["mfu"] is None else 100 * r["mfu"], ".1f"),
        )
    return table


def startup_table(rows: list[dict[str, Any]]) -> Table:
    """``bench --startup``: seconds per phase from process start to the first training step, one row per run."""
    from rich import box

    table = Table(
        title="bench --startup: seconds from process start to the first training step (cpu)",
        caption="fixed: all but the step; 2nd process: data cache warm; in-process: another lr right after it "
        "in that process (imports done, tensors and backbone kept); load: 1-min load average",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 0),
    )
    table.add_column("case", no_wrap=True)
    table.add_column("run", no_wrap=True)
    columns = ("start", "import", "data", "model", "method", "step", "fixed", "total")
    for col in (*columns, "load"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(r["case"], r["run"], *(f"{r[k + '_s']:.2f}" for k in columns), f"{r['load_avg_1m']:.1f}")
    return table
