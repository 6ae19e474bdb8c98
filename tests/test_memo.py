"""What a worker keeps between runs (vptstudy.memo): a bounded LRU that never hands out a tensor a run changed in
place; a second run in the same process loads neither the task's tensors nor the backbone again, gets the same
inputs and weights after the first run trained, and ends bit-identical to the same run in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import vptstudy.models.backbones as backbones
from vptstudy import memo
from vptstudy.api import fit_run
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data import toy_tasks as T
from vptstudy.models.build import build_model
from vptstudy.models.kept import KEPT
from vptstudy.plan import plan

ROOT = Path(__file__).resolve().parents[1]


def test_lru_keeps_at_most_max_items_and_a_miss_makes_room_first():
    m = memo.Memo("test", max_items=2)
    assert m.put("a", 1, 10) and m.put("b", 2, 10)
    assert m.get("a") == 1  # b is now the oldest
    assert m.get("c") is None and len(m) == 1 and m.get("a") == 1  # the miss evicted b before c is loaded
    assert m.put("c", 3, 10) and m.put("d", 4, 10)
    assert m.get("a") is None and (m.hits, m.misses) == (2, 2)


def test_budget_bounds_and_zero_turns_it_off(monkeypatch):
    monkeypatch.setenv(memo.BUDGET_ENV, "1")  # 1 MiB
    m = memo.Memo("test", max_items=2)
    assert not m.put("big", 0, 2**21) and m.get("big") is None
    assert m.put("x", 1, 600_000) and m.put("y", 2, 600_000)
    assert len(m) == 1 and m.get("y") == 2  # both together exceed the budget: the older went
    other = memo.Memo("other", max_items=2)
    assert other.put("o", 3, 600_000) and len(m) == 0 and other.get("o") == 3  # one budget for all memos
    monkeypatch.setenv(memo.BUDGET_ENV, "0")
    assert not m.fits(1) and not m.put("z", 3, 1)


def test_a_tensor_changed_in_place_is_never_handed_out_again():
    m = memo.Memo("test")
    t = torch.zeros(3)
    m.put("k", t, 12, [t])
    assert m.get("k") is t
    t[1:].add_(1)  # through a view, as a careless run would
    assert m.get("k") is None and len(m) == 0
    with torch.inference_mode():
        made = torch.zeros(3)  # an inference tensor has no version counter: it is not kept
    assert not m.put("i", made, 12, [made]) and m.get("i") is None


def test_a_run_that_writes_into_shared_task_tensors_does_not_poison_the_next(tmp_path):
    cfg = RunConfig(task="toy/count", method="ft", cache_dir=str(tmp_path))
    first = load_task_data(cfg, 32)
    clean = first.test.images.clone()
    first.test.images[0].fill_(0)
    again = load_task_data(cfg, 32)
    assert "memory" not in again.split_info["cache"] and torch.equal(again.test.images, clean)


def tiny(out: Path, **kw) -> RunConfig:
    fields = dict(task="toy/shapes-new", method="ft", model="toy-vit", epochs=1, train_size=40, batch_size=20)
    fields.update(test_subsample=50, split="final", device="cpu", out_dir=str(out), cache_dir=str(out.parent / "c"))
    return RunConfig(**{**fields, **kw})


def curves(result: dict) -> list[dict]:
    rows = [json.loads(line) for line in (Path(result["run_dir"]) / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if "loss" in k or "acc" in k} for r in rows]


def trained(result: dict) -> dict[str, torch.Tensor]:
    return load_file(str(Path(result["run_dir"]) / "trainable.safetensors"))


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_second_run_in_a_process_loads_nothing_again_and_matches_a_fresh_one(tmp_path, monkeypatch):
    loads = {"model": 0, "data": 0}
    create, build = backbones._create, T._pool_and_test

    def counting_create(*args, **kwargs):
        loads["model"] += 1
        return create(*args, **kwargs)

    def counting_build(*args):
        loads["data"] += 1
        return build(*args)

    monkeypatch.setattr(backbones, "_create", counting_create)
    monkeypatch.setattr(T, "_pool_and_test", counting_build)
    fit_run(tiny(tmp_path / "a", base_lr=1e-3))  # FT: trains every backbone weight of its copy in place
    assert loads == {"model": 1, "data": 1}
    fresh_weights = build_model(plan(tiny(tmp_path / "a", base_lr=0.01)), 16).state_dict()
    second = fit_run(tiny(tmp_path / "a", base_lr=0.01))
    assert loads == {"model": 1, "data": 1} and KEPT.hits == 2
    memo.clear_all()  # a fresh process's state
    assert same(build_model(plan(tiny(tmp_path / "b", base_lr=0.01)), 16).state_dict(), fresh_weights)
    memo.clear_all()
    alone = fit_run(tiny(tmp_path / "b", base_lr=0.01))
    assert loads == {"model": 3, "data": 1}  # (the disk cache served the data)
    assert curves(second) == curves(alone) and same(trained(second), trained(alone))
    assert second["final"] == alone["final"]


@pytest.mark.slow
def test_second_run_matches_the_same_run_in_a_fresh_interpreter(tmp_path):
    fit_run(tiny(tmp_path / "a", base_lr=1e-3))
    second = fit_run(tiny(tmp_path / "a", base_lr=0.01))
    code = (
        "import sys, json; from vptstudy.api import fit_run; from vptstudy.config import RunConfig;"
        "print(json.dumps(fit_run(RunConfig.from_dict(json.loads(sys.argv[1])))['run_dir']))"
    )
    fresh = json.dumps(tiny(tmp_path / "fresh", base_lr=0.01).to_dict())
    done = subprocess.run([sys.executable, "-c", code, fresh], cwd=ROOT, capture_output=True, text=True, check=True)
    alone = {"run_dir": json.loads(done.stdout.splitlines()[-1])}
    assert curves(second) == curves(alone) and same(trained(second), trained(alone))
