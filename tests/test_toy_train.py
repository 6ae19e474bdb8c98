"""`vptstudy train --model toy-vit --method vpt-deep` runs on every toy task (one short epoch), offline."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vptstudy.cli import app
from vptstudy.data import TASKS, toy_tasks
from vptstudy.models.toy import TOY_ARCH


@pytest.mark.parametrize("task", sorted(toy_tasks.TOY_TASKS))
def test_vpt_deep_on_toy_task(task, tmp_path, no_network):
    args = ["train", "--task", task, "--method", "vpt-deep", "--model", "toy-vit", "--epochs", "1"]
    args += ["--train-size", "40", "--batch-size", "20", "--test-subsample", "50", "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (path,) = tmp_path.rglob("result.json")
    run = json.loads(path.read_text())
    assert run["status"] == "ok" and run["final"]["val_acc"] is not None  # a tuning run evaluates val, not test
    classes, width, depth = TASKS[task].num_classes, TOY_ARCH["embed_dim"], TOY_ARCH["depth"]
    assert run["trainable_params"] == depth * 10 * width + width * classes + classes  # prompts + head
