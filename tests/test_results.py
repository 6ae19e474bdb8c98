"""RunResult and RunDir: result.json of any version reads back typed and writes back unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from vptstudy.results import RunResult
from vptstudy.rundir import RunDir

OLD_RUNS = Path(__file__).parent / "fixtures" / "layout1_runs"


def test_old_results_round_trip_unchanged() -> None:
    paths = sorted(OLD_RUNS.rglob("result.json"))
    assert paths
    for path in paths:
        raw = json.loads(path.read_text())
        assert RunResult.from_dict(raw).to_dict() == raw


def test_unknown_keys_are_kept_and_missing_ones_are_none() -> None:
    r = RunResult.from_dict({"task": "toy/digits", "method": "ft", "later_key": 3})
    assert (r.status, r.ok, r.test_acc, r.extra) == (None, False, None, {"later_key": 3})
    assert r.to_dict()["later_key"] == 3 and "diverged" not in r.to_dict()


def test_rundir_reads_a_typed_result() -> None:
    run = next(OLD_RUNS.rglob("result.json")).parent
    rd = RunDir(run)
    raw = json.loads((run / "result.json").read_text())
    assert rd.result is not None and rd.result.test_acc == raw["final"]["test_acc"]
    assert (rd.cfg.task, rd.cfg.method) == (raw["task"], raw["method"])
