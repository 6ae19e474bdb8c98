"""Grid search, sweeps, executors, resume and claims on a tiny timm ViT over bundled digits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.procs import own_group
from tests.helpers.runs import TINY_RUN, four_configs
from vptstudy import runs, sweep
from vptstudy.config import RunConfig
from vptstudy.executors import ExecutorSpec
from vptstudy.pools import execute
from vptstudy.study import parse_study
from vptstudy.sweep import borrowers, candidates, expand, run_studies, run_study, select_best, with_borrowed


def study(tmp_path: Path, **extra) -> dict:
    data = {
        "name": "t",
        "kind": "search",
        "tasks": ["toy/digits"],
        "methods": ["vpt-deep"],
        "seeds": [42, 44],
        "run": {**TINY_RUN, "out_dir": str(tmp_path)},
        "grid": {"vpt-deep": {"lr": [1.0, 0.5], "wd": [0.0]}},
    }
    data.update(extra)
    return data


def ok(val_acc: float) -> dict:
    return {"status": "ok", "final": {"val_acc": val_acc}}


def test_grid_expansion_and_selection_with_ties() -> None:
    s = parse_study(
        {
            "name": "g",
            "kind": "search",
            "tasks": ["toy/digits"],
            "methods": ["linear"],
            "grid": {"linear": {"lr": [5.0, 1.0, 0.5], "wd": [0.01, 0.0]}},
        }
    )
    (unit,) = expand(s)
    cands = candidates(unit)
    assert [(c.base_lr, c.weight_decay) for c in cands] == [(5, 0.01), (5, 0), (1, 0.01), (1, 0), (0.5, 0.01), (0.5, 0)]
    assert all(c.split == "tune" and c.seed == 42 for c in cands)
    # ties at the top go to the smaller lr, then to the smaller wd; failed runs never win
    results = [ok(0.5), ok(0.9), ok(0.9), ok(0.9), {"status": "failed", "reason": "nan"}, ok(0.7)]
    best, table = select_best(cands, results)
    assert best == (1.0, 0.0)
    assert [row["val_acc"] for row in table] == [0.5, 0.9, 0.9, 0.9, None, 0.7]
    best, _ = select_best(cands[:2], [ok(0.8), ok(0.8)])
    assert best == (5.0, 0.0)
    assert select_best(cands[:1], [{"status": "failed"}])[0] is None


def test_search_picks_best_val_and_runs_final_seeds(tmp_path) -> None:
    (summary,) = run_study(parse_study(study(tmp_path)))
    search = json.loads(next(tmp_path.rglob("search.json")).read_text())
    scores = {(c["lr"], c["wd"]): c["val_acc"] for c in search["candidates"]}
    expected = min(scores, key=lambda k: (-scores[k], k[0], k[1]))
    assert (search["chosen"]["lr"], search["chosen"]["wd"]) == expected == summary["chosen"]
    assert [r["seed"] for r in summary["results"]] == [42, 44]
    assert all(
        r["split"] == "final" and r["base_lr"] == expected[0] and r["final"]["val_acc"] is None
        for r in summary["results"]
    )
    assert all(r["sizes"]["train"] == 1000 and r["sizes"]["val"] == 0 for r in summary["results"])  # train800 + val200


def test_two_studies_share_one_pool_and_give_what_each_gives_alone(tmp_path, monkeypatch) -> None:
    def pair(root: Path) -> list:
        searched = study(root, seeds=[42])
        sizes = study(root, name="s", kind="datasize", seeds=[43], datasize={"sizes": [40], "search": False})
        return [parse_study(searched), parse_study(sizes)]

    opened, events = [], []
    real_open = sweep.open_pool
    monkeypatch.setattr(sweep, "open_pool", lambda *a: opened.append(1) or real_open(*a))
    together = run_studies(pair(tmp_path / "together"), None, lambda e, i: events.append(e))
    alone = [run_study(s) for s in pair(tmp_path / "alone")]
    assert len(opened) == 1 + 2 and events.count("stage") == 1  # one pool for both studies; then one per run_study

    def outcome(summaries: list) -> list:
        return [(s["unit"], s["chosen"], [r["final"]["test_acc"] for r in s["results"]]) for s in summaries]

    assert [len(x) for x in together] == [1, 1]
    assert [outcome(x) for x in together] == [outcome(x) for x in alone]
    assert together[1][0]["unit"] == "toy/digits vpt-deep n=40"


def test_datasize_sweep_uses_4_to_1_and_skips_sizes_beyond_source(tmp_path) -> None:
    data = study(tmp_path, kind="datasize", datasize={"sizes": [40, 2000], "search": False})
    summaries = run_study(parse_study(data))
    by_size = {s["unit"]: s for s in summaries}
    small = by_size["toy/digits vpt-deep n=40"]["results"]
    assert [r["sizes"]["train"] for r in small] == [50, 50]  # final: 40 train + 10 val
    tune = RunConfig(task="toy/digits", method="vpt-deep", train_size=40, **TINY_RUN)
    from vptstudy.data import load_task_data

    split = load_task_data(tune, 32)
    assert (len(split.train), len(split.val)) == (40, 10)
    big = by_size["toy/digits vpt-deep n=2000"]
    assert all(r["status"] == "skipped" for r in big["results"]) and "2000" in big["note"]


def test_oneshot_sweep_has_one_image_per_class_per_draw(tmp_path) -> None:
    data = study(tmp_path, kind="oneshot", seeds=[42], oneshot={"shots": 1, "draws": 2})
    summaries = run_study(parse_study(data))
    assert len(summaries) == 2
    hashes = set()
    for s in summaries:
        (r,) = s["results"]
        assert r["sizes"]["train"] == 20  # final: 1 train + 1 val image per class
        hashes.add(r["split_info"]["train_hash"])
    assert len(hashes) == 2  # each draw its own split seed
    from vptstudy.data import load_task_data

    split = load_task_data(RunConfig(task="toy/digits", method="ft", shots=1, split_seed=1, **TINY_RUN), 32)
    assert sorted(split.train.labels.tolist()) == list(range(10)) == sorted(split.val.labels.tolist())


def test_two_local_workers_never_run_the_same_config(tmp_path) -> None:
    configs = four_configs(tmp_path)
    results = execute(configs, ExecutorSpec(workers=2))
    assert [r["status"] for r in results] == ["ok"] * 4
    pids = set()
    for r in results:
        attempts = [json.loads(line) for line in (Path(r["run_dir"]) / runs.ATTEMPTS).read_text().splitlines()]
        assert len(attempts) == 1 and attempts[0]["event"] == "start"
        pids.add(attempts[0]["pid"])
        assert not (Path(r["run_dir"]) / runs.LOCK).exists()
    # each config ran exactly once (above); how the four split between the two workers depends on which one
    # finished importing first, so on a loaded machine one worker may take them all
    assert 1 <= len(pids) <= 2


def test_claims_are_exclusive_and_stale_locks_reclaimed(tmp_path) -> None:
    run = tmp_path / "r"
    assert runs.claim(run)
    assert not runs.claim(run)  # held by a live process (us)
    runs.release(run)
    (run / runs.LOCK).write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))
    assert runs.claim(run)  # dead owner on this host: reclaimed


def test_submitit_local_backend_runs_a_two_run_sweep(tmp_path) -> None:
    pytest.importorskip("submitit")
    configs = four_configs(tmp_path)[:2]
    # both runs in one job: one Python process to start, not two
    spec = ExecutorSpec(kind="slurm", cluster="local", log_dir=str(tmp_path / "logs"), time_min=5, runs_per_job=2)
    events = []
    results = execute(configs, spec, lambda event, info: events.append(event))
    assert [r["status"] for r in results] == ["ok", "ok"]
    assert "submitted" in events and any((tmp_path / "logs").rglob("*.out"))


KILL_STUDY = """
name = "k"
kind = "search"
tasks = ["toy/digits"]
methods = ["vpt-shallow"]
seeds = [42, 44]
[grid.vpt-shallow]
lr = [1.0]
wd = [0.0]
[run]
model = "test_vit"
pretrained = false
img_size = 32
epochs = 4
batch_size = 64
train_size = 200
test_subsample = 100
checkpoint_minutes = 0
out_dir = "{out}"
"""


def _report_csv(root: Path) -> list[str]:
    from vptstudy.analysis.tables import collect, to_csv

    return to_csv(collect(root)).splitlines()


def test_kill_9_mid_run_then_resume_gives_the_same_table(tmp_path, capsys, monkeypatch) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    for name in ("straight", "killed"):
        (tmp_path / f"{name}.toml").write_text(KILL_STUDY.format(out=tmp_path / name))
    # the reference and the final resume run in this process (one thread, as the killed ones): only the runs
    # that are killed need a process of their own
    assert run_cli(["run", str(tmp_path / "straight.toml")], capsys, monkeypatch).code == 0
    for kills in range(2):  # kill twice at different points, then let it finish
        proc = subprocess.Popen(
            [sys.executable, "-m", "vptstudy.cli", "run", str(tmp_path / "killed.toml")],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        with own_group(proc):
            deadline = time.time() + 300
            target = 2 + 3 * kills  # epochs written across all runs before the kill (of 3 runs x 4 epochs)
            while time.time() < deadline and proc.poll() is None:
                written = sum(len(runs.read_metrics(r)) for r in runs.iter_runs(tmp_path / "killed"))
                if written >= target:
                    time.sleep(0.05 * (kills + 1))
                    proc.send_signal(signal.SIGKILL)
                    break
                time.sleep(0.02)
            assert proc.wait() == -signal.SIGKILL, "the study finished before it was killed"
    assert run_cli(["run", str(tmp_path / "killed.toml")], capsys, monkeypatch).code == 0
    assert _report_csv(tmp_path / "straight") == _report_csv(tmp_path / "killed")
    straight = {r.relative_to(tmp_path / "straight"): r for r in runs.iter_runs(tmp_path / "straight")}
    killed = {r.relative_to(tmp_path / "killed"): r for r in runs.iter_runs(tmp_path / "killed")}
    assert straight.keys() == killed.keys() and len(killed) == 3  # 1 tune + 2 final, none lost or added
    for rel, run in killed.items():
        a = [{k: v for k, v in row.items() if k != "seconds"} for row in runs.read_metrics(straight[rel])]
        b = [{k: v for k, v in row.items() if k != "seconds"} for row in runs.read_metrics(run)]
        assert len(a) == 4 and a == b, rel  # every epoch exactly once, and bit-identical curves after resuming
        assert not (run / runs.CHECKPOINT).exists() and not (run / runs.LOCK).exists()


BAD_STUDIES = {
    "unknown key": (
        {"name": "x", "kind": "search", "tasks": ["toy/digits"], "methods": ["ft"], "epoch": 3},
        "unknown key 'epoch'",
        "allowed keys",
    ),
    "kind": (
        {"name": "x", "kind": "grid", "tasks": ["toy/digits"], "methods": ["ft"]},
        "unknown kind 'grid'",
        "search, datasize, oneshot",
    ),
    "task": (
        {"name": "x", "kind": "search", "tasks": ["vtab/cifar"], "methods": ["ft"]},
        "unknown task",
        "vptstudy tasks",
    ),
    "method": (
        {"name": "x", "kind": "search", "tasks": ["toy/digits"], "methods": ["vpt"]},
        "unknown method 'vpt'",
        "vpt-deep",
    ),
    "run key": (
        {"name": "x", "kind": "search", "tasks": ["toy/digits"], "methods": ["ft"], "run": {"lr": 1}},
        "unknown key 'run.lr'",
        "batch_size",
    ),
    "run value": (
        {"name": "x", "kind": "search", "tasks": ["toy/digits"], "methods": ["ft"], "run": {"epochs": 0}},
        "invalid --epochs 0",
        "at least 1",
    ),
    "grid": (
        {"name": "x", "kind": "search", "tasks": ["toy/digits"], "methods": ["ft"], "grid": {"ft": {"lr": "0.1"}}},
        "grid.ft.lr must be a non-empty list",
        "grid.ft.lr",
    ),
    "sizes": (
        {"name": "x", "kind": "datasize", "tasks": ["toy/digits"], "methods": ["ft"], "datasize": {"sizes": [400.5]}},
        "datasize.sizes must be a non-empty list of integers",
        "",
    ),
}


@pytest.mark.parametrize("case", BAD_STUDIES)
def test_bad_study_files_name_key_and_allowed_values(case, tmp_path, capsys, monkeypatch) -> None:
    import tomllib  # noqa: F401 - the files below are TOML

    data, message, hint = BAD_STUDIES[case]
    path = tmp_path / "s.toml"
    path.write_text(_to_toml(data))
    res = run_cli(["run", str(path)], capsys, monkeypatch)
    assert res.code == 2, res.err
    line = res.err.strip()
    assert line.startswith("vptstudy: error: ") and len(line.splitlines()) == 1
    assert message in line and hint in line and str(path) in line


def _to_toml(data: dict) -> str:
    def value(v):
        return json.dumps(v)

    lines, tables = [], []
    for k, v in data.items():
        (tables if isinstance(v, dict) else lines).append((k, v))
    out = [f"{k} = {value(v)}" for k, v in lines]
    for k, v in tables:
        flat = {kk: vv for kk, vv in v.items() if not isinstance(vv, dict)}
        out.append(f"[{k}]")
        out += [f"{kk} = {value(vv)}" for kk, vv in flat.items()]
        for kk, vv in v.items():
            if isinstance(vv, dict):
                out.append(f"[{k}.{kk}]")
                out += [f"{a} = {value(b)}" for a, b in vv.items()]
    return "\n".join(out) + "\n"


def test_study_method_options_reach_the_runs() -> None:
    s = parse_study(
        {
            "name": "o",
            "kind": "search",
            "tasks": ["toy/digits"],
            "methods": ["lora", "ft"],
            "method_options": {"lora": {"rank": 4}},
        }
    )
    lora, ft = expand(s)
    assert lora.base.option("rank") == 4 and ft.base.method_options == ()


def test_complete_run_with_a_dead_owners_lock_is_tidied(tmp_path) -> None:
    from vptstudy.train import fit

    cfg = RunConfig(task="toy/digits", method="linear", out_dir=str(tmp_path), **TINY_RUN)
    run = Path(fit(cfg)["run_dir"])
    (run / runs.LOCK).write_text(json.dumps({"pid": 2**22 + 12345, "host": os.uname().nodename}))
    again = fit(cfg)
    assert again["run_dir"] == str(run) and not (run / runs.LOCK).exists()


def test_ft_then_pt_borrows_fts_choice_per_task_and_regime() -> None:
    data = {
        "name": "b",
        "kind": "search",
        "tasks": ["toy/digits", "toy/count"],
        "methods": ["ft", "ft-then-pt", "vpt-deep"],
    }
    units = expand(parse_study(data))
    links = borrowers(units)
    labels = {i: u.label for i, u in enumerate(units)}
    assert {labels[i]: {p: labels[j] for p, j in ph.items()} for i, ph in links.items()} == {
        "toy/digits ft-then-pt": {"ft": "toy/digits ft"},
        "toy/count ft-then-pt": {"ft": "toy/count ft"},
    }
    lent = with_borrowed(units[1], {"ft": (0.002, 0.0001)})
    assert lent.base.option("ft_lr") == 0.002 and lent.base.option("ft_wd") == 0.0001
    # no FT in the study, or FT's lr set for ft-then-pt explicitly: nothing to borrow
    assert borrowers(expand(parse_study({**data, "methods": ["ft-then-pt"]}))) == {}
    fixed = {**data, "method_options": {"ft-then-pt": {"ft_lr": 0.01}}}
    assert borrowers(expand(parse_study(fixed))) == {}


def test_ft_then_pt_runs_with_fts_searched_lr(tmp_path) -> None:
    data = study(
        tmp_path,
        methods=["ft", "ft-then-pt"],
        seeds=[42],
        grid={"ft": {"lr": [0.002, 0.0001], "wd": [0.0]}, "ft-then-pt": {"lr": [0.5], "wd": [0.0]}},
    )
    ft, ftpt = run_study(parse_study(data))
    assert ft["chosen"] is not None
    searches = {json.loads(p.read_text())["method"]: json.loads(p.read_text()) for p in tmp_path.rglob("search.json")}
    assert searches["ft-then-pt"]["method_options"] == {"ft_lr": ft["chosen"][0], "ft_wd": ft["chosen"][1]}
    assert ftpt["note"] == f"ft phase lr={ft['chosen'][0]:g} wd={ft['chosen'][1]:g} from ft"
    for result in ftpt["results"]:
        config = json.loads((Path(result["run_dir"]) / "config.json").read_text())
        phases = {p["name"]: p for p in config["resolved"]["phases"]}
        assert (phases["ft"]["base_lr"], phases["ft"]["weight_decay"]) == ft["chosen"]
        assert (phases["pt"]["base_lr"], phases["pt"]["weight_decay"]) == (0.5, 0.0)


def test_report_prints_one_row_per_task_when_the_terminal_is_narrow(tmp_path, capsys, monkeypatch) -> None:
    from tests.helpers.cli import run_cli
    from vptstudy.console import out

    grid = {m: {"lr": [1.0], "wd": [0.0]} for m in ("linear", "vpt-deep")}
    run_study(parse_study(study(tmp_path, methods=["linear", "vpt-deep"], grid=grid, seeds=[42])))
    wide = run_cli(["report", str(tmp_path)], capsys, monkeypatch)
    assert wide.code == 0 and "┃ method" in wide.out and "│ linear " in wide.out
    monkeypatch.setattr(out, "width", 48)  # the method-per-row table is 53 wide
    narrow = run_cli(["report", str(tmp_path / "t"), "--out-dir", str(tmp_path / "r")], capsys, monkeypatch)
    assert narrow.code == 0 and "│ toy/digits " in narrow.out and "┃ linear " in narrow.out
    assert max(len(line) for line in narrow.out.splitlines() if "│" in line) <= 48
