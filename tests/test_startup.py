"""``vptstudy bench --startup``: a run's fixed cost per phase, for a first and a second fresh process and a second
run in-process, through fit() itself (toy case, tiny settings)."""

from __future__ import annotations

import json

import pytest

from tests.cli_helpers import run_cli
from vptstudy.errors import UserError
from vptstudy.startup import PHASES, RUNS, StartupConfig

KEYS = {"case", "model", "run", "fixed_s", "total_s", "load_avg_1m", *(f"{p}_s" for p in PHASES)}


def test_startup_bench_prints_and_writes_every_phase(tmp_path, capsys, monkeypatch):
    out = tmp_path / "startup.json"
    res = run_cli(["bench", "--startup", "--case", "toy", "--step-batch", "2", "--out", str(out)], capsys, monkeypatch)
    assert res.code == 0, res.err
    rows = json.loads(out.read_text())
    assert [(r["case"], r["run"]) for r in rows] == [("toy", run) for run in RUNS]
    for r in rows:
        assert set(r) == KEYS and r["model"] == "toy-vit"
        assert all(r[f"{p}_s"] >= 0 for p in PHASES) and r["step_s"] > 0
        assert r["fixed_s"] == pytest.approx(sum(r[f"{p}_s"] for p in PHASES if p != "step"), abs=0.01)
    first, second, kept = rows
    assert first["import_s"] > 0 and second["import_s"] > 0 and kept["import_s"] == kept["start_s"] == 0
    assert second["data_s"] < first["data_s"]  # digits: sklearn and the resize, then one file read
    table = res.out.splitlines()
    for run in RUNS:
        assert any(line.split()[:2] == ["toy", *run.split()[:1]] for line in table), run
    assert "import" in res.out and "method" in res.out and f"wrote {out}" in res.out


def test_startup_bench_rejects_unknown_cases():
    with pytest.raises(UserError, match="unknown startup case"):
        StartupConfig(cases=("vit-l",))
