"""Pinned training losses, checked by tests/test_methods.py: every registered method, two optimizer steps
per phase on a fixed batch, through the run plan (optimizer, scaled lr, weight decay, warm-up schedule, batch size,
backbone dropout, head init, prompt length and dropout) and the methods' own ``prepare``. A silent change to any
recipe changes a number here.

The model runs in float64 so that the numbers do not depend on the CPU's float32 kernels. To re-record after an
intended recipe change: ``PYTHONPATH=. python tests/helpers/recipe_losses.py`` prints the new table.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

from vptstudy.config import RunConfig
from vptstudy.methods import METHODS, get_method
from vptstudy.models.build import build_model
from vptstudy.optim import phase_optimizer
from vptstudy.plan import plan
from vptstudy.train import train_step

CLASSES = 5
STEPS = 2
# method -> loss on the fixed batch after STEPS steps of each phase (eval mode, float64)
RECORDED: dict[str, list[float]] = {
    "ft": [6.21518075178587],
    "linear": [4.649221790105443],
    "vpt-shallow": [9.032728892637952],
    "vpt-deep": [12.263923417246247],
    "mixed": [17.79944895515336],
    "ft-then-pt": [6.21518075178587, 11.60171456122298],
    "lora": [3.9212492926811864],
    "bitfit": [9.831673688526767],
    "adapter": [12.581684235466254],
    "partial-k": [12.426206671886709],
    "mlp-k": [10.321192936595367],
    "e2vpt": [11.91846140472707],
    "e2vpt-prune": [11.91846140472707, 13.095790417559613],
}


def fixed_batch(batch_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, 32, 32, generator=gen, dtype=torch.float64)
    return x, torch.randint(0, CLASSES, (batch_size,), generator=gen)


def losses_after_two_steps(name: str, monkeypatch: pytest.MonkeyPatch | None = None) -> list[float]:
    cfg = RunConfig(task="toy/digits", method=name, model="test_vit", pretrained=False, img_size=32, epochs=10, seed=3)
    p = plan(cfg)
    torch.manual_seed(0)
    model = build_model(p, CLASSES).double()
    prompt_gen = torch.Generator().manual_seed(cfg.seed + 1)  # as train.loop.open_session
    out = []
    for index, (phase, php) in enumerate(zip(get_method(name).phases, p.phases, strict=True)):
        x, y = fixed_batch(php.batch_size, 100 + index)
        if monkeypatch is not None:  # e2vpt-prune scores its prompts on the training split: use the fixed batch
            monkeypatch.setattr("vptstudy.methods.e2vpt._train_batches", lambda model, cfg, x=x, y=y: [(x, y)])
        phase.prepare(model, p.resolved, prompt_gen)
        model.double()
        optimizer, schedule, _ = phase_optimizer(model, php, 1, torch.device("cpu"))
        model.train()
        for _ in range(STEPS):
            train_step(model, x, y, optimizer, nullcontext())
            schedule.step()
        with torch.no_grad():
            out.append(F.cross_entropy(model.eval()(x), y).item())
    return out


if __name__ == "__main__":
    torch.set_num_threads(1)
    mp = pytest.MonkeyPatch()
    for method in METHODS:
        print(f'    "{method}": [{", ".join(repr(v) for v in losses_after_two_steps(method, mp))}],')
    mp.undo()
