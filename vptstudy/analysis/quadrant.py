"""The paper's quadrant analysis (section 4.3): data distance (FID) x task disparity, and who wins in each.

Inputs, usable before any report exists:

- **FID** per task: a mapping ``{task: fid}``, or the ``.json`` / ``.csv`` that ``vptstudy fid --out`` writes
  (a plain ``{task: fid}`` JSON works too).
- **Accuracies** per task and method: a mapping ``{task: {"ft": acc, "vpt-deep": acc}}``, a JSON file holding
  one, or a folder of run directories (final runs of the default protocol with status ok: the mean final test
  accuracy over seeds, as ``vptstudy report`` averages them).
- **Disparity** per task: the task registry's, unless given (``{task: "low" | "high"}``).

A task's FID is *high* when it is above the threshold (default: the median FID of the tasks in the table, so
with an odd count the median task counts as low). With per-seed accuracies (a runs folder, or ``seeds=``) the
winner is the paired verdict of :mod:`vptstudy.analysis.paired` over the seeds both methods share: "undecided"
when the difference is within seed noise. With means only, VPT *wins* a task when its accuracy is strictly
higher than FT's; equal accuracies are a tie. Ties and undecided tasks count for neither. The paper expects
VPT to win with high disparity (either FID) and with low FID, and FT to win with low disparity and high FID.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vptstudy.errors import UserError

FT, VPT = "ft", "vpt-deep"
LEVELS = ("low", "high")
PAPER_EXPECTS = {("low", "low"): "vpt", ("high", "low"): "ft", ("low", "high"): "vpt", ("high", "high"): "vpt"}

Accuracies = Mapping[str, Mapping[str, float]]
SeedAccuracies = Mapping[str, Mapping[str, Mapping[int, float]]]  # task -> method -> seed -> accuracy
UNDECIDED = "undecided"


@dataclass(frozen=True)
class QuadrantRow:
    """One task: its distance, disparity, the two accuracies (fractions) and the winner (vpt, ft or tie)."""

    task: str
    group: str
    disparity: str
    fid: float
    fid_level: str
    ft_acc: float
    vpt_acc: float
    verdict: str | None = None  # the paired test's "vpt", "ft" or "undecided"; None: compare the means

    @property
    def winner(self) -> str:
        """vpt, ft, undecided (paired test within noise) or tie (equal means, no per-seed data)."""
        if self.verdict is not None:
            return self.verdict
        return "vpt" if self.vpt_acc > self.ft_acc else ("ft" if self.ft_acc > self.vpt_acc else "tie")

    @property
    def margin(self) -> float:
        """VPT minus FT accuracy (fraction)."""
        return self.vpt_acc - self.ft_acc


@dataclass(frozen=True)
class Quadrant:
    """The tasks of one (FID level, disparity) quadrant and how often VPT wins there."""

    fid_level: str
    disparity: str
    tasks: tuple[str, ...]
    vpt_wins: int
    ft_wins: int
    ties: int
    undecided: int = 0

    @property
    def expected(self) -> str:
        return PAPER_EXPECTS[(self.fid_level, self.disparity)]


@dataclass
class QuadrantTable:
    rows: list[QuadrantRow]
    threshold: float
    threshold_rule: str  # "median" or "given"
    ft_method: str = FT
    vpt_method: str = VPT
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why it is not in the table

    def quadrants(self) -> list[Quadrant]:
        """All four quadrants (empty ones too), low/low first."""
        out = []
        for disparity in LEVELS:
            for level in LEVELS:
                rows = [r for r in self.rows if r.fid_level == level and r.disparity == disparity]
                out.append(
                    Quadrant(
                        level,
                        disparity,
                        tuple(r.task for r in rows),
                        sum(r.winner == "vpt" for r in rows),
                        sum(r.winner == "ft" for r in rows),
                        sum(r.winner == "tie" for r in rows),
                        sum(r.winner == UNDECIDED for r in rows),
                    )
                )
        return out


# -- inputs ------------------------------------------------------------------------------------------------------
def _read_json(path: Path, option: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {str(path)!r}: {type(exc).__name__}", option, "pass a JSON file") from exc


def _number(value: object, what: str, where: str) -> float:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(f"{what} is not a number: {value!r}", where, "fix the file") from None
    if out != out:  # NaN
        raise UserError(f"{what} is NaN", where, "fix the file")
    return out


def load_fid(source: Mapping[str, float] | str | Path, option: str = "--fid") -> dict[str, float]:
    """``{task: fid}`` from a mapping, ``vptstudy fid``'s JSON/CSV output, or a ``{task: fid}`` JSON file."""
    if isinstance(source, Mapping):
        return {str(t): _number(v, f"FID of {t}", option) for t, v in source.items()}
    path = Path(source).expanduser()
    if not path.is_file():
        raise UserError(f"FID file {str(path)!r} not found", option, "pass the .json or .csv of `vptstudy fid --out`")
    if path.suffix.lower() == ".csv":
        try:
            rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UserError(
                f"cannot read {str(path)!r}: {exc}", option, "pass a CSV with task and fid columns"
            ) from exc
        if rows and not {"task", "fid"} <= rows[0].keys():
            raise UserError(f"{str(path)!r} has no task/fid columns", option, "pass `vptstudy fid --out x.csv`")
        return {r["task"]: _number(r["fid"], f"FID of {r['task']}", str(path)) for r in rows}
    data = _read_json(path, option)
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        try:
            return {str(r["task"]): _number(r["fid"], f"FID of {r['task']}", str(path)) for r in data["rows"]}
        except (KeyError, TypeError):
            raise UserError(f"{str(path)!r} rows lack task/fid", option, "pass `vptstudy fid --out x.json`") from None
    if isinstance(data, dict):
        return load_fid(data, str(path))
    raise UserError(f"{str(path)!r} is not FID output", option, "pass `vptstudy fid --out x.json` or {task: fid}")


def accuracies_from_runs(root: str | Path, study: str | None = None) -> dict[str, dict[str, float]]:
    """Mean final test accuracy per task and method over seeds, from finished default-protocol final runs."""
    return {
        task: {method: statistics.fmean(by_seed.values()) for method, by_seed in methods.items()}
        for task, methods in seed_accuracies_from_runs(root, study).items()
    }


def seed_accuracies_from_runs(root: str | Path, study: str | None = None) -> dict[str, dict[str, dict[int, float]]]:
    """Final test accuracy per task, method and seed, from finished default-protocol final runs."""
    from vptstudy import runs
    from vptstudy.damaged import CorruptFile
    from vptstudy.rundir import RunDir

    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"runs folder {str(root)!r} not found", "--runs", "pass the --out-dir of your runs")
    accs: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    studies: set[str] = set()
    other_regimes = 0
    for run in runs.iter_runs(root):
        try:
            result = RunDir(run).result  # the only file read here
        except CorruptFile as exc:  # left out of every mean, and said so
            print(exc.listing, file=sys.stderr)
            continue
        if not result or not result.ok or result.split != "final":
            continue
        if result.shots or result.train_size:
            other_regimes += 1  # one-shot and data-size sweeps are other regimes
            continue
        if result.test_acc is None:
            continue
        if study is not None and result.study != study:
            continue
        studies.add(str(result.study))
        accs[(result.task, result.method)][int(result.seed)] = result.test_acc
    if len(studies) > 1:
        raise UserError(
            f"runs of several studies under {str(root)!r}: {', '.join(sorted(studies))}",
            "--study",
            "name the study to use",
        )
    if not accs and other_regimes:
        raise UserError(
            f"no default-protocol final runs under {str(root)!r}; its {other_regimes} final runs are of data-size or "
            "one-shot regimes (train_size/shots), which Figure 3 does not use",
            "RUNS",
            "pass a folder of train800val200 final runs, or a JSON {task: {method: accuracy}}",
        )
    out: dict[str, dict[str, dict[int, float]]] = defaultdict(dict)
    for (task, method), by_seed in accs.items():
        out[task][method] = by_seed
    return dict(out)


def load_accuracies(source: Accuracies | str | Path, study: str | None = None) -> dict[str, dict[str, float]]:
    """Accuracies from a mapping, a JSON file ``{task: {method: acc}}``, or a folder of run directories."""
    if isinstance(source, Mapping):
        return {
            str(t): {str(m): _number(a, f"accuracy of {t}/{m}", "accuracies") for m, a in methods.items()}
            for t, methods in source.items()
        }
    path = Path(source).expanduser()
    if path.is_dir():
        return accuracies_from_runs(path, study)
    data = _read_json(path, "--accuracies")
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UserError(f"{str(path)!r} is not {{task: {{method: acc}}}}", "--accuracies", "fix the file")
    return load_accuracies(data)


# -- the table ---------------------------------------------------------------------------------------------------
def _registry(task: str) -> tuple[str, str] | None:
    from vptstudy.data import TASKS

    spec = TASKS.get(task)
    return None if spec is None else (spec.group, spec.disparity)


def _order(rows: list[QuadrantRow]) -> list[QuadrantRow]:
    from vptstudy.data.tasks import GROUP_ORDER

    def key(item: tuple[int, QuadrantRow]) -> tuple[int, int]:
        index, row = item
        return (GROUP_ORDER.index(row.group) if row.group in GROUP_ORDER else len(GROUP_ORDER), index)

    return [row for _, row in sorted(enumerate(rows), key=key)]


def quadrant_table(
    fid: Mapping[str, float] | str | Path,
    accuracies: Accuracies | str | Path,
    disparity: Mapping[str, str] | None = None,
    threshold: float | None = None,
    ft_method: str = FT,
    vpt_method: str = VPT,
    study: str | None = None,
    seeds: SeedAccuracies | None = None,
) -> QuadrantTable:
    """Join FID, accuracies and disparity per task; tasks missing a piece are listed in ``skipped``.

    ``seeds`` (per-seed accuracies; read from ``accuracies`` when that is a runs folder) decide each winner by a
    paired test over seeds instead of the raw means.
    """
    fids = load_fid(fid)
    if seeds is None and not isinstance(accuracies, Mapping) and Path(accuracies).expanduser().is_dir():
        seeds = seed_accuracies_from_runs(accuracies, study)
        accs = {t: {m: statistics.fmean(v.values()) for m, v in ms.items()} for t, ms in seeds.items()}
    else:
        accs = load_accuracies(accuracies, study)
    disparity = dict(disparity or {})
    partial, skipped = [], {}
    for task in list(fids) + [t for t in accs if t not in fids]:
        methods = accs.get(task, {})
        missing = [m for m in (ft_method, vpt_method) if m not in methods]
        registered = _registry(task)
        disp = disparity.get(task) or (registered[1] if registered else None)
        if task not in fids:
            skipped[task] = "no FID"
        elif missing:
            skipped[task] = f"no {' or '.join(missing)} accuracy"
        elif disp is None:
            skipped[task] = "no disparity (not a registered task; pass its disparity)"
        elif disp not in LEVELS:
            raise UserError(f"disparity of {task} is {disp!r}", "--disparity", "use low or high")
        else:
            partial.append((task, registered[0] if registered else "custom", disp, methods))
    if not partial:
        raise UserError(
            "no task has an FID, both accuracies and a disparity",
            "quadrant",
            f"skipped: {'; '.join(f'{t}: {why}' for t, why in skipped.items()) or 'no tasks given'}",
        )
    rule = "given" if threshold is not None else "median"
    cut = float(threshold) if threshold is not None else statistics.median(fids[t] for t, *_ in partial)
    rows = [
        QuadrantRow(
            task,
            group,
            disp,
            fids[task],
            "high" if fids[task] > cut else "low",
            float(methods[ft_method]),
            float(methods[vpt_method]),
            _verdict((seeds or {}).get(task, {}), ft_method, vpt_method),
        )
        for task, group, disp, methods in partial
    ]
    return QuadrantTable(_order(rows), cut, rule, ft_method, vpt_method, skipped)


def _verdict(by_method: Mapping[str, Mapping[int, float]], ft_method: str, vpt_method: str) -> str | None:
    """The paired test's winner as "vpt", "ft" or "undecided"; None without two shared seeds."""
    from vptstudy.analysis.paired import UNDECIDED as NO_WINNER
    from vptstudy.analysis.paired import paired

    if ft_method not in by_method or vpt_method not in by_method:
        return None
    result = paired(ft_method, by_method[ft_method], vpt_method, by_method[vpt_method])
    if result.n < 2:
        return None
    if result.winner == NO_WINNER:
        return UNDECIDED
    return "vpt" if result.winner == vpt_method else "ft"


# -- outputs -----------------------------------------------------------------------------------------------------
def summary_lines(table: QuadrantTable) -> list[str]:
    """One sentence per quadrant: how often VPT wins there, and what the paper expects."""
    rule = f"FID threshold {table.threshold:.2f} ({table.threshold_rule})"
    lines = [f"{rule}; VPT = {table.vpt_method}, FT = {table.ft_method}"]
    for q in table.quadrants():
        head = f"{q.fid_level} FID, {q.disparity} disparity"
        if not q.tasks:
            lines.append(f"{head}: no tasks")
            continue
        ties = f", {q.ties} tie(s)" if q.ties else ""
        ties += f", {q.undecided} undecided" if q.undecided else ""
        lines.append(
            f"{head}: VPT wins {q.vpt_wins}/{len(q.tasks)}{ties} (paper expects {q.expected.upper()}): "
            f"{', '.join(q.tasks)}"
        )
    return lines


def to_csv(table: QuadrantTable) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "group", "disparity", "fid", "fid_level", "ft_acc", "vpt_acc", "winner", "margin"])
    for r in table.rows:
        writer.writerow([r.task, r.group, r.disparity, r.fid, r.fid_level, r.ft_acc, r.vpt_acc, r.winner, r.margin])
    return buffer.getvalue()


def to_markdown(table: QuadrantTable) -> str:
    """The per-task table and the per-quadrant summary, accuracies in %."""
    out = [
        "| task | group | disparity | FID | FID level | FT % | VPT % | winner |",
        "|---|---|---|---:|---|---:|---:|---|",
    ]
    for r in table.rows:
        out.append(
            f"| {r.task} | {r.group} | {r.disparity} | {r.fid:.2f} | {r.fid_level} | {100 * r.ft_acc:.2f} | "
            f"{100 * r.vpt_acc:.2f} | {r.winner.upper()} |"
        )
    out += [
        "",
        "| FID | disparity | tasks | VPT wins | FT wins | ties | undecided | paper expects |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for q in table.quadrants():
        out.append(
            f"| {q.fid_level} | {q.disparity} | {len(q.tasks)} | {q.vpt_wins} | {q.ft_wins} | {q.ties} | "
            f"{q.undecided} | {q.expected.upper()} |"
        )
    out += ["", f"FID threshold {table.threshold:.2f} ({table.threshold_rule}); VPT = {table.vpt_method}."]
    if table.skipped:
        out.append("Skipped: " + "; ".join(f"{t} ({why})" for t, why in table.skipped.items()) + ".")
    return "\n".join(out) + "\n"
