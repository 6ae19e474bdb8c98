"""`vptstudy train` end to end on CPU: run directory contents, load_run, failures and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import vptstudy
from tests.helpers.cli import run_cli
from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.errors import RunFailed
from vptstudy.train import evaluate, fit

TINY = ["--model", "test_vit", "--no-pretrained", "--img-size", "32", "--batch-size", "64"]
METRIC_KEYS = {
    "epoch",
    "phase",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "test_loss",
    "test_acc",
    "seconds",
}
RESULT_KEYS = {"task", "method", "model", "seed", "epochs", "trainable_params", "total_params", "final", "status"}


def only_run(out: Path) -> Path:
    found = list(runs.iter_runs(out))
    assert len(found) == 1, found
    return found[0]


def test_cli_train_writes_run_directory(tmp_path, capsys, monkeypatch) -> None:
    res = run_cli(
        ["train", "--task", "toy/digits", "--method", "vpt-deep", *TINY, "--epochs", "2", "--out-dir", str(tmp_path)],
        capsys,
        monkeypatch,
    )
    assert res.code == 0, res.err
    run = only_run(tmp_path)
    assert run.relative_to(tmp_path).parts[:5] == ("adhoc", "toy", "digits", "vpt-deep", "tune")
    assert run.name == "seed42"
    rows = runs.read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2] and METRIC_KEYS <= rows[0].keys()
    result = json.loads((run / "result.json").read_text())
    assert RESULT_KEYS <= result.keys() and result["status"] == "ok"
    assert 0.0 <= result["final"]["val_acc"] <= 1.0
    assert result["final"]["test_acc"] is None  # a tuning run is judged on val: it evaluates no test
    stored = load_file(str(run / "trainable.safetensors"))
    assert set(stored) == {"prompt", "vit.head.weight", "vit.head.bias"}
    assert result["trainable_params"] == sum(t.numel() for t in stored.values())
    assert "Run summary" in res.out and "vpt-deep" in res.out
    assert not list(tmp_path.rglob("*.tmp"))


def test_load_run_reproduces_final_test_accuracy(tmp_path) -> None:
    cfg = RunConfig(
        task="toy/digits",
        method="ft",
        model="test_vit",
        pretrained=False,
        img_size=32,
        epochs=2,
        batch_size=64,
        out_dir=str(tmp_path),
        test_subsample=100,
        split="final",
    )
    result = fit(cfg)
    model = vptstudy.load_run(result["run_dir"])
    assert not model.training
    data = load_task_data(cfg, 32)
    loss, acc = evaluate(model, DeviceImages(data.test, data.preprocess, torch.device("cpu"), train=False), 64)
    assert acc == result["final"]["test_acc"] and result["final"]["test_n"] == len(data.test) == 797
    assert loss == pytest.approx(result["final"]["test_loss"], rel=1e-6)


def test_ft_then_pt_runs_both_phases(tmp_path) -> None:
    cfg = RunConfig(
        task="toy/digits",
        method="ft-then-pt",
        model="test_vit",
        pretrained=False,
        img_size=32,
        epochs=2,
        batch_size=128,
        out_dir=str(tmp_path),
    )
    result = fit(cfg)
    rows = runs.read_metrics(Path(result["run_dir"]))
    assert [(r["epoch"], r["phase"]) for r in rows] == [(1, "ft"), (2, "ft"), (3, "pt"), (4, "pt")]
    assert result["epochs"] == 4
    assert [p["phase"] for p in result["phases"]] == ["ft", "pt"]
    assert result["phases"][0]["trainable_params"] > result["phases"][1]["trainable_params"]
    stored = load_file(str(Path(result["run_dir"]) / "trainable.safetensors"))
    assert "prompt" in stored and "vit.blocks.0.attn.qkv.weight" in stored  # phase 1 tuned the backbone


def test_same_seed_same_result(tmp_path) -> None:
    kwargs = dict(
        task="toy/digits",
        method="vpt-shallow",
        model="test_vit",
        pretrained=False,
        img_size=32,
        epochs=1,
        batch_size=128,
    )
    a = fit(RunConfig(**kwargs, out_dir=str(tmp_path / "a")))
    b = fit(RunConfig(**kwargs, out_dir=str(tmp_path / "b")))
    assert a["final"] == b["final"]


def test_non_finite_loss_fails_the_run(tmp_path, capsys, monkeypatch) -> None:
    res = run_cli(
        [
            "train",
            "--task",
            "toy/digits",
            "--method",
            "linear",
            *TINY,
            "--epochs",
            "2",
            "--lr",
            "1e30",
            "--out-dir",
            str(tmp_path),
        ],
        capsys,
        monkeypatch,
    )
    assert res.code == 1
    assert "non-finite" in res.err
    result = runs.read_result(only_run(tmp_path))
    assert result["status"] == "failed" and "non-finite" in result["reason"]
    with pytest.raises(RunFailed):
        fit(
            RunConfig(
                task="toy/digits",
                method="linear",
                model="test_vit",
                pretrained=False,
                img_size=32,
                epochs=1,
                base_lr=1e30,
                out_dir=str(tmp_path / "again"),
            )
        )


def test_local_weights_file_loads_with_head_dropped(tmp_path) -> None:
    from vptstudy.models.backbones import create_backbone

    source = create_backbone("test_vit", 5, pretrained=False, img_size=32)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    loaded = create_backbone("test_vit", 10, weights=str(path), img_size=32)
    for k, v in source.state_dict().items():
        if not k.startswith("head."):
            assert torch.equal(loaded.state_dict()[k], v), k
    assert loaded.head.out_features == 10


def make_folder(root: Path, classes: int, per_class: int = 3) -> Path:
    from PIL import Image

    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (12, 12), (40 * c, 10 * i, 0)).save(root / f"class{c}" / f"{i}.png")
    return root


BAD_INPUTS = {
    "unknown task": (["--task", "nope", "--method", "ft"], "unknown task 'nope'"),
    "unknown method": (["--task", "toy/digits", "--method", "vpt"], "use one of ft, linear, vpt-shallow"),
    "unknown model": (["--task", "toy/digits", "--method", "ft", "--model", "vit_nonexistent_xyz"], "unknown model"),
    "missing weights": (
        ["--task", "toy/digits", "--method", "ft", "--model", "test_vit", "--weights", "/no/w.pth"],
        "weights file '/no/w.pth' not found",
    ),
    "missing toy weights": (
        ["--task", "toy/digits", "--method", "ft", "--model", "toy-vit", "--weights", "/no/t.safetensors"],
        "weights file '/no/t.safetensors' not found (--weights): pass an existing .safetensors file",
    ),
    "missing data root": (
        ["--task", "folder", "--method", "ft", "--data-root", "/no/such/dir"],
        "image folder '/no/such/dir' not found",
    ),
    "lr": (["--task", "toy/digits", "--method", "ft", "--lr", "0"], "invalid --lr 0"),
    "epochs": (["--task", "toy/digits", "--method", "ft", "--epochs", "0"], "invalid --epochs 0"),
    "prompts": (["--task", "toy/digits", "--method", "vpt-deep", "--prompts", "-1"], "invalid --prompts -1"),
    # raised while the method builds its modules: checked on a throwaway copy before anything is written
    "lora rank": (["--task", "toy/digits", "--method", "lora", "--method-option", "rank=0"], "LoRA rank 0"),
    "partial k": (["--task", "toy/digits", "--method", "partial-k", "--method-option", "k=99"], "partial-k with k=99"),
    "prune segments": (
        ["--task", "toy/digits", "--method", "e2vpt-prune", "--method-option", "segments=5"],
        "does not split into 5 segments",
    ),
    "method on swin": (
        ["--task", "toy/digits", "--method", "e2vpt", "--model", "swin_tiny_patch4_window7_224", "--no-pretrained"],
        "does not support a SwinTransformer backbone",
    ),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_no_run_dir(case, tmp_path, capsys, monkeypatch) -> None:
    args, message = BAD_INPUTS[case]
    extra = [] if "--model" in args else ["--model", "test_vit", "--no-pretrained"]
    res = run_cli(["train", *args, *extra, "--img-size", "32", "--out-dir", str(tmp_path / "out")], capsys, monkeypatch)
    assert res.code == 2, res.err
    lines = res.err.splitlines()  # exactly one line: no blank line from a progress display either
    assert len(lines) == 1 and lines[0].startswith("vptstudy: error: "), res.err
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_unreadable_weights_and_folder_with_one_class(tmp_path, capsys, monkeypatch) -> None:
    garbage = tmp_path / "w.safetensors"
    garbage.write_bytes(b"not a checkpoint")
    res = run_cli(
        [
            "train",
            "--task",
            "toy/digits",
            "--method",
            "ft",
            "--model",
            "test_vit",
            "--weights",
            str(garbage),
            "--img-size",
            "32",
            "--out-dir",
            str(tmp_path / "out"),
        ],
        capsys,
        monkeypatch,
    )
    assert res.code == 2 and "cannot load weights" in res.err and len(res.err.strip().splitlines()) == 1
    one = make_folder(tmp_path / "one", classes=1)
    res = run_cli(
        [
            "train",
            "--task",
            "folder",
            "--data-root",
            str(one),
            "--method",
            "ft",
            *TINY,
            "--out-dir",
            str(tmp_path / "out"),
        ],
        capsys,
        monkeypatch,
    )
    assert res.code == 2 and "1 class folder" in res.err
    assert not (tmp_path / "out").exists()


def test_cuda_without_cuda_is_a_user_error(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = run_cli(
        [
            "train",
            "--task",
            "toy/digits",
            "--method",
            "ft",
            *TINY,
            "--device",
            "cuda",
            "--out-dir",
            str(tmp_path / "out"),
        ],
        capsys,
        monkeypatch,
    )
    assert res.code == 2 and "CUDA was asked for but is not available" in res.err
    assert not (tmp_path / "out").exists()


def test_offline_default_model_error_points_to_weights_and_toy(tmp_path, capsys, monkeypatch) -> None:
    import socket

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(socket, "create_connection", offline)
    res = run_cli(
        ["train", "--task", "toy/digits", "--method", "vpt-deep", "--out-dir", str(tmp_path / "out")],
        capsys,
        monkeypatch,
    )
    assert res.code == 2
    assert "vit_base_patch16_224.orig_in21k" in res.err and "--weights FILE" in res.err and "toy-vit" in res.err
    assert not (tmp_path / "out").exists()


def test_folder_task_trains(tmp_path, capsys, monkeypatch) -> None:
    root = make_folder(tmp_path / "imgs", classes=3, per_class=10)
    res = run_cli(
        [
            "train",
            "--task",
            "folder",
            "--data-root",
            str(root),
            "--method",
            "linear",
            *TINY,
            "--epochs",
            "1",
            "--out-dir",
            str(tmp_path / "out"),
        ],
        capsys,
        monkeypatch,
    )
    assert res.code == 0, res.err
    result = runs.read_result(only_run(tmp_path / "out"))
    assert result["num_classes"] == 3 and result["split_info"]["classes"] == ["class0", "class1", "class2"]


def test_help_lists_commands(capsys, monkeypatch) -> None:
    res = run_cli(["--help"], capsys, monkeypatch)
    assert res.code == 0 and "train" in res.out and "tasks" in res.out


def test_progress_line_shows_test_only_when_the_run_evaluates_it() -> None:
    from vptstudy.console import TrainProgress, make_progress

    progress = make_progress()
    bar = TrainProgress(progress, "toy/digits ft")
    bar("phase", {"steps": 4, "phases": 1, "index": 0, "name": "train"})
    epoch = {"phase": "train", "phase_epoch": 1, "train_loss": 0.5, "val_acc": 0.5, "test_acc": None}
    bar("epoch", epoch)
    assert progress.tasks[0].fields["info"] == "train ep 1 loss 0.500 val 50.00%"  # a tuning run: no test
    bar("epoch", {**epoch, "val_acc": None, "test_acc": 0.25})
    assert progress.tasks[0].fields["info"] == "train ep 1 loss 0.500 test 25.00%"
