"""Running a study from a command: the progress, the summary table, the dry run's print-out, the exit status."""

from __future__ import annotations

import sys

from vptstudy.config import PAPER_MODEL
from vptstudy.errors import RunFailed


def normalize_note(normalize: str, model: str) -> None:
    """One line on stderr when the backbone was pretrained with another mean/std than the one in force."""
    from vptstudy.normalize import mismatch_note

    note = mismatch_note(normalize, model)
    if note:
        print(f"vptstudy: {note}", file=sys.stderr)


def print_dry_run(items: list, title: str, as_json: bool) -> None:
    """The dry run's table and totals (or its JSON); nothing is trained or written."""
    import json

    from vptstudy import dryrun
    from vptstudy.console import out

    data = dryrun.summary(items)
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return
    tab = dryrun.table(data, title)
    if out.measure(tab, options=out.options.update_width(10_000)).maximum <= out.width:
        out.print(tab)
    else:  # too wide for this terminal: one line per plan
        out.print(f"[bold]{title}[/]")
        for line in dryrun.plan_lines(data):
            out.print(f"- {line}", highlight=False)
    out.print(dryrun.totals_line(data))
    from vptstudy.normalize import describe

    for normalize, model in sorted({(i.plan.cfg.normalize, i.plan.cfg.model) for i in items}):
        out.print(f"inputs for {model}: {describe(normalize, model)}", highlight=False)


def execute_study(study, spec, dry_run: bool = False, as_json: bool = False) -> None:
    from vptstudy.console import SweepProgress, make_progress, out, summary_table
    from vptstudy.sweep import run_study

    if dry_run:
        from vptstudy.dryrun import study_runs

        print_dry_run(study_runs(study), f"Study {study.name} ({study.kind}): resolved plans", as_json)
        return

    with make_progress() as progress:
        summaries = run_study(study, spec, SweepProgress(progress))
    out.print(summary_table(summaries, title=f"Study {study.name} ({study.kind})"))
    normalize_note(study.run.get("normalize", "imagenet"), study.run.get("model", PAPER_MODEL))
    failed = _study_failures(summaries)
    if failed:
        raise RunFailed(f"study {study.name}: {failed}")


def _study_failures(summaries: list[dict]) -> str:
    """How many final runs did not finish and how many units chose no lr/wd ('' when all went well)."""
    finals = [r for s in summaries for r in s["results"]]
    bad = [r for r in finals if r.get("status") != "ok"]
    unchosen = [s for s in summaries if s["chosen"] is None]
    parts = []
    if bad:
        states = [r.get("status", "missing") for r in bad]
        kinds = ", ".join(f"{states.count(k)} {k}" for k in sorted(set(states)))
        parts.append(f"{len(bad)} of {len(finals)} final runs did not finish ({kinds})")
    if unchosen:
        first = unchosen[0]  # its note says why (e.g. a failed download), which the table shows only on stdout
        why = f" ({first['unit']}: {first['note']})" if first.get("note") else ""
        parts.append(f"{len(unchosen)} of {len(summaries)} units had no search candidate finish{why}")
    return "; ".join(parts)
