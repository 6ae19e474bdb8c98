"""--logger tensorboard|wandb: each epoch's metrics.jsonl row reaches the tracker; `vptstudy export` replays runs."""

from __future__ import annotations

import json
import socket
import struct
import sys
from pathlib import Path

import pytest

from tests.helpers.cli import TOY_TRAIN, run_cli
from vptstudy import runs
from vptstudy.loggers import SCALARS, run_name, wandb_mode
from vptstudy.study import parse_study

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _events(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _expected(rows: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """Tag -> (epoch, value) of every number in metrics.jsonl (tuning runs have no test, final runs no val)."""
    expected: dict[str, list[tuple[int, float]]] = {}
    for key, tag in SCALARS.items():
        points = [(row["epoch"], row[key]) for row in rows if isinstance(row.get(key), int | float)]
        if points:
            expected[tag] = points
    return expected


def _check_scalars(acc: EventAccumulator, rows: list[dict], must: set[str]) -> None:
    expected = _expected(rows)
    assert must <= set(expected)
    assert set(acc.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        logged = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert logged == [(step, pytest.approx(value, rel=1e-6)) for step, value in points], tag


@pytest.fixture(scope="module")
def tb_run(tmp_path_factory) -> Path:
    """One two-epoch final toy run (test evaluated every epoch) with --logger tensorboard, in study 'mystudy'."""
    out = tmp_path_factory.mktemp("tb")
    mp = pytest.MonkeyPatch()
    args = [*TOY_TRAIN, "--split", "final", "--study", "mystudy", "--logger", "tensorboard", "--out-dir", str(out)]
    try:
        assert run_cli(args, None, mp).code == 0
    finally:
        mp.undo()
    (run,) = runs.iter_runs(out)
    return run


def test_tensorboard_events_equal_metrics_jsonl(tb_run):
    rows = runs.read_metrics(tb_run)
    assert [r["epoch"] for r in rows] == [1, 2]
    acc = _events(tb_run / "tensorboard")
    _check_scalars(acc, rows, {"train/loss", "train/acc", "test/loss", "test/acc", "lr"})
    # the resolved config goes in as hyperparameters (TensorBoard's hparams plugin) and as text
    hp = acc.summary_metadata["_hparams_/session_start_info"].plugin_data.content
    assert b"run/method" in hp and b"vpt-deep" in hp and b"resolved/input_size" in hp
    assert "config/text_summary" in acc.Tags()["tensors"]


def test_export_replays_finished_runs(tb_run, tmp_path, capsys, monkeypatch):
    res = run_cli(
        ["export", str(tb_run.parents[5]), "--to", "tensorboard", "--out-dir", str(tmp_path)], capsys, monkeypatch
    )
    assert res.code == 0, res.err
    assert "exported 1 run(s)" in res.out
    # study -> first folder level (TensorBoard's grouping), the run's folder below the study -> run name
    log_dir = tmp_path / "mystudy" / run_name(tb_run, "mystudy")
    assert run_name(tb_run, "mystudy").startswith("toy/shapes-new/vpt-deep/n40s0-final/")
    _check_scalars(_events(log_dir), runs.read_metrics(tb_run), {"train/loss", "test/acc", "lr"})


def test_unknown_logger_is_one_line(capsys, monkeypatch, tmp_path):
    res = run_cli([*TOY_TRAIN, "--logger", "mlflow", "--out-dir", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        "vptstudy: error: invalid --logger 'mlflow' (--logger): use one of tensorboard, wandb"
    ]
    assert not list(tmp_path.iterdir())


def test_study_run_table_takes_logger():
    data = {"name": "s", "kind": "search", "tasks": ["toy/digits"], "methods": ["ft"]}
    assert parse_study({**data, "run": {"logger": "wandb"}}).run["logger"] == "wandb"
    with pytest.raises(Exception, match="logger"):
        parse_study({**data, "run": {"logger": "comet"}})


def test_wandb_missing_gives_install_hint(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    res = run_cli([*TOY_TRAIN, "--logger", "wandb", "--out-dir", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        "vptstudy: error: Weights & Biases is not installed (--logger wandb): pip install 'vptstudy[wandb]'"
    ]


def _no_internet(*args, **kwargs):
    raise AssertionError("network access attempted in a test")


def _wandb_records(path: Path):
    """The protobuf records of an offline .wandb file (W&B's leveldb-style log: 32 KiB blocks, 7-byte headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, buf = 7, b""
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        buf = data[pos + 7 : pos + 7 + length] if kind in (1, 2) else buf + data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(buf)
            yield record


def test_wandb_offline_run_folder(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc key: offline, without probing the network
    monkeypatch.setattr(socket, "create_connection", _no_internet)  # W&B's own service talks over a local socket
    assert wandb_mode() == "offline"
    res = run_cli([*TOY_TRAIN, "--study", "grp", "--logger", "wandb", "--out-dir", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 0, res.err
    (run,) = runs.iter_runs(tmp_path)
    (wandb_file,) = run.glob("wandb/offline-run-*/run-*.wandb")
    records = list(_wandb_records(wandb_file))
    (meta,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert (meta.run_group, meta.display_name, meta.project) == ("grp", run_name(run, "grp"), "vptstudy")
    config = {u.key: json.loads(u.value_json) for u in meta.config.update}
    assert config["run"]["method"] == "vpt-deep" and config["resolved"]["input_size"] == 32
    history = [{i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in r.history.item} for r in records]
    history = [h for h in history if h]
    rows = runs.read_metrics(run)
    assert [h["_step"] for h in history] == [r["epoch"] for r in rows]
    expected = _expected(rows)
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "lr"} <= set(expected)  # a tuning run: val, no test
    for tag, points in expected.items():
        assert [(h["_step"], h[tag]) for h in history if tag in h] == [(e, pytest.approx(v)) for e, v in points]
