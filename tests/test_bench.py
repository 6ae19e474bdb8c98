"""`vptstudy bench`: every field from the library and the CLI; VPT's optimizer and frozen weights."""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers.cli import run_cli
from vptstudy.bench import BenchConfig, batch_sizes, bench, make_subject, peak_for_name, run_config
from vptstudy.errors import UserError
from vptstudy.train import train_step

TINY = {
    "model": "test_vit",
    "img_size": 32,
    "batch_size": 8,
    "train_n": 20,
    "val_n": 6,
    "test_n": 10,
    "rounds": 1,
    "steps": 1,
    "warmup_steps": 1,
    "epochs": 2,
    "num_prompts": 2,
    "device": "cpu",
}
FIELDS = {
    "method",
    "bare_images_per_s",
    "train_images_per_s",
    "eval_images_per_s",
    "overhead_ratio",
    "peak_memory_bytes",
    "bare_eval_images_per_s",
    "bare_step_s",
    "eval_batch_size",
    "warmup_s",
    "epoch_s",
    "bare_epoch_s",
    "train_images",
    "eval_images",
    "train_flops_per_image",
    "eval_flops_per_image",
    "bare_mfu",
    "mfu",
    "device",
    "threads",
    "load_avg_1m",
}


def check_rows(rows: list[dict]) -> None:
    assert [r["method"] for r in rows] == ["ft", "vpt-deep"]
    for row in rows:
        assert FIELDS <= row.keys()
        for key in ("bare_images_per_s", "train_images_per_s", "eval_images_per_s", "overhead_ratio"):
            assert row[key] > 0
        assert row["peak_memory_bytes"] > 0 and row["train_images"] == 20 and row["eval_images"] == 16
        assert row["train_flops_per_image"] > row["eval_flops_per_image"] > 0
        assert row["mfu"] is None and row["bare_mfu"] is None  # CPU: no bf16 peak to compare with
        assert row["warmup_s"] > 0
    assert "vpt_to_ft_step_ratio" not in rows[0] and rows[1]["vpt_to_ft_step_ratio"] > 0


def test_bench_library_reports_every_field(tmp_path) -> None:
    check_rows(bench(BenchConfig(**TINY, out_dir=str(tmp_path))))
    assert list(tmp_path.iterdir()) == []  # the run directories were temporary


def test_bench_without_warmup_steps_reports_zero_warmup(tmp_path) -> None:
    rows = bench(BenchConfig(**{**TINY, "warmup_steps": 0, "methods": ("vpt-deep",)}, out_dir=str(tmp_path)))
    assert rows[0]["warmup_s"] == 0.0 and rows[0]["bare_images_per_s"] > 0


def test_bench_cli_prints_table_and_writes_json(tmp_path, capsys, monkeypatch) -> None:
    args = ["bench", "--out", str(tmp_path / "b.json")]
    for key, value in TINY.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    args = [a.replace("--num-prompts", "--prompts") for a in args]
    res = run_cli(args, capsys, monkeypatch)
    assert res.code == 0, res.err
    assert "overhead" in res.out and "vpt-deep" in res.out
    check_rows(json.loads((tmp_path / "b.json").read_text()))


def test_bench_rejects_bad_input(capsys, monkeypatch) -> None:
    with pytest.raises(UserError):
        BenchConfig(epochs=1)
    res = run_cli(["bench", "--method", "nope", "--model", "test_vit"], capsys, monkeypatch)
    assert res.code == 2 and "--method" in res.err


def test_vpt_optimizer_holds_prompts_and_head_only_and_frozen_weights_get_no_grad() -> None:
    run = run_config(BenchConfig(**TINY), "vpt-deep", "unused")
    s = make_subject(run, 5, torch.device("cpu"))
    names = {id(p): n for n, p in s.model.named_parameters()}
    in_optimizer = {names[id(p)] for group in s.optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {"prompt", "vit.head.weight", "vit.head.bias"}
    before = {n: p.detach().clone() for n, p in s.model.named_parameters()}
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 5, (4,))
    s.model.train()
    train_step(s.model, x, y, s.optimizer, torch.autocast("cpu", enabled=False))
    for name, param in s.model.named_parameters():
        if name in in_optimizer:
            assert param.grad is not None
        else:
            assert param.grad is None and not param.requires_grad, name
            assert torch.equal(param, before[name]), name


def test_ft_optimizer_holds_every_parameter() -> None:
    s = make_subject(run_config(BenchConfig(**TINY), "ft", "unused"), 5, torch.device("cpu"))
    in_optimizer = {id(p) for group in s.optimizer.param_groups for p in group["params"]}
    assert in_optimizer == {id(p) for p in s.model.parameters()}


def test_batch_sizes_and_peaks() -> None:
    assert batch_sizes(800, 128) == {128: 6, 32: 1}
    assert batch_sizes(256, 128) == {128: 2}
    assert batch_sizes(5, 128) == {5: 1}
    assert peak_for_name("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_for_name("NVIDIA H100 PCIe") == 756e12
    assert peak_for_name("NVIDIA H200") == 989e12
    assert peak_for_name("NVIDIA A100-SXM4-80GB") == 312e12
    assert peak_for_name("NVIDIA L4") == 121e12
    assert peak_for_name("NVIDIA L40S") == 362e12
    assert peak_for_name("NVIDIA L40") is None and peak_for_name("Tesla V100-SXM2-16GB") is None


@pytest.mark.gpu
def test_bench_on_cuda_reports_mfu_and_cuda_memory(tmp_path) -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    rows = bench(BenchConfig(**{**TINY, "device": "cuda"}, out_dir=str(tmp_path)))
    for row in rows:
        assert row["peak_memory_bytes"] <= torch.cuda.get_device_properties(0).total_memory
        if peak_for_name(torch.cuda.get_device_name()) is not None:
            assert 0 < row["mfu"] < 1 and 0 < row["bare_mfu"] < 1
