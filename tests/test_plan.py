"""One plan per run (issue 13 section 1): recipes, lr scaling, warm-ups, run identity and method options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.helpers.cli import run_cli
from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods import get_method
from vptstudy.models.build import build_model
from vptstudy.optim import phase_optimizer
from vptstudy.plan import plan
from vptstudy.study import load_study
from vptstudy.sweep import expand

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "golden_plans_vtab1k.json").read_text())


def cfg(method: str, task: str = "toy/digits", **kw) -> RunConfig:
    return RunConfig(task=task, method=method, **{"model": "test_vit", "pretrained": False, **kw})


# -- golden plans: every method of studies/vtab1k.toml on two tasks ---------------------------------------------
@pytest.mark.parametrize("task", sorted(GOLDEN["plans"]))
def test_vtab1k_study_plans_equal_the_checked_in_expectation(task: str) -> None:
    study = load_study(ROOT / "studies" / "vtab1k.toml")
    units = [u for u in expand(study) if u.base.task == task]
    assert sorted(u.base.method for u in units) == sorted(GOLDEN["plans"][task])
    for unit in units:
        p = plan(unit.base)
        want = GOLDEN["plans"][task][unit.base.method]
        got = [
            [ph.name, ph.optimizer, ph.base_lr, ph.lr, ph.weight_decay, ph.batch_size, ph.warmup_epochs,
             ph.backbone_dropout]
            for ph in p.phases
        ]  # fmt: skip
        assert got == want["phases"], unit.base.method
        assert (p.num_prompts, p.prompt_dropout) == (want["num_prompts"], want["prompt_dropout"])
        shared = GOLDEN["_shared"]
        assert {ph.epochs for ph in p.phases} == {shared["epochs"]}
        assert (p.head_init, p.input_size, p.test_subsample) == (
            shared["head_init"],
            shared["input_size"],
            shared["test_subsample"],
        )


# -- lr scaling and warm-ups, by value ----------------------------------------------------------------------------
def test_lr_is_base_lr_times_batch_over_256() -> None:
    assert plan(cfg("vpt-deep", base_lr=0.1, batch_size=32)).phases[0].lr == pytest.approx(0.0125)
    assert plan(cfg("ft", base_lr=0.001, batch_size=512)).phases[0].lr == pytest.approx(0.002)
    assert plan(cfg("ft")).phases[0].lr == pytest.approx(0.0005 * 128 / 256)
    assert plan(cfg("linear")).phases[0].lr == pytest.approx(1.0 * 64 / 256)


def test_the_optimizer_gets_the_planned_lr() -> None:
    p = plan(cfg("vpt-deep", base_lr=0.4, batch_size=32, warmup_epochs=0, epochs=2))
    model = get_method("vpt-deep").build(build_model(p, 10), p.resolved)
    optimizer, _, total = phase_optimizer(model, p.phases[0], steps_per_epoch=5, device=torch.device("cpu"))
    assert total == 10
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.4 * 32 / 256)  # no warm-up: step 0 runs at full lr
    assert type(optimizer).__name__ == "SGD" and optimizer.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize(
    ("method", "epochs", "warmups"),
    [
        ("ft", 100, [5]),
        ("vpt-deep", 100, [10]),
        ("vpt-shallow", 100, [10]),
        ("e2vpt", 100, [10]),
        ("linear", 100, [10]),
        ("mixed", 100, [10]),
        ("ft-then-pt", 100, [5, 10]),
        ("ft", 20, [1]),
        ("vpt-deep", 20, [2]),
        ("ft-then-pt", 3, [0, 0]),
    ],
)
def test_recipe_warmups(method: str, epochs: int, warmups: list[int]) -> None:
    assert [ph.warmup_epochs for ph in plan(cfg(method, epochs=epochs)).phases] == warmups


def test_recipe_batches_optimizers_and_dropout() -> None:
    def shape(method: str) -> list[tuple[str, int, float]]:
        return [(ph.optimizer, ph.batch_size, ph.backbone_dropout) for ph in plan(cfg(method)).phases]

    assert shape("ft") == [("adamw", 128, 0.1)]
    assert shape("vpt-deep") == [("sgd", 64, 0.0)]
    assert shape("mixed") == [("sgd", 64, 0.0)]
    assert shape("ft-then-pt") == [("adamw", 128, 0.1), ("sgd", 64, 0.0)]
    assert plan(cfg("ft", model="swin_tiny_patch4_window7_224")).phases[0].backbone_dropout == 0.0
    explicit = plan(cfg("ft-then-pt", batch_size=16, warmup_epochs=3, backbone_dropout=0.2)).phases
    assert [(ph.batch_size, ph.warmup_epochs, ph.backbone_dropout) for ph in explicit] == [(16, 3, 0.2), (16, 3, 0.0)]


def test_prompt_length_is_the_tasks_else_ten() -> None:
    assert plan(cfg("vpt-deep", task="vtab/svhn")).num_prompts == 200
    assert plan(cfg("vpt-deep", task="vtab/sun397")).num_prompts == 1
    assert plan(cfg("vpt-deep")).num_prompts == 10  # toy/digits: no study length
    assert plan(cfg("vpt-deep", task="vtab/svhn", num_prompts=7)).num_prompts == 7
    assert plan(cfg("vpt-shallow")).prompt_dropout == 0.0 and plan(cfg("vpt-deep")).prompt_dropout == 0.1
    assert plan(cfg("ft")).num_prompts is None


def test_test_subsample_default_and_all() -> None:
    assert plan(cfg("ft")).test_subsample == 1000
    assert plan(cfg("ft", test_subsample=0)).test_subsample is None
    assert plan(cfg("ft", test_subsample=50)).test_subsample == 50


# -- identity ----------------------------------------------------------------------------------------------------
def test_explicit_defaults_name_the_same_run_dir() -> None:
    implicit = plan(cfg("vpt-deep"))
    explicit = plan(
        cfg(
            "vpt-deep",
            base_lr=1.0,
            weight_decay=0.001,
            batch_size=64,
            warmup_epochs=10,
            num_prompts=10,
            prompt_dropout=0.1,
            test_subsample=1000,
            head_init="official",
            backbone_dropout=0.0,
        )
    )
    assert explicit.run_dir == implicit.run_dir
    assert plan(cfg("vpt-deep", base_lr=0.5)).run_dir != implicit.run_dir
    assert plan(cfg("vpt-deep", batch_size=32)).run_dir != implicit.run_dir


def test_ft_ignores_prompt_settings() -> None:
    dirs = {plan(cfg("ft", num_prompts=n, prompt_dropout=d)).run_dir for n in (None, 5, 50) for d in (None, 0.3)}
    assert len(dirs) == 1
    assert plan(cfg("vpt-deep", num_prompts=5)).run_dir != plan(cfg("vpt-deep", num_prompts=50)).run_dir


def test_paths_seed_and_device_stay_out_of_the_identity() -> None:
    base = plan(cfg("linear"))
    assert plan(cfg("linear", device="cpu", checkpoint_minutes=0, save_weights=False)).run_dir == base.run_dir
    assert plan(cfg("linear", seed=7)).identity == base.identity


def _image_folder(root: Path, n: int = 3) -> Path:
    for label in ("a", "b"):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(root / label / f"{i}.png")
    return root


def test_other_data_root_or_changed_images_name_another_run_dir(tmp_path: Path) -> None:
    a, b = _image_folder(tmp_path / "a"), _image_folder(tmp_path / "b")
    pa = plan(cfg("linear", task="folder", data_root=str(a)))
    assert pa.data_root == str(a.resolve())
    assert plan(cfg("linear", task="folder", data_root=str(b))).run_dir != pa.run_dir
    assert plan(cfg("linear", task="folder", data_root=str(a))).run_dir == pa.run_dir
    Image.new("RGB", (8, 8), (1, 2, 3)).save(a / "a" / "new.png")
    assert plan(cfg("linear", task="folder", data_root=str(a))).run_dir != pa.run_dir


def test_changed_vtab1k_list_file_names_another_run_dir(tmp_path: Path) -> None:
    folder = tmp_path / "vtab-1k" / "dtd"
    (folder / "images").mkdir(parents=True)
    for name in ("train800val200.txt", "test.txt"):
        (folder / name).write_text("images/0.png 0\n")
    first = plan(cfg("linear", task="vtab/dtd", data_root=str(tmp_path)))
    assert first.data_fingerprint not in ("", "absent")
    assert plan(cfg("linear", task="vtab/dtd", data_root=str(tmp_path))).run_dir == first.run_dir
    listing = folder / "train800val200.txt"
    listing.write_text("images/0.png 1\n")  # a relabelled line: same size
    os.utime(listing, ns=(listing.stat().st_atime_ns, listing.stat().st_mtime_ns + 10**9))
    assert plan(cfg("linear", task="vtab/dtd", data_root=str(tmp_path))).run_dir != first.run_dir


# -- method options ---------------------------------------------------------------------------------------------
TRAIN = ["train", "--task", "toy/digits", "--model", "test_vit", "--no-pretrained", "--epochs", "1"]


@pytest.mark.parametrize("method", ["ft", "linear", "vpt-shallow", "vpt-deep", "mixed", "ft-then-pt"])
def test_unknown_method_option_exits_2_for_every_method(method, capsys, monkeypatch, tmp_path) -> None:
    out = tmp_path / "runs"
    res = run_cli([*TRAIN, "--method", method, "--method-option", "rank=8", "--out-dir", str(out)], capsys, monkeypatch)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vptstudy: error: unknown method option 'rank'")
    assert not out.exists()


@pytest.mark.parametrize(("method", "option"), [("lora", "dropout=0.1"), ("e2vpt", "kv_dropout=0.1")])
def test_an_option_that_cannot_act_exits_2(method, option, capsys, monkeypatch, tmp_path) -> None:
    out = tmp_path / "runs"
    res = run_cli([*TRAIN, "--method", method, "--method-option", option, "--out-dir", str(out)], capsys, monkeypatch)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and "cannot act" in lines[0] and "eval mode" in lines[0]
    assert not out.exists()
    with pytest.raises(UserError, match="cannot act"):
        plan(cfg(method, method_options=((option.split("=")[0], 0.1),)))


def test_ft_then_pt_phase_options_are_resolved_into_the_phase() -> None:
    p = plan(cfg("ft-then-pt", method_options=(("ft_lr", 0.002), ("ft_wd", 0.0))))
    assert (p.phases[0].base_lr, p.phases[0].weight_decay) == (0.002, 0.0)
    assert p.phases[0].lr == pytest.approx(0.002 * 128 / 256)
    default = plan(cfg("ft-then-pt"))
    assert plan(cfg("ft-then-pt", method_options=(("ft_lr", 0.0005),))).run_dir == default.run_dir
