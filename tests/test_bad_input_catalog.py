"""The catalog of bad inputs of issue 17, each run as its own `vptstudy` process: exit 2, exactly one
``vptstudy: error:`` line, no traceback, and no run directory left in the output folder.

Each process starts Python, torch and timm (seconds each here), so the catalog as a whole is ``slow``; the
``FAST`` cases stay in the default run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.data_fixtures import make_image_folder, make_vtab1k, write_huge_png

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--task", "toy/digits", "--model", "toy-vit", "--epochs", "1", "--out-dir", "runs"]
STUDY = 'name = "s"\nkind = "search"\ntasks = ["toy/digits"]\nmethods = ["ft"]\n'
RUN = '[run]\nmodel = "toy-vit"\nepochs = 1\nout_dir = "runs"\n'


def study(text: str) -> Callable[[Path], list[str]]:
    """A case that writes ``text`` as s.toml and runs it."""

    def setup(tmp: Path) -> list[str]:
        (tmp / "s.toml").write_text(text)
        return ["run", "s.toml"]

    return setup


def args(*argv: str) -> Callable[[Path], list[str]]:
    return lambda tmp: list(argv)


def binary_study(tmp: Path) -> list[str]:
    (tmp / "s.toml").write_bytes(bytes(range(256)) * 8)
    return ["run", "s.toml"]


def bomb_folder(tmp: Path) -> list[str]:
    make_image_folder(tmp / "imgs", classes=("a", "b"), per_class=3)
    write_huge_png(tmp / "imgs" / "a" / "bomb.png", 20000, 20000)
    return ["train", "--task", "folder", "--data-root", "imgs", "--method", "linear", *TRAIN[3:]]


def bomb_reference(tmp: Path) -> list[str]:
    make_image_folder(tmp / "ref", classes=("a", "b"), per_class=2)
    write_huge_png(tmp / "ref" / "a" / "bomb.png", 20000, 20000)
    return [
        "fid",
        "--reference",
        "ref",
        "--task",
        "toy/digits",
        "--features",
        "backbone",
        "--model",
        "toy-vit",
        "--cache-dir",
        "cache",
    ]


def vtab_label(label: str) -> Callable[[Path], list[str]]:
    def setup(tmp: Path) -> list[str]:
        task = make_vtab1k(tmp / "data", train=4, val=2, test=3)
        lines = (task / "test.txt").read_text().splitlines()
        (task / "test.txt").write_text("\n".join([*lines[:-1], f"images/test/0002.png {label}"]) + "\n")
        return ["train", "--task", "vtab/retinopathy", "--data-root", "data", "--method", "linear", *TRAIN[3:]]

    return setup


def damaged_only_run(tmp: Path) -> list[str]:
    run = tmp / "old" / "adhoc" / "toy" / "digits" / "ft" / "tune" / "h" / "seed42"
    run.mkdir(parents=True)
    (run / "config.json").write_text('{"run": {"task": "toy/dig')
    return ["visualize", "curves", "old", "--out", "runs/curves.png"]


def no_sbatch(tmp: Path) -> list[str]:
    (tmp / "s.toml").write_text(STUDY + RUN)
    return ["run", "s.toml", "--executor", "slurm"]


# case: (setup returning the argv, text the error line must contain)
CATALOG: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    # §2 damaged run directories (report/visualize list them; an error only when nothing usable is left)
    "visualize: the only run is damaged": (damaged_only_run, "every run found is damaged (1)"),
    # §3 study files
    "study: binary file": (binary_study, "study file is not UTF-8 text"),
    "study: fixed.lr = 'x'": (study(STUDY + RUN + '[fixed.ft]\nlr = "x"\n'), "fixed.ft.lr must be a number"),
    "study: oneshot.shots = 'x'": (
        study(STUDY.replace('"search"', '"oneshot"') + RUN + '[oneshot]\nshots = "x"\n'),
        "oneshot.shots must be an integer",
    ),
    "study: grid = 3": (study("grid = 3\n" + STUDY + RUN), "grid must be a table"),
    "study: run.epochs = '10'": (study(STUDY + RUN.replace("epochs = 1", 'epochs = "10"')), "run.epochs must be an"),
    "study: batch_size = true": (study(STUDY + RUN + "batch_size = true\n"), "run.batch_size must be an integer"),
    "study: name = '..'": (study(STUDY.replace('"s"', '".."') + RUN), "invalid name '..'"),
    "study: model typo": (study(STUDY + RUN.replace("toy-vit", "toy-vtt")), "unknown model 'toy-vtt'"),
    "study: device cuda without CUDA": (study(STUDY + RUN + 'device = "cuda"\n'), "CUDA was asked for"),
    "study: method-option typo": (
        study(STUDY.replace('["ft"]', '["lora"]') + RUN + "[method_options.lora]\nrnak = 4\n"),
        "unknown method option 'rnak' for method lora",
    ),
    # §4 numbers and flags
    "--lr inf": (args(*TRAIN, "--method", "ft", "--lr", "inf"), "invalid --lr inf"),
    "--wd nan": (args(*TRAIN, "--method", "ft", "--wd", "nan"), "invalid --wd nan"),
    "--seed huge": (args(*TRAIN, "--method", "ft", "--seed", str(10**30)), "use a seed in [0, 2^63)"),
    "--gpus 0,1 without CUDA": (args(*TRAIN, "--method", "ft", "--gpus", "0,1"), "--gpus 0,1 asks for CUDA"),
    "--method-option ft_lr=abc": (
        args(*TRAIN, "--method", "ft-then-pt", "--method-option", "ft_lr=abc"),
        "method option ft_lr='abc' of ft-then-pt is not a number",
    ),
    # §5 Slurm
    "--executor slurm without sbatch": (no_sbatch, "--executor local --workers N"),
    # §6 images and list labels
    "20000x20000 image in a data folder": (bomb_folder, "bomb.png' is too large (400000000 pixels, limit 8192x8192)"),
    "20000x20000 image in a FID reference": (bomb_reference, "bomb.png' is too large"),
    "list label --1": (vtab_label("--1"), "malformed line 'images/test/0002.png --1'"),
    "list label with a superscript digit": (vtab_label("\u00b2"), "malformed line"),
}
FAST = ("--lr inf", "study: batch_size = true", "list label --1")  # one of each kind, in the default run


def run_case(name: str, tmp_path: Path) -> subprocess.CompletedProcess:
    setup, _ = CATALOG[name]
    argv = setup(tmp_path)
    (tmp_path / "bin").mkdir(exist_ok=True)  # PATH without sbatch
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PATH": str(tmp_path / "bin"),
        "CUDA_VISIBLE_DEVICES": "",  # the CUDA cases hold on a GPU machine too
        "VPTSTUDY_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "vptstudy.cli", *argv]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def check(name: str, tmp_path: Path) -> None:
    proc = run_case(name, tmp_path)
    _, message = CATALOG[name]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("vptstudy: error:")]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(errors) == 1 and message in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    made = [p.parent for p in (tmp_path / "runs").rglob("config.json")] if (tmp_path / "runs").exists() else []
    assert made == [] and not list((tmp_path / "runs").rglob("seed*")), made


@pytest.mark.parametrize("name", FAST)
def test_bad_input_fast_subset(name, tmp_path):
    check(name, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in CATALOG if n not in FAST])
def test_bad_input_catalog(name, tmp_path):
    check(name, tmp_path)
