"""Two drivers on one study: choices only from every candidate, search.json once, orphans never averaged."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from vptstudy import locks, runs
from vptstudy.analysis.tables import collect, to_csv
from vptstudy.plan import plan
from vptstudy.study import parse_study
from vptstudy.sweep import candidates, expand, run_study

TINY_RUN = {"model": "test_vit", "pretrained": False, "img_size": 32, "epochs": 1, "batch_size": 64}
TINY_RUN["test_subsample"] = 100

STUDY = """
name = "two"
kind = "search"
tasks = ["toy/digits"]
methods = ["linear", "vpt-shallow"]
seeds = [42, 44]
[grid.linear]
lr = [2.0, 0.05]
wd = [0.0]
[grid.vpt-shallow]
lr = [2.0, 0.05]
wd = [0.0]
[run]
model = "test_vit"
pretrained = false
img_size = 32
epochs = 2
batch_size = 64
test_subsample = 100
out_dir = "{out}"
"""


def small_study(tmp_path: Path) -> dict:
    return {
        "name": "w",
        "kind": "search",
        "tasks": ["toy/digits"],
        "methods": ["linear"],
        "seeds": [42],
        "run": {**TINY_RUN, "out_dir": str(tmp_path)},
        "grid": {"linear": {"lr": [2.0, 0.05], "wd": [0.0]}},
    }


def hold_lock_as_another_process(run: Path) -> subprocess.Popen:
    """A live process on this host that owns ``run``'s lock, as a second driver would."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    run.mkdir(parents=True, exist_ok=True)
    owner = {"pid": proc.pid, "host": socket.gethostname(), "boot": locks._boot_id(), "start": None}
    for _ in range(100):  # /proc/<pid>/stat is there once the child runs
        owner["start"] = locks._start_time(proc.pid)
        if owner["start"] is not None:
            break
        time.sleep(0.01)
    (run / runs.LOCK).write_text(json.dumps(owner))
    return proc


def test_a_busy_candidate_is_waited_for_not_left_out(tmp_path) -> None:
    study = parse_study(small_study(tmp_path / "alone"))
    (alone,) = run_study(study)
    busy_study = parse_study(small_study(tmp_path / "busy"))
    (unit,) = expand(busy_study)
    held = plan(candidates(unit)[0]).run_dir  # lr 2.0: the better candidate in the reference run
    proc = hold_lock_as_another_process(held)

    events: list[str] = []

    def other_driver_gives_up() -> None:  # once the driver waits for it, however slow the machine is
        deadline = time.time() + 300
        while "waiting" not in events and time.time() < deadline:
            time.sleep(0.05)
        proc.kill()
        proc.wait()

    thread = threading.Thread(target=other_driver_gives_up)
    thread.start()
    (waited,) = run_study(busy_study, callback=lambda event, info: events.append(event))
    thread.join()
    assert "waiting" in events and "busy" in events
    assert waited["chosen"] == alone["chosen"] == (2.0, 0.0)
    record = json.loads((held.parent.parent / "search.json").read_text())
    assert all(c["val_acc"] is not None for c in record["candidates"])  # chosen from both candidates


def test_report_lists_finals_of_another_choice_as_orphans(tmp_path) -> None:
    (summary,) = run_study(parse_study(small_study(tmp_path)))
    before = to_csv(collect(tmp_path))
    assert collect(tmp_path).orphans == []
    search = next(tmp_path.rglob("search.json"))
    other = small_study(tmp_path)
    other["grid"]["linear"]["lr"] = [0.05]  # finals of a choice that is not the recorded one
    run_study(parse_study(other))
    json_before = search.read_text()
    record = json.loads(json_before)
    assert record["chosen"]["lr"] == 0.05  # the second sweep recorded its own choice...
    search.write_text(json.dumps({**record, "chosen": {"lr": 2.0, "wd": 0.0}}))  # ...put the first one back
    report = collect(tmp_path)
    assert len(report.orphans) == 1 and "lr0.05" in report.orphans[0]
    assert to_csv(report) == before  # the orphan is listed, never averaged in
    assert summary["chosen"] == (2.0, 0.0)


def test_search_json_is_written_once(tmp_path) -> None:
    run_study(parse_study(small_study(tmp_path)))
    search = next(tmp_path.rglob("search.json"))
    first = search.stat()
    run_study(parse_study(small_study(tmp_path)))  # everything complete: the same record, not rewritten
    assert search.stat().st_ino == first.st_ino and search.stat().st_mtime_ns == first.st_mtime_ns


@pytest.mark.slow
def test_two_drivers_started_together_give_the_same_table_as_one(tmp_path) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "vptstudy.cli", "run"]
    for name in ("one", "two"):
        (tmp_path / f"{name}.toml").write_text(STUDY.format(out=tmp_path / name))
    subprocess.run([*cmd, str(tmp_path / "one.toml")], env=env, check=True, capture_output=True, timeout=600)
    drivers = [
        subprocess.Popen([*cmd, str(tmp_path / "two.toml")], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for proc in drivers:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
    one, two = collect(tmp_path / "one"), collect(tmp_path / "two")
    assert to_csv(one) == to_csv(two) and two.orphans == [] and two.incomplete == []
    assert len(list(runs.iter_runs(tmp_path / "two"))) == len(list(runs.iter_runs(tmp_path / "one"))) == 8
    for search in (tmp_path / "one").rglob("search.json"):
        twin = tmp_path / "two" / search.relative_to(tmp_path / "one")
        assert json.loads(twin.read_text())["chosen"] == json.loads(search.read_text())["chosen"]
