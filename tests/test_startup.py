"""``vptstudy bench --startup``: a run's fixed cost per phase through fit() itself, for a first and a second fresh
process and a second run in-process (toy case, tiny settings)."""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers.cli import run_cli
from vptstudy import memo
from vptstudy.console import out, startup_table
from vptstudy.errors import UserError
from vptstudy.startup import PHASES, RUNS, StartupConfig, child, row, run_fields
from vptstudy.train import fit

KEYS = {"case", "model", "run", "fixed_s", "total_s", "load_avg_1m", *(f"{p}_s" for p in PHASES)}


def check_row(r: dict, run: str) -> None:
    assert set(r) == KEYS and (r["case"], r["model"], r["run"]) == ("toy", "toy-vit", run)
    assert all(r[f"{p}_s"] >= 0 for p in PHASES) and r["step_s"] > 0
    assert r["fixed_s"] == pytest.approx(sum(r[f"{p}_s"] for p in PHASES if p != "step"), abs=0.01)


def test_child_times_each_phase_of_a_run_and_of_the_next_one_in_process(tmp_path, capsys):
    memo.clear_all()
    start = time.time() - 1.0  # as if the interpreter had started a second ago, half a second after its spawn
    arg = json.dumps({"spawned": start - 0.5, "run": run_fields("toy", tmp_path, StartupConfig(step_batch=2), "t")})
    child(fit, arg, start, start + 1.0)
    measured = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first, kept = row("toy", RUNS[1], measured["process"]), row("toy", RUNS[2], measured["in_process"])
    check_row(first, RUNS[1])
    check_row(kept, RUNS[2])
    assert (first["start_s"], first["import_s"]) == (0.5, 1.0) and kept["import_s"] == kept["start_s"] == 0
    assert kept["data_s"] < first["data_s"]  # digits: sklearn and the resize, then the tensors kept in memory
    out.width = 80
    with out.capture() as shown:
        out.print(startup_table([first, kept]))
    lines = shown.get().splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("case"))
    assert lines[head].split() == ["case", "run", *PHASES, "fixed", "total", "load"]
    assert lines[head + 2].split()[:2] == ["toy", "2nd"] and lines[head + 3].split()[:2] == ["toy", "in-process"]
    assert lines[head + 3].split()[2:] == [f"{kept[k + '_s']:.2f}" for k in (*PHASES, "fixed", "total")] + [
        f"{kept['load_avg_1m']:.1f}"
    ]
    assert max(len(line) for line in lines) <= 80


@pytest.mark.slow
def test_startup_bench_cli_spawns_a_first_and_second_process(tmp_path, capsys, monkeypatch):
    path = tmp_path / "startup.json"
    res = run_cli(["bench", "--startup", "--case", "toy", "--step-batch", "2", "--out", str(path)], capsys, monkeypatch)
    assert res.code == 0, res.err
    rows = json.loads(path.read_text())
    for r, run in zip(rows, RUNS, strict=True):
        check_row(r, run)
    first, second, _ = rows
    assert first["import_s"] > 0 and second["import_s"] > 0 and second["data_s"] < first["data_s"]
    assert f"wrote {path}" in res.out


def test_startup_bench_rejects_unknown_cases():
    with pytest.raises(UserError, match="unknown startup case"):
        StartupConfig(cases=("vit-l",))
